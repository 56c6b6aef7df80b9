#include "server/json_body.h"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/call.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

// The JSON library keeps an object's keys in order and finds each new key by a linear scan
// (duplicates), so parsing an object of n keys costs n^2/2 comparisons: 100,000 keys (1 MB)
// took 27 s, and a 16 MB body of keys would take hours. The cost is counted before parsing and
// a body over the budget (about one object of 14,000 keys) is refused, naming the top-level
// field it was found in. The same pass bounds the nesting: a body of a million '[' must not be
// able to exhaust the stack of the code that copies and destroys the parsed value.
void check_structure(std::string_view body) {
  constexpr size_t kMaxDepth = 256;
  constexpr uint64_t kMaxComparisons = 100'000'000;
  constexpr uint64_t kArray = UINT64_MAX;
  std::vector<uint64_t> keys;  // per open container: keys so far, or kArray
  uint64_t comparisons = 0;
  bool in_string = false, escaped = false;
  size_t string_start = 0;
  std::string_view last_string, field;  // field: the top-level key being parsed
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false, last_string = body.substr(string_start, i - string_start);
    } else if (c == '"') {
      in_string = true;
      string_start = i + 1;
    } else if (c == '{' || c == '[') {
      keys.push_back(c == '{' ? 0 : kArray);
      if (keys.size() > kMaxDepth) {
        throw ApiError(400, fmt::format("the request body nests JSON deeper than {} levels", kMaxDepth),
                       "invalid_request_error", "", "invalid_json");
      }
    } else if ((c == '}' || c == ']') && !keys.empty()) {
      keys.pop_back();
    } else if (c == ':' && !keys.empty() && keys.back() != kArray) {
      if (keys.size() == 1) field = last_string;
      comparisons += keys.back()++;
      if (comparisons > kMaxComparisons) {
        const std::string param(field.substr(0, 64));
        throw ApiError(400,
                       fmt::format("'{}' has JSON objects with too many keys to parse (about 14,000 in one object, "
                                   "or fewer in many objects, is the limit)",
                                   param),
                       "invalid_request_error", param, "invalid_json");
      }
    }
  }
}

// Replays a body that failed to parse through the SAX interface, only to learn the path of
// the value being read when the parser gave up (the DOM parser's exception does not say).
class PathTracker : public nlohmann::json_sax<json> {
 public:
  struct Level {
    bool is_object = false;
    std::string key;   // objects: the current key
    size_t index = 0;  // arrays: the next element's index
  };

  std::string path() const {
    std::string p;
    for (const Level& l : levels_) {
      if (l.is_object) {
        if (l.key.empty()) break;
        p += (p.empty() ? "" : ".") + l.key;
      } else {
        p += fmt::format("[{}]", l.index);
      }
    }
    return p;
  }
  std::string message;

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    levels_.back().key = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    message = e.what();
    return false;
  }

 private:
  bool value() {
    if (!levels_.empty() && !levels_.back().is_object) ++levels_.back().index;
    return true;
  }
  bool open(bool is_object) {
    levels_.push_back({is_object, "", 0});
    return true;
  }
  bool close() {
    levels_.pop_back();
    return value();
  }
  std::vector<Level> levels_;
};

// "[json.exception.parse_error.101] parse error at ..." -> "parse error at ...".
std::string without_library_prefix(const std::string& what) {
  const size_t end = what.rfind("] ", what.find(' '));
  return what.rfind("[json.exception.", 0) == 0 && end != std::string::npos ? what.substr(end + 2) : what;
}

}  // namespace

json parse_json_body(std::string_view body) {
  check_structure(body);
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {
    PathTracker tracker;
    json::sax_parse(body.begin(), body.end(), &tracker);
    const std::string where = tracker.path();
    const bool overflow = dynamic_cast<const nlohmann::json::out_of_range*>(&e) != nullptr;
    const std::string detail = without_library_prefix(tracker.message.empty() ? e.what() : tracker.message);
    const std::string message =
        overflow ? fmt::format("'{}' is a number too large to represent ({})", where.empty() ? "the body" : where, detail)
                 : fmt::format("the request body is not valid JSON{}: {}", where.empty() ? "" : " (in '" + where + "')",
                               detail);
    throw ApiError(400, message, "invalid_request_error", where, "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object", "invalid_request_error", "", "");
  return j;
}

}  // namespace rpu
