// JSON Schema -> GBNF. Each schema becomes a GBNF expression; named rules are created for
// shared pieces (primitives, $ref targets, object property chains). See json_schema.h.
#include "decode/json_schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "core/error.h"
#include "decode/gbnf_text.h"
#include "decode/grammar.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;
using namespace gbnf_text;


// Keywords that restrict valid values and are not implemented: never silently ignored.
const std::set<std::string> kUnsupported = {
    "pattern",          "patternProperties", "not",         "if",          "then",
    "else",             "multipleOf",        "contains",    "minContains", "maxContains",
    "propertyNames",    "minProperties",     "maxProperties", "dependentRequired", "dependentSchemas",
    "dependencies",     "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef"};

// Keywords this converter enforces.
bool is_validation(const std::string& key) {
  static const std::set<std::string> keys = {
      "type",      "properties", "required",  "additionalProperties", "items",           "prefixItems",
      "minItems",  "maxItems",   "enum",      "const",                "minLength",       "maxLength",
      "minimum",   "maximum",    "exclusiveMinimum", "exclusiveMaximum", "anyOf",        "oneOf",
      "allOf",     "$ref",       "additionalItems"};
  return keys.count(key) > 0;
}

// Keywords that only annotate: ignored.
bool is_annotation(const std::string& key) {
  static const std::set<std::string> keys = {"title",    "description", "default", "examples", "$schema",
                                             "$id",      "$comment",    "$defs",   "definitions", "deprecated",
                                             "readOnly", "writeOnly",   "$anchor", "contentMediaType",
                                             "contentEncoding", "strict", "name"};
  return keys.count(key) > 0;
}


class Converter {
 public:
  Converter(const json& root, std::string prefix, SchemaBudget& budget)
      : root_(root), prefix_(std::move(prefix)), budget_(budget) {
    if (prefix_.empty()) fail("json schema: the rule prefix is empty");
    for (char c : prefix_)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
        fail("json schema: rule prefix '{}' may only hold letters, digits, '_' and '-'", prefix_);
  }

