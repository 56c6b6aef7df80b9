// libFuzzer target: answer extraction (src/reasoning/extract.cpp, extract_json.cpp, pattern.cpp)
// over sampled text, with a client's spec. Both come from outside: the spec from a request's
// "reasoning.extract" (a regex, a JSON path, choice letters), the text from a model. The first
// byte picks the kind; for regex and json_path the input's first line is the pattern or path,
// the rest the text. A spec parse_extract_spec refuses is an rpu::Error (a 400 upstream); a spec
// it accepts must extract from any text without throwing, under the pattern budget, and an
// answer is never empty.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "reasoning/extract.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* const kKinds[] = {"last_number", "regex", "json_path", "choice", "text"};
  const int kind = data[0] % 5;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  nlohmann::json spec_json = {{"type", kKinds[kind]}};
  if (kind == 1 || kind == 2) {
    const size_t line = rest.find('\n');
    if (line == std::string_view::npos) return 0;
    spec_json[kind == 1 ? "pattern" : "path"] = std::string(rest.substr(0, line));
    if (kind == 1) spec_json["group"] = (data[0] >> 3) & 3;
    rest.remove_prefix(line + 1);
  }
  if (kind == 3 && (data[0] & 8)) spec_json["choices"] = "ABCD";
  rpu::reasoning::ExtractSpec spec;
  try {
    spec = rpu::reasoning::parse_extract_spec(spec_json);
  } catch (const rpu::Error&) {
    return 0;  // refused with a message naming the field: what a client gets as a 400
  }
  try {
    const auto answer = rpu::reasoning::extract_answer(spec, rest);
    if (answer && answer->empty()) {
      std::fprintf(stderr, "an empty answer from %s\n", spec_json.dump().c_str());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "extract_answer threw on model text with an accepted spec %s: %s\n", spec_json.dump().c_str(),
                 e.what());
    std::abort();
  }
  return 0;
}
