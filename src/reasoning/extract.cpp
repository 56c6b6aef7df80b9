#include "reasoning/extract.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"
#include "decode/numbers.h"
#include "reasoning/pattern.h"

namespace rpu::reasoning {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

ExtractSpec::Kind parse_kind(const nlohmann::json& type) {
  using Kind = ExtractSpec::Kind;
  if (!type.is_string()) fail("reasoning.extract.type: expected a string, got {}", type.type_name());
  const auto& name = type.get_ref<const std::string&>();
  if (name == "last_number") return Kind::kLastNumber;
  if (name == "regex") return Kind::kRegex;
  if (name == "json_path") return Kind::kJsonPath;
  if (name == "choice") return Kind::kChoice;
  if (name == "text") return Kind::kText;
  fail("reasoning.extract.type: unknown extractor '{}' (expected last_number, regex, json_path, choice or text)", name);
}

std::string required_string(const nlohmann::json& j, const char* field) {
  const auto it = j.find(field);
  if (it == j.end()) fail("reasoning.extract.{}: missing (required for type '{}')", field, j["type"].get<std::string>());
  if (!it->is_string()) fail("reasoning.extract.{}: expected a string, got {}", field, it->type_name());
  if (it->get_ref<const std::string&>().empty()) fail("reasoning.extract.{}: must not be empty", field);
  return it->get<std::string>();
}

void parse_regex_fields(const nlohmann::json& j, ExtractSpec& spec) {
  spec.pattern = required_string(j, "pattern");
  spec.regex = std::make_shared<const Pattern>(spec.pattern, "reasoning.extract.pattern");
  if (const auto it = j.find("group"); it != j.end()) {
    const std::optional<int64_t> whole = json_whole_number(*it);
    if (!whole) fail("reasoning.extract.group: expected an integer, got {}", it->dump());
    const int64_t group = *whole;
    if (group < 0 || group > spec.regex->capture_count())
      fail("reasoning.extract.group: {} is not a group of '{}' (it has {} capture group(s); 0 = whole match)", group,
           spec.pattern, spec.regex->capture_count());
    spec.group = static_cast<int>(group);
  } else if (spec.regex->capture_count() == 0) {
    spec.group = 0;  // a pattern without groups answers with its whole match
  }
}

void parse_choices(const nlohmann::json& j, ExtractSpec& spec) {
  const auto it = j.find("choices");
  if (it == j.end()) return;
  if (!it->is_string()) fail("reasoning.extract.choices: expected a string like \"ABCD\", got {}", it->type_name());
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) fail("reasoning.extract.choices: must not be empty");
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] < 'A' || s[i] > 'Z' || s.find(s[i]) != i)
      fail("reasoning.extract.choices: '{}' must be distinct upper-case letters A-Z", s);
  }
  spec.choices = s;
}

std::optional<std::string> last_number(std::string_view text) {
  const std::vector<NumberToken> numbers = find_numbers(text);
  if (numbers.empty()) return std::nullopt;
  return numbers.back().normalized;
}

std::optional<std::string> regex_answer(const ExtractSpec& spec, std::string_view text) {
  std::shared_ptr<const Pattern> regex = spec.regex;
  if (regex == nullptr) regex = std::make_shared<const Pattern>(spec.pattern, "reasoning.extract.pattern");
  if (spec.group < 0 || spec.group > regex->capture_count())
    fail("reasoning.extract.group: {} is not a group of '{}'", spec.group, spec.pattern);
  Pattern::Match m;
  if (regex->find_last(text, m, spec.group) != Pattern::Status::kMatch) return std::nullopt;
  const auto& g = *m.groups[static_cast<size_t>(spec.group)];
  const std::string_view captured = trim(text.substr(g.first, g.second - g.first));
  if (captured.empty()) return std::nullopt;
  return std::string(captured);
}

