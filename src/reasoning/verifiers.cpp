// The regex and JSON-schema verifiers, and make_verifier. (ArithmeticVerifier is in
// arithmetic_verifier.cpp, CommandVerifier in command_verifier.cpp.)
#include "reasoning/verifiers.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"
#include "decode/grammar.h"
#include "decode/json_schema.h"
#include "reasoning/pattern.h"

namespace rpu::reasoning {
namespace {

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::unique_ptr<Verifier> make_command(const nlohmann::json& spec) {
  const auto it = spec.find("command");
  if (it == spec.end()) fail("reasoning.verifier.command: missing (an array like [\"prog\", \"arg\"])");
  if (it->is_string())
    fail("reasoning.verifier.command: expected an array of strings like [\"prog\", \"arg\"] (no shell is used), got a string");
  if (!it->is_array() || it->empty()) fail("reasoning.verifier.command: expected a non-empty array of strings");
  std::vector<std::string> argv;
  for (const auto& arg : *it) {
    if (!arg.is_string()) fail("reasoning.verifier.command: every element must be a string, got {}", arg.dump());
    argv.push_back(arg.get<std::string>());
  }
  int timeout_ms = 2000;
  if (const auto t = spec.find("timeout_ms"); t != spec.end()) {
    timeout_ms = static_cast<int>(json_integer(*t, "reasoning.verifier.timeout_ms", 1, 600000));
  }
  return std::make_unique<CommandVerifier>(std::move(argv), timeout_ms);
}

}  // namespace

RegexVerifier::RegexVerifier(std::string_view pattern)
    : pattern_(std::make_shared<const Pattern>(pattern, "reasoning.verifier.pattern")) {}

Verdict RegexVerifier::check(std::string_view candidate) const {
  switch (pattern_->search(candidate)) {
    case Pattern::Status::kMatch: return {true, 1.0, "matches '" + pattern_->source() + "'"};
    case Pattern::Status::kNoMatch: return {false, 0.0, "does not match '" + pattern_->source() + "'"};
    case Pattern::Status::kBudgetExceeded: break;
  }
  return {false, 0.0, "regex '" + pattern_->source() + "' ran out of its matching budget"};
}

JsonSchemaVerifier::JsonSchemaVerifier(const nlohmann::json& schema) {
  if (!schema.is_object() && !schema.is_boolean())
    fail("reasoning.verifier.schema: expected a JSON Schema object, got {}", schema.type_name());
  try {
    // nlohmann::json iterates keys sorted, so the grammar expects sorted keys, which is
    // how check() re-serialises candidates.
    grammar_ = Grammar::parse(json_schema_to_grammar(nlohmann::ordered_json(schema)));
  } catch (const Error& e) {
    fail("reasoning.verifier.schema: {}", e.what());
  } catch (const nlohmann::json::exception& e) {  // a keyword of the wrong JSON type
    fail("reasoning.verifier.schema: {}", e.what());
  }
}

Verdict JsonSchemaVerifier::check(std::string_view candidate) const {
  // Printing a value nested deeper than any schema allows would overflow the stack.
  if (json_nesting_depth(trim(candidate)) > kMaxJsonNesting) return {false, 0.0, "JSON nested too deep"};
  const nlohmann::json value = nlohmann::json::parse(trim(candidate), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return {false, 0.0, "not valid JSON"};
  const std::string compact = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  GrammarMatcher matcher(grammar_, nullptr);  // per call: matchers hold mutable state
  if (!matcher.accept_bytes(compact)) {
    const size_t ok = matcher.accepted_prefix_length(compact);
    return {false, 0.0, "does not match the schema at: " + compact.substr(ok, 60)};
  }
  if (!matcher.is_complete()) return {false, 0.0, "does not match the schema: incomplete value"};
  return {true, 1.0, "matches the schema"};
}

std::unique_ptr<Verifier> make_verifier(const nlohmann::json& spec) {
  if (!spec.is_object()) fail("reasoning.verifier: expected an object like {{\"type\": \"arithmetic\"}}, got {}", spec.type_name());
  const auto type = spec.find("type");
  if (type == spec.end()) fail("reasoning.verifier.type: missing (arithmetic, regex, json_schema, command, logprob or judge)");
  if (!type->is_string()) fail("reasoning.verifier.type: expected a string, got {}", type->type_name());
  const auto& name = type->get_ref<const std::string&>();
  if (name == "arithmetic") return std::make_unique<ArithmeticVerifier>();
  if (name == "regex") {
    const auto p = spec.find("pattern");
    if (p == spec.end() || !p->is_string() || p->get_ref<const std::string&>().empty())
      fail("reasoning.verifier.pattern: expected a non-empty string (required for type 'regex')");
    return std::make_unique<RegexVerifier>(p->get_ref<const std::string&>());
  }
  if (name == "json_schema") {
    const auto s = spec.find("schema");
    if (s == spec.end()) fail("reasoning.verifier.schema: missing (required for type 'json_schema')");
    return std::make_unique<JsonSchemaVerifier>(*s);
  }
  if (name == "command") return make_command(spec);
  if (name == "logprob" || name == "judge") return nullptr;
  fail("reasoning.verifier.type: unknown verifier '{}' (expected arithmetic, regex, json_schema, command, logprob or judge)", name);
}

}  // namespace rpu::reasoning
