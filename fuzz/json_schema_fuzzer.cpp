// libFuzzer target for JSON Schema -> grammar (src/decode/json_schema.cpp) as the server runs
// it on a response_format or a tool's parameters. Input: schema JSON, optionally followed by
// a NUL byte and text to feed the resulting grammar's matcher. Any schema must either convert
// or throw rpu::Error (GrammarTooLarge past the budget) within the budget's time; a converted
// schema's grammar must parse with the same limits (the converter promises it), and the
// matcher must take any bytes without crashing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"
#include "decode/grammar.h"
#include "decode/json_schema.h"

namespace {

// The server refuses request bodies nested deeper than this before parsing them
// (src/server/openai_request.cpp), so deeper schemas never reach the converter.
constexpr int kMaxBodyDepth = 256;

bool nested_too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxBodyDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view schema_text = input.substr(0, nul);
  const std::string_view sample = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  if (nested_too_deep(schema_text)) return 0;
  const auto schema = nlohmann::ordered_json::parse(schema_text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return 0;

  rpu::SchemaBudget budget;
  std::string text;
  try {
    text = rpu::json_schema_to_grammar(schema, &budget);
  } catch (const rpu::Error&) {
    return 0;  // a clear refusal is a valid answer
  }
  std::shared_ptr<const rpu::Grammar> grammar;
  try {
    grammar = rpu::Grammar::parse(text, "root", budget.limits);
  } catch (const rpu::Error& e) {
    std::fprintf(stderr, "converted grammar does not parse: %s\n%s\n", e.what(), text.c_str());
    std::abort();
  }
  rpu::GrammarMatcher matcher(grammar, nullptr);
  const std::string_view feed = sample.substr(0, 512);
  (void)matcher.accepted_prefix_length(feed);
  for (char c : feed) {
    if (!matcher.accept_bytes(std::string_view(&c, 1))) break;
  }
  (void)matcher.is_complete();
  (void)matcher.can_continue();
  return 0;
}