std::optional<std::string> json_path_answer(const ExtractSpec& spec, std::string_view text) {
  const std::optional<nlohmann::json> value = find_json_value(text);
  if (!value) return std::nullopt;
  const nlohmann::json* at = follow_json_path(*value, spec.path);
  if (at == nullptr || at->is_null()) return std::nullopt;
  if (at->is_string()) return at->get<std::string>();
  return at->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> text_answer(std::string_view text) {
  std::string out;
  for (const char c : trim(text)) {
    if (is_space(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += to_lower(c);
    }
  }
  if (!out.empty() && out.back() == '.') out.pop_back();
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.empty()) return std::nullopt;
  return out;
}


// The alphabetic word ending right before `end` (lowercased), skipping blanks first.
std::string word_before(std::string_view text, size_t& end) {
  while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  size_t begin = end;
  while (begin > 0 && ((text[begin - 1] >= 'a' && text[begin - 1] <= 'z') || (text[begin - 1] >= 'A' && text[begin - 1] <= 'Z')))
    --begin;
  std::string word;
  for (size_t k = begin; k < end; ++k) word += to_lower(text[k]);
  end = begin;
  return word;
}

// "answer B", "answer is (B)", "Answer: **B**", "the correct option is B", "choice = B".
bool after_answer_phrase(std::string_view text, size_t i) {
  size_t end = i;
  while (end > 0 && (is_space(text[end - 1]) || text[end - 1] == '*' || text[end - 1] == '(' || text[end - 1] == ':' ||
                     text[end - 1] == '='))
    --end;
  std::string word = word_before(text, end);
  if (word == "is" || word == "be") word = word_before(text, end);
  return word == "answer" || word == "option" || word == "choice";
}

// The letter is the only thing on its line, up to blanks, '*', brackets and a final '.'.
bool alone_on_line(std::string_view text, size_t i) {
  for (size_t k = i; k > 0 && text[k - 1] != '\n'; --k) {
    const char c = text[k - 1];
    if (c != ' ' && c != '\t' && c != '*' && c != '(') return false;
  }
  for (size_t k = i + 1; k < text.size() && text[k] != '\n'; ++k) {
    const char c = text[k];
    if (c != ' ' && c != '\t' && c != '\r' && c != '*' && c != ')' && c != '.') return false;
  }
  return true;
}

std::optional<std::string> choice_answer(std::string_view choices, std::string_view text) {
  // An answer phrase is the strongest signal: a model that restates the options ("(A) 5
  // (B) 6") after "the answer is B" still answered B. Without one, the last "(B)", "B)" or
  // letter alone on a line counts.
  std::optional<std::string> fallback;
  for (size_t i = text.size(); i-- > 0;) {
    const char c = text[i];
    if (choices.find(c) == std::string_view::npos) continue;
    if ((i > 0 && is_alnum(text[i - 1])) || (i + 1 < text.size() && is_alnum(text[i + 1]))) continue;
    if (after_answer_phrase(text, i)) return std::string(1, c);
    const bool closes = i + 1 < text.size() && text[i + 1] == ')';
    if (!fallback && (closes || alone_on_line(text, i))) fallback = std::string(1, c);
  }
  return fallback;
}

}  // namespace

ExtractSpec parse_extract_spec(const nlohmann::json& j) {
  ExtractSpec spec;
  if (j.is_null()) return spec;
  if (j.is_string()) return parse_extract_spec(nlohmann::json{{"type", j}});  // "choice" shorthand
  if (!j.is_object()) fail("reasoning.extract: expected an object like {{\"type\": \"last_number\"}}, got {}", j.type_name());
  const auto type = j.find("type");
  if (type == j.end()) fail("reasoning.extract.type: missing (last_number, regex, json_path, choice or text)");
  spec.kind = parse_kind(*type);
  switch (spec.kind) {
    case ExtractSpec::Kind::kRegex:
      parse_regex_fields(j, spec);
      break;
    case ExtractSpec::Kind::kJsonPath:
      spec.path = required_string(j, "path");
      follow_json_path(nlohmann::json(), spec.path);  // throws when malformed
      break;
    case ExtractSpec::Kind::kChoice:
      parse_choices(j, spec);
      break;
    case ExtractSpec::Kind::kLastNumber:
    case ExtractSpec::Kind::kText:
      break;
  }
  return spec;
}

std::optional<std::string> extract_answer(const ExtractSpec& spec, std::string_view text) {
  switch (spec.kind) {
    case ExtractSpec::Kind::kLastNumber: return last_number(text);
    case ExtractSpec::Kind::kRegex: return regex_answer(spec, text);
    case ExtractSpec::Kind::kJsonPath: return json_path_answer(spec, text);
    case ExtractSpec::Kind::kChoice: return choice_answer(spec.choices, text);
    case ExtractSpec::Kind::kText: return text_answer(text);
  }
  return std::nullopt;
}

}  // namespace rpu::reasoning
