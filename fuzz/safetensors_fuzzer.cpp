// libFuzzer target for the safetensors reader. Built and run by fuzz/run_fuzz.sh under ASan and
// UBSan: any input must either parse or throw rpu::Error. On inputs that parse, the first and
// last byte of every tensor is read (a range the reader accepted without checking shows up as
// an ASan report), and the tensors must tile the data section in offset order.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"

namespace {

volatile uint64_t g_sink = 0;

[[noreturn]] void invariant_broken() { __builtin_trap(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<rpu::SafetensorsFile> parsed;
  try {
    parsed.emplace(rpu::SafetensorsFile::parse(rpu::MappedFile::from_bytes(std::vector<uint8_t>(data, data + size)), "fuzz"));
  } catch (const rpu::Error&) {
    return 0;
  }
  uint64_t sum = parsed->metadata().size();
  std::vector<const rpu::SafetensorsTensor*> tensors;
  for (const auto& t : parsed->tensors()) {
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    if (n != t.n_elements) invariant_broken();
    if (t.n_bytes > 0) sum += t.data[0] + t.data[t.n_bytes - 1];
    tensors.push_back(&t);
  }
  std::sort(tensors.begin(), tensors.end(), [](auto* a, auto* b) { return a->data < b->data; });
  for (size_t i = 1; i < tensors.size(); ++i) {
    if (tensors[i - 1]->data + tensors[i - 1]->n_bytes != tensors[i]->data) invariant_broken();
  }
  g_sink = g_sink + sum;
  return 0;
}