  JsonSchemaRules run() {
    const std::string expr = visit(root_, "#");
    const std::string root = add_rule("root", expr);
    JsonSchemaRules result{rules_text(), root};
    // Converted rules within the budget fail to parse only through a $ref cycle that recurses
    // without consuming input (e.g. {"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, ...]}}}).
    // Budget errors pass through as they are: they are not cycles.
    try {
      Grammar::parse("root ::= " + root + "\n" + result.rules, "root", budget_.limits);
    } catch (const GrammarTooLarge&) {
      throw;
    } catch (const GrammarCancelled&) {
      throw;
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.find("left-recursive") == std::string::npos && what.find("loop forever") == std::string::npos)
        fail("json schema: internal: the generated grammar does not parse ({})", what);
      fail("json schema: a $ref cycle does not pass through an object or array, so it would recurse without end ({})",
           what);
    }
    return result;
  }

  std::string rules_text() const {
    std::string text;
    for (const auto& [name, body] : rules_) text += name + " ::= " + body + "\n";
    return text;
  }

  std::string primitive(const std::string& name) {
    const std::string full = prefix_ + "-" + name;
    if (defined_.count(full)) return full;
    defined_.insert(full);
    const auto p = [&](const std::string& n) { return primitive(n); };
    std::string body;
    if (name == "ws") body = R"(" "? | ("\n" [ \t]{0,24}){1,2})";
    // \u escapes of surrogates are left out: a pair would be one character to a validator
    // (minLength) but two here.
    else if (name == "char")
      body = R"([^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2})))";
    else if (name == "string") body = "\"\\\"\" " + p("char") + "* \"\\\"\"";
    else if (name == "integral") body = fmt::format("\"0\" | [1-9] [0-9]{{0,{}}}", kMaxDigits - 1);
    else if (name == "number")
      body = fmt::format("\"-\"? {} (\".\" [0-9]{{1,{}}})? ([eE] [-+]? [0-9]{{1,3}})?", p("integral"), kMaxDigits);
    else if (name == "integer") body = "\"-\"? " + p("integral");
    else if (name == "boolean") body = "\"true\" | \"false\"";
    else if (name == "null") body = "\"null\"";
    else if (name == "value")
      body = p("object") + " | " + p("array") + " | " + p("string") + " | " + p("number") + " | " + p("boolean") +
             " | " + p("null");
    else if (name == "object")
      body = fmt::format(R"("{{" {0} ({1} {0} ":" {0} {2} {0} ("," {0} {1} {0} ":" {0} {2} {0})*)? "}}")", p("ws"),
                         p("string"), p("value"));
    else if (name == "array") body = fmt::format(R"("[" {0} ({1} {0} ("," {0} {1} {0})*)? "]")", p("ws"), p("value"));
    else if (name == "date")
      body = R"([0-9]{4} "-" ((("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01])) | (("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30")) | ("02-" ("0" [1-9] | "1" [0-9] | "2" [0-8]))))";
    else if (name == "time")
      body = R"(([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9]))";
    else if (name == "date-time") body = p("date") + " \"T\" " + p("time");
    else if (name == "uuid") body = R"([0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12})";
    else fail("json schema: internal: no primitive '{}'", name);
    charge_text(full.size() + body.size());
    rules_.emplace_back(full, body);
    return full;
  }

 private:
  // A named rule for body (identical bodies share a rule).
  std::string add_rule(const std::string& hint, const std::string& body) {
    if (const auto it = by_body_.find(body); it != by_body_.end()) return it->second;
    const std::string name = fresh_name(hint);
    charge_text(name.size() + body.size());
    rules_.emplace_back(name, body);
    by_body_[body] = name;
    return name;
  }
  // A rule name not used yet: the hint, then hint2, hint3, ... A counter per hint remembers
  // where to continue, so n rules with one hint cost O(n), not O(n^2) (20,000 properties
  // made "rest", "rest2", ... a minutes-long scan). The loop only skips names some other
  // hint produced (a hint "x2" against "x" + 2).
  std::string fresh_name(const std::string& hint) {
    std::string clean;
    for (char c : hint) clean += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
    const std::string base = prefix_ + "-" + clean;
    int& next = next_suffix_[base];  // 0: the bare base has not been handed out
    std::string name = base;
    if (next == 0) next = 2;
    else name = fmt::format("{}{}", base, next++);
    while (defined_.count(name)) name = fmt::format("{}{}", base, next++);
    defined_.insert(name);
    return name;
  }

  // Budget: bytes of GBNF written, schema nodes visited; the cancel flag is polled here too.
  void charge_text(size_t bytes) {
    budget_.text_bytes += bytes;
    check_text(0);
  }
  void check_text(size_t pending) const {
    if (budget_.text_bytes + pending > budget_.limits.max_text_bytes)
      throw GrammarTooLarge(fmt::format("json schema: the grammar for this schema would exceed {} bytes; "
                                        "use a smaller schema (fewer properties, enum values or items)",
                                        budget_.limits.max_text_bytes));
  }
  void charge_steps(size_t n, const std::string& path) {
    budget_.steps += n;
    if (budget_.steps > budget_.max_steps)
      throw GrammarTooLarge(fmt::format("json schema: converting this schema takes more than {} steps (at {}); "
                                        "use a smaller schema", budget_.max_steps, path));
    if (budget_.limits.cancelled && (budget_.steps & 1023) < n && budget_.limits.cancelled())
      throw GrammarCancelled("json schema: cancelled");
  }

  [[noreturn]] static void error(const std::string& path, const std::string& message) {
    fail("json schema: {} at {}", message, path);
  }

  static bool has(const json& s, const char* key) { return s.contains(key); }

  const json& resolve(const std::string& ref, const std::string& path) const {
    if (ref.empty() || ref[0] != '#') error(path, fmt::format("$ref '{}' is not supported (only refs into this schema, '#/...')", ref));
    try {
      const std::string pointer = ref.substr(1);
      return pointer.empty() ? root_ : root_.at(json::json_pointer(pointer));
    } catch (const nlohmann::json::exception&) {
      error(path, fmt::format("$ref '{}' points to nothing", ref));
    }
  }

  std::string visit(const json& s, const std::string& path) {
    // Schemas nest as deep as the client likes; the converter recurses, so bound it.
    if (depth_ > kMaxDepth) error(path, fmt::format("schema nested deeper than {} levels", kMaxDepth));
    charge_steps(1, path);
    ++depth_;
    std::string expr = visit_unguarded(s, path);
    --depth_;
    return expr;
  }

  // Whether a JSON value is an instance of a JSON Schema type name.
  static bool has_type(const json& v, const std::string& type) {
    if (type == "string") return v.is_string();
    if (type == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    if (type == "number") return v.is_number();
    if (type == "boolean") return v.is_boolean();
    if (type == "null") return v.is_null();
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    return false;
  }
  static bool matches_type(const json& s, const json& v) {
    if (!s.contains("type")) return true;
    const json& t = s["type"];
    if (t.is_string()) return has_type(v, t.get<std::string>());
    if (t.is_array())
      for (const json& name : t)
        if (name.is_string() && has_type(v, name.get<std::string>())) return true;
    return false;
  }

  std::string visit_unguarded(const json& s, const std::string& path) {
    if (s.is_boolean()) {
      if (s.get<bool>()) return primitive("value");
      error(path, "schema 'false' matches nothing");
    }
    if (!s.is_object()) error(path, "a schema must be an object or a boolean");
    for (const auto& [key, value] : s.items()) {
      if (kUnsupported.count(key)) error(path, fmt::format("unsupported keyword '{}' (it restricts valid values and cannot be enforced)", key));
      if (key == "uniqueItems" && value == true) error(path, "unsupported keyword 'uniqueItems' (it restricts valid values and cannot be enforced)");
    }
    if (has(s, "$ref")) return visit_ref(s, path);
    // enum / const values are written as listed; of the other keywords only 'type' filters them.
    if (has(s, "const")) {
      if (!matches_type(s, s["const"])) error(pointer_child(path, "const"), "'const' does not have the schema's type");
      return json_literal(s["const"]);
    }
    if (has(s, "enum")) {
      const json& values = s["enum"];
      if (!values.is_array() || values.empty()) error(pointer_child(path, "enum"), "'enum' must be a non-empty array");
      std::vector<std::string> parts;
      charge_steps(values.size(), path);
      size_t bytes = 0;
      for (const json& v : values) {
        if (!matches_type(s, v)) continue;
        parts.push_back(json_literal(v));
        // Charged once, with the rule the expression ends up in; checked here as it grows.
        bytes += parts.back().size() + 3;
        check_text(bytes);
      }
      if (parts.empty()) error(pointer_child(path, "enum"), "no 'enum' value has the schema's type");
      return alternatives(parts);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!has(s, key)) continue;
      const json& branches = s[key];
      const std::string where = pointer_child(path, key);
      if (!branches.is_array() || branches.empty()) error(where, fmt::format("'{}' must be a non-empty array", key));
      check_only(s, key, path);
      std::vector<std::string> parts;
      for (size_t i = 0; i < branches.size(); ++i) parts.push_back(visit(branches[i], pointer_child(where, std::to_string(i))));
      return alternatives(parts);
    }
    if (has(s, "allOf")) return visit(merge_all_of(s, path), path);

    if (has(s, "type")) {
      const json& type = s["type"];
      if (type.is_string()) return visit_type(s, type.get<std::string>(), path);
      if (!type.is_array() || type.empty()) error(pointer_child(path, "type"), "'type' must be a string or a non-empty array of strings");
      std::vector<std::string> parts;
      for (const json& t : type) {
        if (!t.is_string()) error(pointer_child(path, "type"), "'type' must be a string or a non-empty array of strings");
        parts.push_back(visit_type(s, t.get<std::string>(), path));
      }
      return alternatives(parts);
    }
    if (has(s, "properties") || has(s, "additionalProperties") || has(s, "required")) return visit_type(s, "object", path);
    if (has(s, "items") || has(s, "prefixItems")) return visit_type(s, "array", path);
    for (const auto& [key, value] : s.items())
      if (is_validation(key))
        error(path, fmt::format("keyword '{}' needs a 'type' (a schema without a type matches any value)", key));
    return primitive("value");
  }

  // anyOf / oneOf / $ref are combined with nothing but annotations.
  static void check_only(const json& s, const char* keyword, const std::string& path) {
    for (const auto& [key, value] : s.items())
      if (key != keyword && is_validation(key))
        error(path, fmt::format("'{}' next to '{}' is not supported (move it into each branch)", key, keyword));
  }

  std::string visit_ref(const json& s, const std::string& path) {
    check_only(s, "$ref", path);
    if (!s["$ref"].is_string()) error(pointer_child(path, "$ref"), "'$ref' must be a string");
    const std::string ref = s["$ref"].get<std::string>();
    if (const auto it = refs_.find(ref); it != refs_.end()) return it->second;
    const json& target = resolve(ref, path);
    // Name first, body later: recursive schemas refer to the rule while it is being built.
    const std::string name = fresh_name("ref-" + ref.substr(ref.find_last_of('/') + 1));
    refs_[ref] = name;
    const size_t slot = rules_.size();
    rules_.emplace_back(name, "");
    const std::string body = visit(target, ref);
    rules_[slot].second = body;
    return name;
  }

  json merge_all_of(const json& s, const std::string& path) {
    // allOf branches may $ref back to the schema that holds them.
    if (depth_ > kMaxDepth) error(path, fmt::format("allOf nested deeper than {} levels (a $ref cycle?)", kMaxDepth));
    ++depth_;
    json merged = merge_all_of_unguarded(s, path);
    --depth_;
    return merged;
  }

  // allOf merged into one schema. Properties and required names are looked up through hash
  // maps: ordered_json finds a key by a linear scan, quadratic for thousands of properties.
  struct MergedObject {
    json schema;                                       // the merged schema, without allOf
    std::unordered_map<std::string, size_t> property;  // name -> position in schema["properties"]
    std::unordered_set<std::string> required;
  };

  static void check_object_keywords(const json& s, const std::string& path) {
    if (s.contains("properties") && !s["properties"].is_object()) error(path, "'properties' must be an object");
    if (!s.contains("required")) return;
    const json& r = s["required"];
    if (!r.is_array() || !std::all_of(r.begin(), r.end(), [](const json& n) { return n.is_string(); }))
      error(path, "'required' must be an array of names");
  }

  json merge_all_of_unguarded(const json& s, const std::string& path) {
    const std::string where = pointer_child(path, "allOf");
    const json& parts = s["allOf"];
    if (!parts.is_array() || parts.empty()) error(where, "'allOf' must be a non-empty array");
    charge_steps(parts.size() + s.size(), where);
    check_object_keywords(s, path);
    MergedObject m;
    m.schema = json::object();
    for (const auto& [key, value] : s.items())
      if (key != "allOf") m.schema.get_ref<json::object_t&>().push_back({key, value});  // keys of s are unique
    std::vector<json> closed;  // branches with additionalProperties false
    if (m.schema.value("additionalProperties", json(true)) == false) closed.push_back(m.schema);
    index_object(m);
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string branch_path = pointer_child(where, std::to_string(i));
      json branch = parts[i];
      for (int depth = 0; branch.is_object() && branch.contains("$ref"); ++depth) {
        if (depth > 32) error(branch_path, "$ref chain too long");
        check_only(branch, "$ref", branch_path);
        if (!branch["$ref"].is_string()) error(pointer_child(branch_path, "$ref"), "'$ref' must be a string");
        branch = resolve(branch["$ref"].get<std::string>(), branch_path);
      }
      if (!branch.is_object()) error(branch_path, "allOf branches must be schema objects");
      if (branch.contains("allOf")) branch = merge_all_of(branch, branch_path);
      check_object_keywords(branch, branch_path);
      charge_steps(branch.size() + branch.value("properties", json::object()).size(), branch_path);
      if (branch.value("additionalProperties", json(true)) == false) closed.push_back(branch);
      merge_branch(m, branch, branch_path);
    }
    // A branch closed with additionalProperties false forbids the other branches' properties.
    for (const json& c : closed) restrict_to(m, c, where);
    return std::move(m.schema);
  }

  static void index_object(MergedObject& m) {
    json& schema = m.schema;
    if (schema.contains("properties")) {
      size_t i = 0;
      for (const auto& [name, sub] : schema["properties"].items()) m.property.emplace(name, i++);
    }
    if (schema.contains("required"))
      for (const json& r : schema["required"]) m.required.insert(r.get<std::string>());
  }

  static void merge_branch(MergedObject& m, const json& branch, const std::string& branch_path) {
    json& merged = m.schema;
    for (const auto& [key, value] : branch.items()) {
      if (key == "properties") {
        json& props = merged["properties"];
        if (props.is_null()) props = json::object();
        auto& entries = props.get_ref<json::object_t&>();
        for (const auto& [name, sub] : value.items()) {
          const auto [at, added] = m.property.emplace(name, entries.size());
          if (added) {
            entries.push_back({name, sub});
            continue;
          }
          json& existing = (entries.begin() + static_cast<std::ptrdiff_t>(at->second))->second;
          if (existing != sub) existing = json{{"allOf", json::array({existing, sub})}};
        }
      } else if (key == "required") {
        json& req = merged["required"];
        if (req.is_null()) req = json::array();
        for (const json& r : value)
          if (m.required.insert(r.get<std::string>()).second) req.push_back(r);
      } else if (key == "additionalProperties") {
        if (value == false || !merged.contains(key)) merged[key] = value;
        else if (merged[key] != false && merged[key] != value) error(branch_path, "allOf branches with different 'additionalProperties' schemas are not supported");
      } else if (is_annotation(key)) {
        continue;
      } else if (merged.contains(key) && merged[key] != value) {
        error(branch_path, fmt::format("allOf branches disagree on '{}' (only objects can be merged)", key));
      } else {
        merged[key] = value;
      }
    }
  }

  static void restrict_to(MergedObject& m, const json& closed, const std::string& where) {
    json& merged = m.schema;
    if (!merged.contains("properties")) return;
    std::unordered_set<std::string> own;
    if (closed.contains("properties"))
      for (const auto& [name, sub] : closed["properties"].items()) own.insert(name);
    json kept = json::object();
    auto& entries = kept.get_ref<json::object_t&>();
    m.property.clear();
    for (const auto& [name, sub] : merged["properties"].items()) {
      if (!own.count(name)) continue;
      m.property.emplace(name, entries.size());
      entries.push_back({name, sub});
    }
    if (merged.contains("required"))
      for (const json& r : merged["required"])
        if (!m.property.count(r.get<std::string>()))
          error(where, fmt::format("required property {} is forbidden by a branch with additionalProperties false", r.dump()));
    merged["properties"] = std::move(kept);
  }

  std::string visit_type(const json& s, const std::string& type, const std::string& path) {
    if (type == "string") return visit_string(s, path);
    if (type == "integer" || type == "number") return visit_number(s, type == "integer", path);
    if (type == "boolean") return primitive("boolean");
    if (type == "null") return primitive("null");
    if (type == "object") return visit_object(s, path);
    if (type == "array") return visit_array(s, path);
    error(pointer_child(path, "type"), fmt::format("unknown type '{}'", type));
  }

  static int64_t count(const json& s, const char* key, const std::string& path, int64_t fallback) {
    if (!s.contains(key)) return fallback;
    const json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      error(pointer_child(path, key), fmt::format("'{}' must be a non-negative integer", key));
    if (v.get<int64_t>() > 10000) error(pointer_child(path, key), fmt::format("'{}' above 10000 is not supported", key));
    return v.get<int64_t>();
  }

  std::string visit_string(const json& s, const std::string& path) {
    const int64_t min = count(s, "minLength", path, 0), max = count(s, "maxLength", path, -1);
    if (max >= 0 && max < min) error(path, "maxLength is below minLength: no string is valid");
    const std::string quote = "\"\\\"\"";
    if (s.contains("format") && s["format"].is_string()) {
      const std::string format = s["format"].get<std::string>();
      if (format == "date" || format == "time" || format == "date-time" || format == "uuid") {
        if (s.contains("minLength") || s.contains("maxLength"))
          error(path, fmt::format("minLength/maxLength together with format '{}' is not supported", format));
        return quote + " " + primitive(format) + " " + quote;
      }
    }
    const std::string c = primitive("char");
    std::string repeat = max < 0 ? (min == 0 ? "*" : fmt::format("{{{},}}", min)) : fmt::format("{{{},{}}}", min, max);
    if (max == 0) return quote + " " + quote;
    return quote + " " + c + repeat + " " + quote;
  }

  // Bounds rounded inwards to integers; nullopt-like flags for "none".
  struct Bounds {
    bool has_lo = false, has_hi = false;
    int64_t lo = 0, hi = 0;
  };
  static Bounds bounds(const json& s, const std::string& path) {
    Bounds b;
    const double kLimit = 1e15;  // beyond this a bound cannot be met or cannot bind (16 digits)
    const auto read = [&](const char* key) -> std::optional<double> {
      if (!s.contains(key)) return std::nullopt;
      if (!s[key].is_number()) error(pointer_child(path, key), fmt::format("'{}' must be a number", key));
      return s[key].get<double>();
    };
    const auto lower = [&](double v, bool exclusive) {
      if (v < -kLimit) return;
      if (v > kLimit) error(path, "minimum above 1e15 is not supported");
      const int64_t x = exclusive ? static_cast<int64_t>(std::floor(v)) + 1 : static_cast<int64_t>(std::ceil(v));
      b.lo = b.has_lo ? std::max(b.lo, x) : x;
      b.has_lo = true;
    };
    const auto upper = [&](double v, bool exclusive) {
      if (v > kLimit) return;
      if (v < -kLimit) error(path, "maximum below -1e15 is not supported");
      const int64_t x = exclusive ? static_cast<int64_t>(std::ceil(v)) - 1 : static_cast<int64_t>(std::floor(v));
      b.hi = b.has_hi ? std::min(b.hi, x) : x;
      b.has_hi = true;
    };
    if (auto v = read("minimum")) lower(*v, false);
    if (auto v = read("exclusiveMinimum")) lower(*v, true);
    if (auto v = read("maximum")) upper(*v, false);
    if (auto v = read("exclusiveMaximum")) upper(*v, true);
    if (b.has_lo && b.has_hi && b.lo > b.hi)
      error(path, "minimum/maximum leave no supported value (bounds are rounded inwards to integers)");
    return b;
  }

  std::string visit_number(const json& s, bool integer, const std::string& path) {
    const Bounds b = bounds(s, path);
    if (!b.has_lo && !b.has_hi) return primitive(integer ? "integer" : "number");
    const std::string frac = fmt::format("(\".\" [0-9]{{1,{}}})?", kMaxDigits);
    const std::string zero_frac = fmt::format("(\".\" \"0\"{{1,{}}})?", kMaxDigits);
    // Magnitudes in [a, b] (b < 0: unbounded) as digits, with a fraction for numbers.
    const auto magnitude = [&](int64_t a, int64_t top) -> std::string {
      if (integer) return digits_range(a, top);
      if (top < 0) return digits_range(a, -1) + " " + frac;
      // Integral part below the top takes any fraction; the top itself only zeros.
      std::vector<std::string> parts;
      if (top > a) parts.push_back(digits_range(a, top - 1) + " " + frac);
      parts.push_back(literal(std::to_string(top)) + " " + zero_frac);
      return alternatives(parts);
    };
    std::vector<std::string> parts;
    // Values >= 0: magnitudes [max(lo, 0), hi].
    if (!b.has_hi || b.hi >= 0) parts.push_back(magnitude(b.has_lo ? std::max<int64_t>(b.lo, 0) : 0, b.has_hi ? b.hi : -1));
    // Values < 0: "-" and magnitudes [-hi (or just above 0), -lo]. "-0..." is 0 or a small
    // negative number, inside the bounds whenever lo < 0 <= hi.
    if (!b.has_lo || b.lo < 0) {
      const int64_t a = b.has_hi && b.hi < 0 ? -b.hi : (integer ? 1 : 0);
      parts.push_back("\"-\" " + magnitude(a, b.has_lo ? -b.lo : -1));
    }
    return alternatives(parts);
  }

  std::string visit_object(const json& s, const std::string& path) {
    // A bare {"type": "object"} is a free-form object (as a client sending it expects).
    if (!s.contains("properties") && !s.contains("additionalProperties") && !s.contains("required"))
      return primitive("object");
    const std::string ws = primitive("ws");
    const json no_properties = json::object();
    const json& props = s.contains("properties") ? s["properties"] : no_properties;
    if (!props.is_object()) error(pointer_child(path, "properties"), "'properties' must be an object");
    const json additional = s.contains("additionalProperties") ? s["additionalProperties"] : json();
    // Declared properties, then required names without a schema of their own. Hash sets, not
    // ordered_json lookups (a linear scan each: quadratic for thousands of properties).
    std::vector<std::pair<std::string, const json*>> entries;
    std::unordered_set<std::string> declared, required;
    for (const auto& [name, sub] : props.items()) {
      entries.emplace_back(name, &sub);
      declared.insert(name);
    }
    const json extra_schema = additional.is_null() ? json::object() : additional;
    if (s.contains("required")) {
      if (!s["required"].is_array()) error(pointer_child(path, "required"), "'required' must be an array of names");
      for (const json& r : s["required"]) {
        if (!r.is_string()) error(pointer_child(path, "required"), "'required' must be an array of names");
        const std::string name = r.get<std::string>();
        required.insert(name);
        if (!declared.insert(name).second) continue;
        // A required name without a schema of its own takes additionalProperties' schema.
        if (additional == false)
          error(pointer_child(path, "required"),
                fmt::format("required property {} is not in 'properties' and additionalProperties is false", r.dump()));
        entries.emplace_back(name, &extra_schema);
      }
    }
    std::string extra_value;
    if (s.contains("additionalProperties")) {
      const json& ap = s["additionalProperties"];
      if (!(ap.is_boolean() && !ap.get<bool>())) extra_value = visit(ap, pointer_child(path, "additionalProperties"));
    }
    std::vector<std::string> kv;  // "name" ws ":" ws value ws
    std::vector<bool> is_required;
    std::vector<std::string> names;
    for (const auto& [name, sub] : entries) {
      const std::string value = visit(*sub, pointer_child(pointer_child(path, "properties"), name));
      kv.push_back(add_rule("kv-" + name, json_literal(json(name)) + " " + ws + " \":\" " + ws + " " + value + " " + ws));
      is_required.push_back(required.count(name) > 0);
      names.push_back(name);
    }
    // rest_i: properties i.. after one was written (each led by a comma); first_i: before any.
    const size_t n = kv.size();
    std::string rest, first;
    if (!extra_value.empty()) {
      const std::string extra_kv =
          add_rule("extra-kv", extra_key(names) + " " + ws + " \":\" " + ws + " " + extra_value + " " + ws);
      rest = "(\",\" " + ws + " " + extra_kv + ")*";
      first = "(" + extra_kv + " " + rest + ")?";
      rest = add_rule("rest", rest);
      first = add_rule("first", first);
    }
    for (size_t i = n; i-- > 0;) {
      const std::string tail = rest.empty() ? "" : " " + rest;
      const std::string item = "\",\" " + ws + " " + kv[i];
      const std::string new_rest = is_required[i] ? item + tail : "(" + item + ")?" + tail;
      const std::string here = kv[i] + tail;
      const std::string new_first = is_required[i] ? here : (first.empty() ? "(" + here + ")?" : here + " | " + first);
      rest = add_rule("rest", new_rest);
      first = add_rule("first", new_first);
    }
    return "\"{\" " + ws + (first.empty() ? "" : " " + first) + " \"}\"";
  }

  // A key that is none of `names`: plain characters (no escapes, so raw text equals the
  // decoded key), steered away from each name by a trie over the names.
  std::string extra_key(const std::vector<std::string>& names) {
    const std::string free_char = "[^\"\\\\\\x00-\\x1F]";
    const std::string free_tail = add_rule("key-tail", free_char + "* \"\\\"\"");
    // Trie over code points of the names (as UTF-8 strings compared by whole characters).
    struct Node {
      std::map<std::string, int> next;
      bool terminal = false;
    };
    std::vector<Node> trie(1);
    for (const std::string& name : names) {
      int at = 0;
      for (size_t i = 0; i < name.size();) {
        size_t len = 1;
        const auto c = static_cast<unsigned char>(name[i]);
        if (c >= 0xF0) len = 4;
        else if (c >= 0xE0) len = 3;
        else if (c >= 0xC0) len = 2;
        const std::string ch = name.substr(i, len);
        i += len;
        if (c == '"' || c == '\\' || c < 0x20) {
          at = -1;  // needs an escape: an escape-free key can never equal it
          break;
        }
        auto it = trie[static_cast<size_t>(at)].next.find(ch);
        if (it == trie[static_cast<size_t>(at)].next.end()) {
          trie.push_back({});
          it = trie[static_cast<size_t>(at)].next.emplace(ch, static_cast<int>(trie.size() - 1)).first;
        }
        at = it->second;
      }
      if (at >= 0) trie[static_cast<size_t>(at)].terminal = true;
    }
    // Rule per trie node: close here (if not a name), follow a child, or leave the trie.
    std::vector<std::string> rule_of(trie.size());
    for (size_t i = trie.size(); i-- > 0;) {
      std::vector<std::string> parts;
      if (!trie[i].terminal) parts.push_back("\"\\\"\"");
      std::string excluded;
      for (const auto& [ch, child] : trie[i].next) {
        parts.push_back(literal(ch) + " " + rule_of[static_cast<size_t>(child)]);
        size_t len = 0;
        uint32_t cp = static_cast<unsigned char>(ch[0]);
        if (ch.size() > 1) {
          cp &= 0xFF >> (ch.size() + 1);
          for (len = 1; len < ch.size(); ++len) cp = (cp << 6) | (static_cast<unsigned char>(ch[len]) & 0x3F);
        }
        excluded += fmt::format("\\U{:08X}", cp);
      }
      parts.push_back("[^\"\\\\\\x00-\\x1F" + excluded + "] " + free_tail);
      rule_of[i] = add_rule("key", join(parts, " | "));
    }
    return "\"\\\"\" " + rule_of[0];
  }

  std::string visit_array(const json& s, const std::string& path) {
    const std::string ws = primitive("ws");
    std::vector<std::string> prefix;
    json items = s.contains("items") ? s["items"] : json();
    json prefix_items = s.contains("prefixItems") ? s["prefixItems"] : json();
    if (items.is_array()) {  // draft-07 tuple form
      if (s.contains("additionalItems")) error(path, "unsupported keyword 'additionalItems'");
      prefix_items = items;
      items = json();
    }
    if (!prefix_items.is_null()) {
      if (!prefix_items.is_array()) error(pointer_child(path, "prefixItems"), "'prefixItems' must be an array");
      for (size_t i = 0; i < prefix_items.size(); ++i)
        prefix.push_back(visit(prefix_items[i], pointer_child(pointer_child(path, "prefixItems"), std::to_string(i))));
    }
    const int64_t min = count(s, "minItems", path, 0);
    int64_t max = count(s, "maxItems", path, -1);
    std::string item;  // items after the prefix; empty: none allowed
    if (items.is_boolean() && !items.get<bool>()) {
      max = max < 0 ? static_cast<int64_t>(prefix.size()) : std::min<int64_t>(max, static_cast<int64_t>(prefix.size()));
    } else if (!items.is_null()) {
      item = visit(items, pointer_child(path, "items"));
    } else {
      item = primitive("value");
    }
    if (max >= 0 && max < min) error(path, "minItems exceeds the number of items allowed: no array is valid");
    if (max == 0) return "\"[\" " + ws + " \"]\"";
    const int64_t n_prefix = static_cast<int64_t>(prefix.size());
    // Element j (written after j others): a prefix item or the item schema.
    const auto element = [&](int64_t j) { return j < n_prefix ? prefix[static_cast<size_t>(j)] : item; };
    // rest: elements j.. once j were written, built from the back. Past the prefix (or at
    // maxItems) it is a repetition of the item schema (or nothing); each prefix position
    // before that is a named rule, so a long prefixItems neither nests groups nor recurses.
    int64_t j = std::max<int64_t>(1, max >= 0 ? std::min(n_prefix, max) : n_prefix);
    std::string rest;
    if (!(max >= 0 && j >= max)) {
      const int64_t lo = std::max<int64_t>(0, min - j);
      const std::string reps = max < 0 ? fmt::format("{{{},}}", lo) : fmt::format("{{{},{}}}", lo, max - j);
      rest = "(\",\" " + ws + " " + item + " " + ws + ")" + reps;
    }
    while (--j >= 1) {
      const std::string here = "\",\" " + ws + " " + element(j) + " " + ws + (rest.empty() ? "" : " " + rest);
      rest = add_rule("items", j < min ? here : "(" + here + ")?");
    }
    const std::string body = element(0) + " " + ws + (rest.empty() ? "" : " " + rest);
    return "\"[\" " + ws + " " + (min > 0 ? body : "(" + body + ")?") + " \"]\"";
  }

  static constexpr int kMaxDepth = 100;
  int depth_ = 0;
  const json& root_;
  std::string prefix_;
  SchemaBudget& budget_;
  std::map<std::string, int> next_suffix_;  // fresh_name: next number to try per base name
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> defined_;
  std::map<std::string, std::string> by_body_;
  std::map<std::string, std::string> refs_;
};

}  // namespace

JsonSchemaRules json_schema_to_rules(const json& schema, std::string_view prefix, SchemaBudget* budget) {
  SchemaBudget own;
  return Converter(schema, std::string(prefix), budget ? *budget : own).run();
}

std::string json_schema_to_grammar(const json& schema, SchemaBudget* budget) {
  const JsonSchemaRules rules = json_schema_to_rules(schema, "js", budget);
  return "root ::= " + rules.root + "\n" + rules.rules;
}

std::string json_object_grammar() {
  const json any_value = json::object();
  SchemaBudget budget;
  Converter converter(any_value, "js", budget);
  const std::string object = converter.primitive("object");
  return "root ::= " + object + "\n" + converter.rules_text();
}

}  // namespace rpu
