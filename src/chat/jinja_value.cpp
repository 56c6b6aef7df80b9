#include "chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "chat/jinja_error.h"
#include "chat/jinja_unicode.h"

namespace rpu::jinja {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::Hole: return "undefined (raw)";
    case Kind::Undefined: return "UndefinedValue";
    case Kind::None: return "NullValue";
    case Kind::Bool: return "BooleanValue";
    case Kind::Int: return "IntegerValue";
    case Kind::Float: return "FloatValue";
    case Kind::String: return "StringValue";
    case Kind::Array: return "ArrayValue";
    case Kind::Tuple: return "TupleValue";
    case Kind::Object: return "ObjectValue";
    case Kind::KwArgs: return "KeywordArgumentsValue";
    case Kind::Namespace: return "NamespaceValue";
    case Kind::Function: return "FunctionValue";
  }
  return "?";
}

Value Value::hole() {
  Value v;
  v.kind_ = Kind::Hole;
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.bool_ = b;
  return v;
}
Value Value::integer(double n) {
  Value v;
  v.kind_ = Kind::Int;
  v.num_ = n;
  return v;
}
Value Value::floating(double n) {
  Value v;
  v.kind_ = Kind::Float;
  v.num_ = n;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.ptr_ = std::make_shared<std::string>(std::move(s));
  return v;
}
Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::Array;
  v.ptr_ = std::make_shared<std::vector<Value>>(std::move(items));
  return v;
}
Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::Tuple;
  return v;
}
Value Value::object(Dict d) {
  Value v;
  v.kind_ = Kind::Object;
  v.ptr_ = std::make_shared<Dict>(std::move(d));
  return v;
}
Value Value::kwargs(Dict d) {
  Value v = object(std::move(d));
  v.kind_ = Kind::KwArgs;
  return v;
}
Value Value::namespace_(Dict d) {
  Value v = object(std::move(d));
  v.kind_ = Kind::Namespace;
  return v;
}
Value Value::function(std::string name, NativeFn fn) {
  Value v;
  v.kind_ = Kind::Function;
  v.ptr_ = std::make_shared<Function>(Function{std::move(name), std::move(fn)});
  return v;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

void Dict::set(std::string_view key, Value value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::string(key), std::move(value));
}

bool Dict::remove(std::string_view key) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == key) {
      entries_.erase(it);
      return true;
    }
  }
  return false;
}

void Env::set(std::string_view name, Value value) {
  // A raw undefined stored in a variable reads back as undefined in the reference.
  if (value.is_hole()) value = Value();
  for (auto& [k, v] : vars_) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  vars_.emplace_back(std::string(name), std::move(value));
}

bool Env::has_own(std::string_view name) const {
  for (const auto& entry : vars_)
    if (entry.first == name) return true;
  return false;
}

Value Env::lookup(std::string_view name) const {
  for (const Env* env = this; env != nullptr; env = env->parent_.get())
    for (const auto& [k, v] : env->vars_)
      if (k == name) return v;
  return Value();
}

// ---- numbers -----------------------------------------------------------------------------------

std::string js_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return "0";
  char buf[64];
  // Shortest round-trip digits, then laid out by ECMAScript Number::toString's rules.
  const auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
  const std::string sci(buf, res.ptr);
  const std::size_t e = sci.find('e');
  std::string digits;
  for (std::size_t i = 0; i < e; ++i)
    if (sci[i] != '.') digits += sci[i];
  const int n = std::atoi(sci.c_str() + e + 1) + 1;  // value = 0.digits * 10^n
  const int k = static_cast<int>(digits.size());
  std::string out = v < 0 ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits + std::string(n - k, '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(-n, '0') + digits;
  } else {
    const int exp = n - 1;
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += exp >= 0 ? "e+" : "e-";
    out += std::to_string(exp >= 0 ? exp : -exp);
  }
  return out;
}

std::string float_repr(double v) {
  if (v == 0 && std::signbit(v)) return "-0.0";
  if (std::isfinite(v) && std::fmod(v, 1.0) == 0) {
    // toFixed(1): exact digits below 1e21, plain toString above.
    if (std::fabs(v) >= 1e21) return js_number(v);
    return fmt::format("{:.1f}", v);
  }
  return js_number(v);
}

