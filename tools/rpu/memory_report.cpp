#include "memory_report.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <sstream>

namespace rpu::cli {

std::string memory_report() {
  std::ifstream status("/proc/self/status");
  if (!status) return {};
  // Lines such as "VmHWM:\t   12345 kB".
  std::map<std::string, double> kib;
  for (std::string line; std::getline(status, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream value(line.substr(colon + 1));
    double v = 0;
    if (value >> v) kib[line.substr(0, colon)] = v;
  }
  if (!kib.count("VmHWM") || !kib.count("RssFile") || !kib.count("RssAnon")) return {};
  return fmt::format(
      "memory: peak resident {:.1f} MiB; now {:.1f} MiB file-backed (mapped weights, the binary), {:.1f} MiB anonymous "
      "(heap: KV cache, buffers, weights read with --no-mmap)",
      kib["VmHWM"] / 1024, kib["RssFile"] / 1024, kib["RssAnon"] / 1024);
}

}  // namespace rpu::cli
