#include "convert/answer_form.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "convert/metric.h"
#include "convert/working.h"
#include "core/text.h"
#include "decode/arithmetic.h"
#include "decode/calculator.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

bool plain_key(const std::string& key) {
  if (key.empty() || !(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_')) return false;
  for (char ch : key) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
  }
  std::string lower = key;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  static const std::set<std::string> kYamlWords = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"};
  return !kYamlWords.contains(lower);
}

// Decimals of a step's written result ("... = 100.74" -> 2, "... = 53" -> 0).
int result_decimals(const ArithmeticStep& step) {
  const std::string result = written_result(step);
  const size_t dot = result.find('.');
  return dot == std::string::npos ? 0 : static_cast<int>(result.size() - dot - 1);
}

// A value's JSON Schema type; "" for an object or array (any value).
std::string schema_type(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return "";
}

}  // namespace

ToolCallForm tool_call_form(const std::vector<const LoggedCall*>& calls) {
  ToolCallForm form;
  for (const LoggedCall* c : calls) {
    if (!c->tools.is_array() || c->tools.empty() || !c->messages.is_array() || c->messages.empty()) continue;
    if (c->messages.back().value("role", "") != "user") continue;
    ++form.user_turns;
    const auto& calls_made = c->answer.is_object() ? c->answer.value("tool_calls", nlohmann::ordered_json()) : nullptr;
    if (calls_made.is_array() && !calls_made.empty()) ++form.tool_calls;
  }
  return form;
}

bool always_calls_a_tool(const ToolCallForm& form, int min_turns, double max_miss_share) {
  return form.user_turns >= min_turns && form.user_turns - form.tool_calls <= max_miss_share * form.user_turns;
}

json json_answer_schema(const std::vector<const LoggedCall*>& calls, int min_answers, double max_miss_share) {
  // One pass: the text answers (tool calls aside), and those that are JSON objects, parsed once.
  std::vector<json> objects;
  std::map<std::vector<std::string>, int> forms;  // key lists (in order) -> answers
  int answers = 0;
  for (const LoggedCall* c : calls) {
    if (!c->from_teacher || !c->answer.is_object()) continue;
    const MetricKind shape = metric_for_answer(c->answer);
    if (shape == MetricKind::kToolCall) continue;
    ++answers;
    if (shape != MetricKind::kJsonFields) continue;
    objects.push_back(json::parse(trim_ascii(c->answer["content"].get_ref<const std::string&>())));
    std::vector<std::string> keys;
    for (const auto& [key, value] : objects.back().items()) keys.push_back(key);
    ++forms[keys];
  }
  if (answers < min_answers || forms.empty()) return nullptr;
  const auto top = std::max_element(forms.begin(), forms.end(), [](auto& a, auto& b) { return a.second < b.second; });
  if (answers - top->second > max_miss_share * answers) return nullptr;
  const std::vector<std::string>& keys = top->first;
  if (keys.empty() || !std::all_of(keys.begin(), keys.end(), plain_key)) return nullptr;
  std::map<std::string, std::set<std::string>> types;  // "" in a set: any value
  for (const json& object : objects) {
    if (object.size() != keys.size()) continue;
    for (const std::string& key : keys) {
      if (object.contains(key)) types[key].insert(schema_type(object[key]));
    }
  }
  json schema = {{"type", "object"}, {"properties", json::object()}, {"required", keys}, {"additionalProperties", false}};
  for (const std::string& key : keys) {
    std::set<std::string>& seen = types[key];
    if (seen.contains("number")) seen.erase("integer");
    json property = json::object();
    if (!seen.contains("")) property["type"] = json(std::vector<std::string>(seen.begin(), seen.end()));
    schema["properties"][key] = std::move(property);
  }
  return schema;
}

ArithmeticForm arithmetic_form(const std::vector<const LoggedCall*>& calls) {
  ArithmeticForm form;
  std::set<int> decimals;  // of every step's written result
  for (const LoggedCall* c : calls) {
    if (!c->from_teacher || !c->answer.is_object() || metric_for_answer(c->answer) == MetricKind::kToolCall) continue;
    const json& content = c->answer.value("content", json());
    if (!content.is_string()) continue;
    ++form.answers;
    // As the specialist learns to write it: the working first, then the answer.
    const std::string text = teacher_working(c->answer) + "\n" + content.get<std::string>();
    const std::vector<ArithmeticStep> found = find_arithmetic_steps(text);
    if (found.empty()) continue;
    ++form.with_steps;
    form.steps += static_cast<int>(found.size());
    for (const ArithmeticStep& s : found) {
      form.wrong += s.correct ? 0 : 1;
      decimals.insert(result_decimals(s));
    }
  }
  if (decimals.size() == 1 && *decimals.begin() > 0) form.decimals = *decimals.begin();
  return form;
}

bool writes_arithmetic_out(const ArithmeticForm& form, int min_answers, double min_share_with_steps,
                           double max_wrong_share) {
  return form.answers >= min_answers && form.with_steps >= min_share_with_steps * form.answers &&
         form.wrong <= max_wrong_share * form.steps;
}

OutputConstraints learn_output_constraints(const std::vector<const LoggedCall*>& calls) {
  OutputConstraints c{copied_fields(calls), always_calls_a_tool(tool_call_form(calls)), json_answer_schema(calls)};
  const ArithmeticForm arithmetic = arithmetic_form(calls);
  c.calculator = writes_arithmetic_out(arithmetic);
  if (c.calculator) c.calculator_decimals = std::min(arithmetic.decimals, kMaxCalculatorDecimals);
  c.thinking_tokens = thinking_token_budget(calls);
  return c;
}

}  // namespace rpu::convert