double js_string_to_number(std::string_view s) {
  s = js_trim(s);
  if (s.empty()) return 0;
  const auto all = [&](std::string_view t, auto pred) {
    return !t.empty() && std::all_of(t.begin(), t.end(), pred);
  };
  if (s.size() > 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (base != 0) {
      const std::string_view body = s.substr(2);
      double value = 0;
      for (char c : body) {
        int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : 99;
        if (d >= base) return NAN;
        value = value * base + d;
      }
      return value;
    }
  }
  std::string_view body = s;
  bool negative = false;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "Infinity") return negative ? -INFINITY : INFINITY;
  // StrUnsignedDecimalLiteral: digits [. digits] | . digits, then an optional exponent.
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0;
  while (i < body.size() && is_digit(body[i])) ++i;
  std::size_t int_digits = i;
  std::size_t frac_digits = 0;
  if (i < body.size() && body[i] == '.') {
    ++i;
    const std::size_t start = i;
    while (i < body.size() && is_digit(body[i])) ++i;
    frac_digits = i - start;
  }
  if (int_digits + frac_digits == 0) return NAN;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < body.size() && (body[j] == '+' || body[j] == '-')) ++j;
    if (!all(body.substr(j), is_digit)) return NAN;
    i = body.size();
  }
  if (i != body.size()) return NAN;
  return std::strtod(std::string(s).c_str(), nullptr);
}

// ---- strings and JSON --------------------------------------------------------------------------

std::string json_quote(std::string_view s, bool ensure_ascii) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t start = i;
      const char32_t cp = next_code_point(s, i);
      if (!ensure_ascii) {
        out.append(s.substr(start, i - start));
      } else if (cp < 0x10000) {
        out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));
      } else {
        const unsigned v = static_cast<unsigned>(cp) - 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else if (c == 0x7F && ensure_ascii) {
          out += "\\u007f";  // the reference's ensure_ascii range starts at U+007F
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

namespace {

// localeCompare (ICU root collation) for printable ASCII: primary order of the characters, case
// only as a tie-breaker (lower first). Keys outside printable ASCII are refused rather than
// guessed at.
constexpr std::string_view kCollationOrder =
    " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ";

int collation_primary(char c) {
  const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return static_cast<int>(kCollationOrder.find(lower));
}

bool locale_less(const std::string& a, const std::string& b) {
  for (const std::string* s : {&a, &b})
    for (char c : *s)
      if (c < 0x20 || c > 0x7E) raise("tojson(sort_keys=true) supports only printable ASCII keys, got " + json_quote(*s, true));
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const int pa = collation_primary(a[i]), pb = collation_primary(b[i]);
    if (pa != pb) return pa < pb;
  }
  if (a.size() != b.size()) return a.size() < b.size();
  for (std::size_t i = 0; i < n; ++i) {
    const bool ua = a[i] >= 'A' && a[i] <= 'Z', ub = b[i] >= 'A' && b[i] <= 'Z';
    if (ua != ub) return !ua;
  }
  return false;
}

std::string json_number(double v) { return std::isfinite(v) ? js_number(v) : "null"; }

void check_depth(int depth) {
  if (depth > kMaxValueDepth) raise("value nesting deeper than " + std::to_string(kMaxValueDepth) + " (cyclic namespace?)");
}

}  // namespace

void check_built_string(std::size_t bytes) {
  if (bytes > kMaxBuiltStringBytes) raise("string longer than " + std::to_string(kMaxBuiltStringBytes) + " bytes");
}

namespace {

std::string to_json_at(const Value& v, const JsonOptions& o, int depth) {
  check_depth(depth);
  const bool indented = o.indent.has_value() && *o.indent != 0;
  std::string item_sep = ", ", key_sep = ": ";
  if (o.separators) {
    item_sep = o.separators->first;
    key_sep = o.separators->second;
  } else if (indented) {
    item_sep = ",";
  }
  switch (v.kind()) {
    case Kind::None: return "null";
    case Kind::Undefined: return o.undefined_as_null ? "null" : "undefined";
    case Kind::Int:
    case Kind::Float: return json_number(v.number());
    case Kind::Bool: return v.bool_value() ? "true" : "false";
    case Kind::String: return json_quote(v.str(), o.ensure_ascii);
    case Kind::Tuple:
    case Kind::KwArgs:
      // The reference's toJSON has no case for these: printing or tojson of a tuple fails there.
      raise(std::string("cannot convert to JSON: ") + kind_name(v.kind()));
    case Kind::Array:
    case Kind::Object:
    case Kind::Namespace: {
      if (indented && (*o.indent < 0 || *o.indent > 1000)) raise("tojson indent must be between 0 and 1000");
      const std::string indent_unit = indented ? std::string(static_cast<std::size_t>(*o.indent), ' ') : "";
      std::string base = "\n";
      for (int i = 0; i < depth; ++i) base += indent_unit;
      const std::string child = base + indent_unit;
      std::string out;
      if (v.is_list()) {
        const auto& items = v.items();
        out += '[';
        if (indented && !items.empty()) out += child;
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (i > 0) out += indented ? item_sep + child : item_sep;
          out += to_json_at(items[i], o, depth + 1);
          check_built_string(out.size());
        }
        if (indented && !items.empty()) out += base;
        out += ']';
        return out;
      }
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& entry : v.dict().entries()) entries.push_back(&entry);
      if (o.sort_keys)
        std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return locale_less(a->first, b->first); });
      out += '{';
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out += item_sep;
        if (indented) out += child;
        out += json_quote(entries[i]->first, o.ensure_ascii) + key_sep + to_json_at(entries[i]->second, o, depth + 1);
        check_built_string(out.size());
      }
      if (indented && !entries.empty()) out += base;
      out += '}';
      return out;
    }
    case Kind::Function: raise("cannot convert to JSON: FunctionValue");
    case Kind::Hole: raise("cannot convert undefined to JSON");
  }
  return "";
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) { return to_json_at(v, options, 0); }

