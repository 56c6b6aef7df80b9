// The jinja value model, mirroring @huggingface/jinja's runtime values so that printing,
// truthiness, equality and JSON output match the renderer transformers.js uses:
//   undefined, none, bool, int and float (both JavaScript doubles; int only records integer-ness),
//   string (UTF-8), list / tuple, dict (insertion ordered), kwargs, namespace, function (builtins
//   and macros).
// Containers have reference semantics (namespaces are mutated in place; `==` on containers is
// identity, as in JavaScript). `Hole` models a raw JavaScript `undefined` that escapes the
// reference's value wrappers (e.g. `[]|first`): most operations on it are errors there, so here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rpu::jinja {

enum class Kind : std::uint8_t { Hole, Undefined, None, Bool, Int, Float, String, Array, Tuple, Object, KwArgs, Namespace, Function };

// The reference's type names ("IntegerValue", ...), used in error messages.
const char* kind_name(Kind kind);

class Value;
class Dict;
class Env;
using EnvPtr = std::shared_ptr<Env>;
using Args = std::vector<Value>;
// A callable receives positional arguments (keyword arguments, if any, as a trailing KwArgs value)
// and the scope of the call site (macros see the caller's variables, as in the reference).
using NativeFn = std::function<Value(Args& args, const EnvPtr& scope)>;

struct Function {
  std::string name;
  NativeFn call;
};

class Value {
 public:
  Value() = default;  // undefined

  static Value hole();
  static Value none();
  static Value boolean(bool b);
  static Value integer(double v);
  static Value floating(double v);
  static Value string(std::string s);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value object(Dict d);
  static Value kwargs(Dict d);
  static Value namespace_(Dict d);
  static Value function(std::string name, NativeFn fn);

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }
  bool is_hole() const { return kind_ == Kind::Hole; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float; }
  bool is_list() const { return kind_ == Kind::Array || kind_ == Kind::Tuple; }       // ArrayValue
  bool is_mapping() const { return kind_ == Kind::Object || kind_ == Kind::KwArgs; }  // ObjectValue
  bool is_attribute_container() const { return is_mapping() || kind_ == Kind::Namespace; }

  bool bool_value() const { return bool_; }
  double number() const { return num_; }
  const std::string& str() const { return *static_cast<const std::string*>(ptr_.get()); }
  std::vector<Value>& items() const { return *static_cast<std::vector<Value>*>(ptr_.get()); }
  Dict& dict() const { return *static_cast<Dict*>(ptr_.get()); }
  const Function& fn() const { return *static_cast<const Function*>(ptr_.get()); }
  const void* identity() const { return ptr_.get(); }

 private:
  Kind kind_ = Kind::Undefined;
  bool bool_ = false;
  double num_ = 0;
  std::shared_ptr<void> ptr_;
};

// Insertion-ordered string-keyed map (JavaScript Map semantics: setting an existing key keeps its
// position).
class Dict {
 public:
  const Value* find(std::string_view key) const;
  void set(std::string_view key, Value value);
  bool remove(std::string_view key);
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
};

// A variable scope; lookups walk the parent chain.
class Env {
 public:
  explicit Env(EnvPtr parent = nullptr) : parent_(std::move(parent)) {}
  void set(std::string_view name, Value value);
  bool has_own(std::string_view name) const;
  Value lookup(std::string_view name) const;  // undefined when not found anywhere

 private:
  EnvPtr parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

// ---- conversions with the reference's exact output -------------------------------------------

// Number.prototype.toString (shortest round trip, JavaScript exponent rules).
std::string js_number(double v);
// How a FloatValue prints: 1 -> "1.0", -0 -> "-0.0", otherwise like js_number.
std::string float_repr(double v);

// RuntimeValue.toString(): what {{ value }} prints (none/undefined print nothing at block level,
// but "undefined" here, e.g. in `'a' ~ [none]`).
std::string display(const Value& v);
// String(value.value): what `~`, `+` and the `join` filter use (floats lose ".0", lists join with
// ",", dicts become "[object Map]").
std::string raw_string(const Value& v);

struct JsonOptions {
  std::optional<long long> indent;
  bool ensure_ascii = false;
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
  bool undefined_as_null = true;
};
std::string to_json(const Value& v, const JsonOptions& options);
// JSON.stringify of a string.
std::string json_quote(std::string_view s, bool ensure_ascii);

// __bool__(): Python-like truthiness (empty list/dict false; namespaces and functions true).
bool truthy(const Value& v);
// JavaScript truthiness of the raw value (every list/dict is true).
bool raw_truthy(const Value& v);
// JavaScript `==` and `===` on the raw values (containers compare by identity).
bool loose_equals(const Value& a, const Value& b);
bool strict_equals(const Value& a, const Value& b);
// JavaScript ToNumber on a string (NaN when not numeric).
double js_string_to_number(std::string_view s);

// The nesting depth beyond which printing / JSON refuses (cyclic namespaces would recurse forever).
constexpr int kMaxValueDepth = 256;

// The longest string a conversion or builtin (printing a list, tojson, replace, indent) may build.
// They run outside the interpreter's budget accounting, and a list holding one 32 MB string a
// million times would otherwise print as terabytes before any limit saw the result.
constexpr std::size_t kMaxBuiltStringBytes = std::size_t{64} << 20;
// Raises "string longer than ..." when `bytes` exceeds kMaxBuiltStringBytes.
void check_built_string(std::size_t bytes);

}  // namespace rpu::jinja
