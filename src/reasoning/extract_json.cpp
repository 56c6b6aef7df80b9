// json_path extraction: locating a JSON value in model output and walking a simple path.
#include <nlohmann/json.hpp>
#include <variant>
#include <vector>

#include "core/error.h"
#include "core/json_text.h"
#include "reasoning/extract.h"

namespace rpu::reasoning {
namespace {

// Embedded candidates tried before giving up: bounds the work on a long text full of
// brackets that never form JSON (each try is one linear scan).
constexpr int kMaxEmbeddedTries = 64;

// One past the bracket closing the one at `open`, or npos. Brackets inside strings do not
// count; both kinds share one depth (the parser checks that they pair up).
size_t balanced_end(std::string_view text, size_t open) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
  }
  return std::string_view::npos;
}

using Segment = std::variant<std::string, long long>;  // object key or array index

[[noreturn]] void bad_path(std::string_view path, size_t at, std::string_view why) {
  fail("reasoning.extract.path: '{}' is not a valid path ({} at offset {}); use e.g. \"$.answer\", "
       "\"items[0].id\" or \"$['a b']\"",
       path, why, at);
}

size_t read_name(std::string_view path, size_t i, std::vector<Segment>& out) {
  const size_t begin = i;
  while (i < path.size() && path[i] != '.' && path[i] != '[') ++i;
  if (i == begin) bad_path(path, begin, "empty name");
  out.emplace_back(std::string(path.substr(begin, i - begin)));
  return i;
}

size_t read_bracket(std::string_view path, size_t i, std::vector<Segment>& out) {
  const size_t open = i++;
  if (i < path.size() && (path[i] == '\'' || path[i] == '"')) {
    const char quote = path[i++];
    const size_t close = path.find(quote, i);
    if (close == std::string_view::npos || close + 1 >= path.size() || path[close + 1] != ']')
      bad_path(path, open, "unterminated quoted name");
    out.emplace_back(std::string(path.substr(i, close - i)));
    return close + 2;
  }
  const size_t begin = i;
  if (i < path.size() && path[i] == '-') ++i;
  const size_t digits = i;
  while (i < path.size() && path[i] >= '0' && path[i] <= '9') ++i;
  if (i == digits || i - digits > 9 || i >= path.size() || path[i] != ']') bad_path(path, open, "expected [N] or ['name']");
  out.emplace_back(std::stoll(std::string(path.substr(begin, i - begin))));
  return i + 1;
}

std::vector<Segment> parse_path(std::string_view path) {
  std::vector<Segment> out;
  size_t i = 0;
  if (!path.empty() && path[0] == '$') i = 1;
  else if (!path.empty() && path[0] != '[' && path[0] != '.') i = read_name(path, 0, out);
  while (i < path.size()) {
    if (path[i] == '.') i = read_name(path, i + 1, out);
    else if (path[i] == '[') i = read_bracket(path, i, out);
    else bad_path(path, i, "expected '.' or '['");
  }
  return out;
}

// Model output parsed as JSON, or a discarded value; nesting past kMaxJsonNesting counts as not
// JSON, since copying or printing such a value would overflow the stack.
nlohmann::json parse_shallow(std::string_view text) {
  if (json_nesting_depth(text) > kMaxJsonNesting) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

std::optional<nlohmann::json> find_json_value(std::string_view text) {
  nlohmann::json whole = parse_shallow(text);
  if (!whole.is_discarded()) return whole;
  int tries = 0;
  for (size_t i = text.find_first_of("{["); i != std::string_view::npos && tries < kMaxEmbeddedTries;
       i = text.find_first_of("{[", i + 1), ++tries) {
    const size_t end = balanced_end(text, i);
    if (end == std::string_view::npos) continue;
    nlohmann::json value = parse_shallow(text.substr(i, end - i));
    if (!value.is_discarded()) return value;
  }
  return std::nullopt;
}

const nlohmann::json* follow_json_path(const nlohmann::json& value, std::string_view path) {
  const std::vector<Segment> segments = parse_path(path);  // parsed fully first: errors win
  const nlohmann::json* at = &value;
  for (const Segment& segment : segments) {
    if (const auto* key = std::get_if<std::string>(&segment)) {
      if (!at->is_object()) return nullptr;
      const auto it = at->find(*key);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else {
      long long index = std::get<long long>(segment);
      if (!at->is_array()) return nullptr;
      const auto size = static_cast<long long>(at->size());
      if (index < 0) index += size;
      if (index < 0 || index >= size) return nullptr;
      at = &(*at)[static_cast<size_t>(index)];
    }
  }
  return at;
}

}  // namespace rpu::reasoning