std::string display(const Value& v) {
  switch (v.kind()) {
    case Kind::Hole: raise("cannot print a raw undefined value (e.g. first/last of an empty list)");
    // The reference's NullValue holds JavaScript undefined, not null, so it too prints "undefined".
    case Kind::Undefined:
    case Kind::None: return "undefined";
    case Kind::Bool: return v.bool_value() ? "true" : "false";
    case Kind::Int: return js_number(v.number());
    case Kind::Float: return float_repr(v.number());
    case Kind::String: return v.str();
    case Kind::Function: raise("cannot print a function or macro (call it instead)");
    default: {
      JsonOptions o;
      o.undefined_as_null = false;
      return to_json(v, o);
    }
  }
}

std::string raw_string(const Value& v) {
  switch (v.kind()) {
    case Kind::Int:
    case Kind::Float: return js_number(v.number());
    case Kind::Array:
    case Kind::Tuple: {
      std::string out;
      bool first = true;
      for (const Value& item : v.items()) {
        if (!first) out += ',';
        first = false;
        if (!item.is_hole()) out += display(item);
        check_built_string(out.size());
      }
      return out;
    }
    case Kind::Object:
    case Kind::KwArgs:
    case Kind::Namespace: return "[object Map]";
    default: return display(v);
  }
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::Hole: raise("cannot test the truth of a raw undefined value");
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return v.bool_value();
    case Kind::Int:
    case Kind::Float: return v.number() != 0 && !std::isnan(v.number());
    case Kind::String: return !v.str().empty();
    case Kind::Array:
    case Kind::Tuple: return !v.items().empty();
    case Kind::Object:
    case Kind::KwArgs: return !v.dict().empty();
    case Kind::Namespace:
    case Kind::Function: return true;
  }
  return false;
}

bool raw_truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::Array:
    case Kind::Tuple:
    case Kind::Object:
    case Kind::KwArgs: return true;
    default: return truthy(v);
  }
}

namespace {

// The raw JavaScript value behind a runtime value. none's raw value is undefined too (the
// reference builds NullValue without an argument), so none === undefined there.
enum class RawType { Number, String, Bool, Undefined, Object };

RawType raw_type(const Value& v) {
  switch (v.kind()) {
    case Kind::Hole: raise("cannot compare a raw undefined value");
    case Kind::Undefined:
    case Kind::None: return RawType::Undefined;
    case Kind::Bool: return RawType::Bool;
    case Kind::Int:
    case Kind::Float: return RawType::Number;
    case Kind::String: return RawType::String;
    default: return RawType::Object;
  }
}

}  // namespace

bool strict_equals(const Value& a, const Value& b) {
  const RawType ta = raw_type(a), tb = raw_type(b);
  if (ta != tb) return false;
  switch (ta) {
    case RawType::Number: return a.number() == b.number();
    case RawType::String: return a.str() == b.str();
    case RawType::Bool: return a.bool_value() == b.bool_value();
    case RawType::Undefined: return true;
    case RawType::Object: return a.identity() == b.identity();
  }
  return false;
}

bool loose_equals(const Value& a, const Value& b) {
  const RawType ta = raw_type(a), tb = raw_type(b);
  if (ta == tb) return strict_equals(a, b);
  if (ta == RawType::Undefined || tb == RawType::Undefined) return false;
  if (ta == RawType::Number && tb == RawType::String) return a.number() == js_string_to_number(b.str());
  if (ta == RawType::String && tb == RawType::Number) return js_string_to_number(a.str()) == b.number();
  if (ta == RawType::Bool) return loose_equals(Value::integer(a.bool_value() ? 1 : 0), b);
  if (tb == RawType::Bool) return loose_equals(a, Value::integer(b.bool_value() ? 1 : 0));
  // A function converts to its JavaScript source text, which no template value equals.
  if (a.is(Kind::Function) || b.is(Kind::Function)) return false;
  // Object against a primitive: JavaScript converts the object with its toString.
  if (ta == RawType::Object) return loose_equals(Value::string(raw_string(a)), b);
  if (tb == RawType::Object) return loose_equals(a, Value::string(raw_string(b)));
  return false;
}

}  // namespace rpu::jinja
