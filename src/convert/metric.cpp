#include "convert/metric.h"

#include "core/text.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "core/error.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

std::string trim(std::string_view s) { return std::string(trim_ascii(s)); }

std::string content_of(const json& message) {
  if (message.is_object() && message.contains("content") && message["content"].is_string()) {
    return message["content"].get<std::string>();
  }
  return "";
}

bool has_tool_call(const json& message) {
  return message.is_object() && message.contains("tool_calls") && message["tool_calls"].is_array() &&
         !message["tool_calls"].empty();
}

// {name, arguments} of the first tool call; arguments parsed when sent as a JSON string. A
// message without tool calls whose content is such an object stands for one (see metric.h).
std::optional<std::pair<std::string, json>> first_tool_call(const json& message) {
  if (has_tool_call(message)) {
    const json& fn = message["tool_calls"][0].value("function", json::object());
    json args = fn.value("arguments", json("{}"));
    if (args.is_string()) {
      const std::string text = args.get<std::string>();
      try {
        args = json::parse(text.empty() ? std::string("{}") : text);
      } catch (const std::exception&) {
        return std::nullopt;  // unparsable arguments: wrong, as in score.mjs
      }
    }
    return std::pair{fn.value("name", std::string()), args};
  }
  const auto object = parse_json_object(content_of(message));
  if (object && object->size() == 2 && object->contains("name") && (*object)["name"].is_string() &&
      object->contains("arguments") && (*object)["arguments"].is_object()) {
    return std::pair{(*object)["name"].get<std::string>(), (*object)["arguments"]};
  }
  return std::nullopt;
}

bool ends_with_answer_sentence(const std::string& text) {
  static const std::regex tagged(R"(answer is\s*:?\s*\$?-?\d[\d,]*(\.\d+)?\.?\s*$)", std::regex::icase);
  return std::regex_search(text, tagged);
}

}  // namespace

std::string metric_name(MetricKind kind) {
  switch (kind) {
    case MetricKind::kExact: return "exact";
    case MetricKind::kJsonFields: return "json_fields";
    case MetricKind::kToolCall: return "tool_call";
    case MetricKind::kFinalNumber: return "final_number";
  }
  return "exact";
}

MetricKind metric_from_name(std::string_view name) {
  for (MetricKind k : {MetricKind::kExact, MetricKind::kJsonFields, MetricKind::kToolCall, MetricKind::kFinalNumber}) {
    if (metric_name(k) == name) return k;
  }
  fail("unknown metric '{}' (expected exact, json_fields, tool_call or final_number)", name);
}

MetricKind metric_for_answer(const json& teacher_message) {
  if (has_tool_call(teacher_message)) return MetricKind::kToolCall;
  const std::string content = trim(content_of(teacher_message));
  if (!content.empty() && content.front() == '{') {
    try {
      if (json::parse(content).is_object()) return MetricKind::kJsonFields;
    } catch (const std::exception&) {
      // not JSON: falls through to the text metrics
    }
  }
  if (ends_with_answer_sentence(content)) return MetricKind::kFinalNumber;
  return MetricKind::kExact;
}

std::string answer_contract(const json& teacher_message) {
  switch (metric_for_answer(teacher_message)) {
    case MetricKind::kToolCall: {
      const auto call = first_tool_call(teacher_message);
      return call ? "tool " + call->first : "";
    }
    case MetricKind::kJsonFields: {
      const json object = json::parse(trim(content_of(teacher_message)));
      std::vector<std::string> keys;
      for (const auto& [key, value] : object.items()) keys.push_back(key);
      std::sort(keys.begin(), keys.end());
      std::string out = "json ";
      for (size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + keys[i];
      return out;
    }
    case MetricKind::kFinalNumber: return "final number";
    case MetricKind::kExact: return "";
  }
  return "";
}

std::optional<double> final_number(std::string_view text_view) {
  const std::string text(text_view);
  static const std::regex tagged(R"(answer is\s*:?\s*\$?(-?\d[\d,]*(?:\.\d+)?))", std::regex::icase);
  static const std::regex any(R"(-?\d[\d,]*(?:\.\d+)?)");
  std::string found;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), tagged); it != std::sregex_iterator(); ++it) {
    found = (*it)[1].str();
  }
  if (found.empty()) {
    for (auto it = std::sregex_iterator(text.begin(), text.end(), any); it != std::sregex_iterator(); ++it) {
      found = (*it)[0].str();
    }
  }
  if (found.empty()) return std::nullopt;
  std::erase(found, ',');
  try {
    const double v = std::stod(found);
    return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<json> parse_json_object(std::string_view text_view) {
  const std::string text(text_view);
  std::vector<std::string> tries{trim(text)};
  static const std::regex fence(R"(```(?:json)?\s*([\s\S]*?)```)");
  std::smatch m;
  if (std::regex_search(text, m, fence)) tries.push_back(trim(m[1].str()));
  const size_t a = text.find('{'), b = text.rfind('}');
  if (a != std::string::npos && b != std::string::npos && b > a) tries.push_back(text.substr(a, b - a + 1));
  for (const std::string& t : tries) {
    try {
      json v = json::parse(t);
      if (v.is_object()) return v;
    } catch (const std::exception&) {
      // next form
    }
  }
  return std::nullopt;
}

bool same_value(const json& want, const json& got) {
  if (want.is_null()) return got.is_null();
  if (want.is_number()) return got.is_number() && std::abs(got.get<double>() - want.get<double>()) < 1e-9;
  if (want.is_string()) return got.is_string() && trim(got.get<std::string>()) == trim(want.get<std::string>());
  if (want.is_boolean()) return got.is_boolean() && got.get<bool>() == want.get<bool>();
  if (want.is_array()) {
    if (!got.is_array() || got.size() != want.size()) return false;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!same_value(want[i], got[i])) return false;
    }
    return true;
  }
  if (want.is_object()) {
    if (!got.is_object() || got.size() != want.size()) return false;
    for (const auto& [key, value] : want.items()) {
      if (!got.contains(key) || !same_value(value, got[key])) return false;
    }
    return true;
  }
  return false;
}

AnswerScore score_answer(MetricKind kind, const json& teacher, const json& candidate) {
  AnswerScore s;
  switch (kind) {
    case MetricKind::kExact:
      s.correct = collapse_whitespace(content_of(teacher)) == collapse_whitespace(content_of(candidate));
      break;
    case MetricKind::kFinalNumber: {
      const auto want = final_number(content_of(teacher)), got = final_number(content_of(candidate));
      s.correct = want && got && std::abs(*want - *got) < 1e-9;
      break;
    }
    case MetricKind::kToolCall: {
      const auto want = first_tool_call(teacher), got = first_tool_call(candidate);
      s.correct = want && got && want->first == got->first && same_value(want->second, got->second);
      break;
    }
    case MetricKind::kJsonFields: {
      const auto want = parse_json_object(content_of(teacher));
      const auto got = parse_json_object(content_of(candidate));
      s.fields_total = want ? static_cast<int>(want->size()) : 0;
      if (got && want) {
        for (const auto& [key, value] : want->items()) {
          if (got->contains(key) && same_value(value, (*got)[key])) ++s.fields_right;
        }
      }
      s.correct = got.has_value() && s.fields_right == s.fields_total;
      s.value = s.fields_total > 0 ? static_cast<double>(s.fields_right) / s.fields_total : (s.correct ? 1.0 : 0.0);
      return s;
    }
  }
  s.value = s.correct ? 1.0 : 0.0;
  return s;
}

}  // namespace rpu::convert
