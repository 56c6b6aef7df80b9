#include "pipeline/metrics_text.h"

#include <map>
#include <sstream>

namespace rpu {

std::string metric_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void append_metric_family(std::string& out, const std::string& name, const std::string& help, const char* type,
                          const std::vector<std::pair<std::string, long long>>& samples) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  for (const auto& [labels, value] : samples) {
    out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(value) + "\n";
  }
}

std::string merge_metrics_text(const std::vector<std::string>& texts) {
  struct Family {
    std::string help, type, samples;
  };
  std::vector<std::string> order;
  std::map<std::string, Family> families;
  auto family = [&](const std::string& name) -> Family& {
    auto [it, inserted] = families.try_emplace(name);
    if (inserted) order.push_back(name);
    return it->second;
  };
  for (const std::string& text : texts) {
    std::istringstream lines(text);
    std::string line, current;  // samples belong to the family whose TYPE came last
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      const bool help = line.starts_with("# HELP "), type = line.starts_with("# TYPE ");
      if (help || type) {
        const size_t end = line.find(' ', 7);
        current = line.substr(7, end == std::string::npos ? std::string::npos : end - 7);
        std::string& slot = help ? family(current).help : family(current).type;
        if (slot.empty()) slot = line + "\n";
      } else if (line[0] != '#') {
        if (current.empty()) current = line.substr(0, line.find_first_of("{ "));
        family(current).samples += line + "\n";
      }
    }
  }
  std::string out;
  for (const std::string& name : order) {
    const Family& f = families[name];
    out += f.help + f.type + f.samples;
  }
  return out;
}

}  // namespace rpu
