// Filters, ported from @huggingface/jinja's Interpreter.applyFilter. The reference dispatches on
// the operand's type and on whether the filter was written with parentheses (`x|trim` vs
// `x|indent(2)`), and which filters exist differs between the two forms; this file keeps that
// structure so the same templates succeed and the same ones fail.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <unordered_set>

#include "chat/jinja_builtins.h"
#include "chat/jinja_error.h"
#include "chat/jinja_unicode.h"

namespace rpu::jinja {

namespace {

[[noreturn]] void cannot_apply(const std::string& name, const Value& operand) {
  raise("cannot apply filter \"" + name + "\" to type: " + kind_name(operand.kind()));
}

// parseInt(s, 10): leading whitespace, optional sign, then as many digits as there are.
double js_parse_int(std::string_view s) {
  s = js_trim_start(s);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  std::size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0) return NAN;
  const double v = std::strtod(std::string(s.substr(0, n)).c_str(), nullptr);
  return negative ? -v : v;
}

// parseFloat: the longest prefix that is a decimal literal (or Infinity).
double js_parse_float(std::string_view s) {
  s = js_trim_start(s);
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (s.substr(i, 8) == "Infinity") return s[0] == '-' ? -INFINITY : INFINITY;
  const auto digits = [&](std::size_t& k) {
    const std::size_t start = k;
    while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k;
    return k - start;
  };
  std::size_t mantissa = digits(i);
  if (i < s.size() && s[i] == '.') {
    std::size_t k = i + 1;
    const std::size_t frac = digits(k);
    if (mantissa + frac > 0) i = k, mantissa += frac;
  }
  if (mantissa == 0) return NAN;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t k = i + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    if (digits(k) > 0) i = k;
  }
  return std::strtod(std::string(s.substr(0, i)).c_str(), nullptr);
}

// Array.prototype.join over the raw values: null/undefined join as empty strings.
std::string join_raw(Interpreter& interp, const std::vector<Value>& items, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Value& item = items[i];
    if (item.is_hole()) raise("cannot join a raw undefined value");
    if (i > 0) out += sep;
    if (!item.is_none() && !item.is_undefined()) out += raw_string(item);
    interp.check_string_size(out.size());
  }
  return out;
}

std::string indent_lines(const std::string& s, long long width, bool first, bool blank) {
  if (width < 0 || width > 10000) raise("indent width must be between 0 and 10000");
  const std::string pad(static_cast<std::size_t>(width), ' ');
  // Every line gains the pad: refuse before building a result of lines x width bytes.
  const auto lines = static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')) + 1;
  check_built_string(s.size() + lines * pad.size());
  std::string out;
  std::size_t start = 0;
  for (std::size_t line = 0;; ++line) {
    const std::size_t end = s.find('\n', start);
    const std::string_view text = std::string_view(s).substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!((!first && line == 0) || (!blank && text.empty()))) out += pad;
    out += text;
    if (end == std::string::npos) break;
    out += '\n';
    start = end + 1;
  }
  return out;
}

// getAttributeValue: "a.b.0" walks dicts by key and lists by index.
Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v.is_attribute_container()) {
      const Value* found = v.dict().find(part);
      v = found && !found->is_hole() ? *found : Value();
    } else if (v.is_list()) {
      const double index = js_parse_int(part);
      if (std::isnan(index) || index < 0 || index >= static_cast<double>(v.items().size())) return Value();
      v = v.items()[static_cast<std::size_t>(index)];
    } else {
      return Value();
    }
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value unique(const std::vector<Value>& items) {
  // SameValueZero on the raw values: equal strings / numbers / booleans, identical containers.
  std::unordered_set<std::string> strings;
  std::set<double> numbers;
  std::set<const void*> objects;
  bool seen_nan = false, seen_true = false, seen_false = false, seen_undefined = false;
  std::vector<Value> out;
  for (const Value& item : items) {
    bool fresh = false;
    switch (item.kind()) {
      case Kind::Hole: raise("unique: raw undefined value in list");
      case Kind::String: fresh = strings.insert(item.str()).second; break;
      case Kind::Int:
      case Kind::Float:
        if (std::isnan(item.number())) {
          fresh = !seen_nan;
          seen_nan = true;
        } else {
          fresh = numbers.insert(item.number() == 0 ? 0.0 : item.number()).second;
        }
        break;
      case Kind::Bool: {
        bool& seen = item.bool_value() ? seen_true : seen_false;
        fresh = !seen;
        seen = true;
        break;
      }
      case Kind::None:  // none's raw value is undefined as well
      case Kind::Undefined: fresh = !seen_undefined, seen_undefined = true; break;
      default: fresh = objects.insert(item.identity()).second;
    }
    if (fresh) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value apply_bare(Interpreter& interp, const Value& operand, const std::string& name, const EnvPtr& env) {
  if (operand.is_list()) {
    const auto& items = operand.items();
    if (name == "list") return operand;
    if (name == "first") return items.empty() ? Value::hole() : items.front();
    if (name == "last") return items.empty() ? Value::hole() : items.back();
    if (name == "length") return Value::integer(static_cast<double>(items.size()));
    if (name == "reverse") return Value::list(std::vector<Value>(items.rbegin(), items.rend()));
    if (name == "sort") {
      std::vector<Value> sorted = items;
      stable_sort_values(sorted, [](const Value& a, const Value& b) { return compare_values(a, b, false); });
      return Value::list(std::move(sorted));
    }
    if (name == "join") return Value::string(join_raw(interp, items, ""));
    if (name == "string") {
      JsonOptions o;
      o.undefined_as_null = false;
      return Value::string(to_json(operand, o));
    }
    if (name == "unique") return unique(items);
    raise("unknown ArrayValue filter: " + name);
  }
  if (operand.is_string()) {
    const std::string& s = operand.str();
    if (name == "length" || name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
      const Value member = builtin_member(operand, name);
      if (member.is(Kind::Function)) {
        Args none;
        return member.fn().call(none, env);
      }
      return member;
    }
    if (name == "trim") return Value::string(std::string(js_trim(s)));
    if (name == "indent") return Value::string(indent_lines(s, 4, false, false));
    if (name == "join" || name == "string") return operand;
    if (name == "int") {
      const double v = js_parse_int(s);
      return Value::integer(std::isnan(v) ? 0 : v);
    }
    if (name == "float") {
      const double v = js_parse_float(s);
      return Value::floating(std::isnan(v) ? 0 : v);
    }
    raise("unknown StringValue filter: " + name);
  }
  if (operand.is_number()) {
    if (name == "abs") return operand.is(Kind::Int) ? Value::integer(std::fabs(operand.number())) : Value::floating(std::fabs(operand.number()));
    if (name == "int") return Value::integer(std::floor(operand.number()));
    if (name == "float") return Value::floating(operand.number());
    if (name == "string") return Value::string(display(operand));
    raise("unknown NumericValue filter: " + name);
  }
  if (operand.is_mapping()) {
    if (name == "items") {
      Args none;
      return builtin_member(operand, "items").fn().call(none, env);
    }
    if (name == "length") return Value::integer(static_cast<double>(operand.dict().size()));
    const Value member = builtin_member(operand, name);
    if (member.is(Kind::Function)) {
      Args none;
      return member.fn().call(none, env);
    }
    raise("unknown ObjectValue filter: " + name);
  }
  if (operand.is(Kind::Bool)) {
    const bool b = operand.bool_value();
    if (name == "bool") return operand;
    if (name == "int") return Value::integer(b ? 1 : 0);
    if (name == "float") return Value::floating(b ? 1 : 0);
    if (name == "string") return Value::string(b ? "true" : "false");
    raise("unknown BooleanValue filter: " + name);
  }
  cannot_apply(name, operand);
}

// A filter written with parentheses: its name and argument nodes, evaluated on demand (a
// filter that reads its argument nodes unevaluated, as selectattr does, never calls evaluate).
struct FilterCall {
  Interpreter& interp;
  const Node& call;
  const EnvPtr& env;
  const std::string& name;
  Args args;
  Dict kwargs;

  void evaluate() { interp.evaluate_arguments(call.kids, 1, env, args, kwargs); }
  // Positional argument i, else keyword `key` (when given), else the fallback.
  Value arg(std::size_t i, const char* key, const Value& fallback) const {
    if (i < args.size()) return args[i];
    if (key != nullptr)
      if (const Value* v = kwargs.find(key)) return *v;
    return fallback;
  }
};

Value tojson_filter(const Value& operand, FilterCall& c) {
  c.evaluate();  // only keyword arguments count, as in the reference
  JsonOptions o;
  const Value* indent = c.kwargs.find("indent");
  if (indent && !indent->is(Kind::Int) && !indent->is_none()) raise("if set, indent must be a number");
  if (indent && indent->is(Kind::Int)) o.indent = static_cast<long long>(indent->number());
  const Value* ascii = c.kwargs.find("ensure_ascii");
  if (ascii && !ascii->is(Kind::Bool)) raise("if set, ensure_ascii must be a boolean");
  o.ensure_ascii = ascii && ascii->bool_value();
  const Value* sort = c.kwargs.find("sort_keys");
  if (sort && !sort->is(Kind::Bool)) raise("if set, sort_keys must be a boolean");
  o.sort_keys = sort && sort->bool_value();
  const Value* seps = c.kwargs.find("separators");
  if (seps && seps->is_list()) {
    const auto& p = seps->items();
    if (p.size() != 2 || !p[0].is_string() || !p[1].is_string()) raise("separators must be a tuple of two strings");
    o.separators = std::make_pair(p[0].str(), p[1].str());
  } else if (seps && !seps->is_none()) {
    raise("if set, separators must be a tuple of two strings");
  }
  return Value::string(to_json(operand, o));
}

Value join_filter(const Value& operand, FilterCall& c) {
  std::vector<Value> items;
  if (operand.is_string()) {
    for (char32_t cp : code_points(operand.str())) {
      std::string ch;
      append_utf8(ch, cp);
      items.push_back(Value::string(std::move(ch)));
    }
  } else if (operand.is_list()) {
    items = operand.items();
  } else {
    cannot_apply(c.name, operand);
  }
  c.evaluate();
  const Value sep = c.arg(0, "separator", Value::string(""));
  if (!sep.is_string()) raise("separator must be a string");
  return Value::string(join_raw(c.interp, items, sep.str()));
}

// int(default) / float(default).
Value number_filter(const Value& operand, FilterCall& c) {
  c.evaluate();
  const bool to_int = c.name == "int";
  const Value fallback = c.arg(0, "default", to_int ? Value::integer(0) : Value::floating(0));
  if (operand.is_string()) {
    const double v = to_int ? js_parse_int(operand.str()) : js_parse_float(operand.str());
    return std::isnan(v) ? fallback : to_int ? Value::integer(v) : Value::floating(v);
  }
  if (operand.is_number()) return operand;  // unchanged, even 1.5|int(0)
  if (operand.is(Kind::Bool)) return to_int ? Value::integer(operand.bool_value()) : Value::floating(operand.bool_value());
  cannot_apply(c.name, operand);
}

Value default_filter(const Value& operand, FilterCall& c) {
  c.evaluate();
  const Value fallback = !c.args.empty() ? c.args[0] : Value::string("");
  const Value boolean = c.arg(1, "boolean", Value::boolean(false));
  if (!boolean.is(Kind::Bool)) raise("`default` filter flag must be a boolean");
  if (operand.is_undefined() || (boolean.bool_value() && !truthy(operand))) return fallback;
  return operand;
}

Value sort_filter(const std::vector<Value>& items, FilterCall& c) {
  c.evaluate();
  const Value reverse = c.arg(0, "reverse", Value::boolean(false));
  if (!reverse.is(Kind::Bool)) raise("reverse must be a boolean");
  const Value case_sensitive = c.arg(1, "case_sensitive", Value::boolean(false));
  if (!case_sensitive.is(Kind::Bool)) raise("case_sensitive must be a boolean");
  const Value attribute = c.arg(2, "attribute", Value::none());
  if (!attribute.is_string() && !attribute.is(Kind::Int) && !attribute.is_none())
    raise("attribute must be a string, integer, or null");
  const auto key = [&](const Value& item) {
    if (attribute.is_none()) return item;
    return attribute_path(item, attribute.is_string() ? attribute.str() : js_number(attribute.number()));
  };
  std::vector<Value> sorted = items;
  stable_sort_values(sorted, [&](const Value& a, const Value& b) {
    const int r = compare_values(key(a), key(b), case_sensitive.bool_value());
    return reverse.bool_value() ? -r : r;
  });
  return Value::list(std::move(sorted));
}

// selectattr / rejectattr: the arguments must be string literals (attribute, test, its argument).
Value select_attr_filter(const std::vector<Value>& items, FilterCall& c) {
  const bool select = c.name == "selectattr";
  const auto& kids = c.call.kids;
  for (const Value& item : items)
    if (!item.is_attribute_container()) raise("`" + c.name + "` can only be applied to array of objects");
  for (std::size_t i = 1; i < kids.size(); ++i)
    if (kids[i]->type != NodeType::StringLiteral) raise("arguments of `" + c.name + "` must be strings");
  std::vector<Value> strs;
  for (std::size_t i = 1; i < kids.size(); ++i) strs.push_back(c.interp.eval(*kids[i], c.env));
  if (strs.empty()) raise("`" + c.name + "` needs an attribute name");
  if (strs.size() > 1 && !has_test(strs[1].str())) raise("unknown test: " + strs[1].str());
  std::vector<Value> out;
  for (const Value& item : items) {
    const Value* a = item.dict().find(strs[0].str());
    bool result = false;
    if (a != nullptr && !a->is_hole())
      result = strs.size() > 1 ? run_test(strs[1].str(), *a, strs.size() > 2 ? &strs[2] : nullptr) : truthy(*a);
    if (select == result) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value map_filter(const std::vector<Value>& items, FilterCall& c) {
  c.evaluate();
  const Value* attr = c.kwargs.find("attribute");
  if (attr == nullptr) raise("`map` expressions without `attribute` set are not supported");
  if (!attr->is_string()) raise("attribute must be a string");
  const Value* fallback = c.kwargs.find("default");
  std::vector<Value> out;
  for (const Value& item : items) {
    if (!item.is_attribute_container()) raise("items in map must be an object");
    const Value v = attribute_path(item, attr->str());
    out.push_back(v.is_undefined() && fallback ? *fallback : v);
  }
  return Value::list(std::move(out));
}

Value string_call(const Value& operand, FilterCall& c) {
  if (c.name == "indent") {
    c.evaluate();
    const Value width = c.arg(0, "width", Value::integer(4));
    if (!width.is(Kind::Int)) raise("width must be a number");
    const bool first = raw_truthy(c.arg(1, "first", Value::boolean(false)));
    const bool blank = raw_truthy(c.arg(2, "blank", Value::boolean(false)));
    return Value::string(indent_lines(operand.str(), static_cast<long long>(width.number()), first, blank));
  }
  if (c.name == "replace") {
    c.evaluate();
    c.args.push_back(Value::kwargs(std::move(c.kwargs)));
    return builtin_member(operand, "replace").fn().call(c.args, c.env);
  }
  raise("unknown StringValue filter: " + c.name);
}

Value mapping_call(const Value& operand, FilterCall& c) {
  const Value member = builtin_member(operand, c.name);
  if (!member.is(Kind::Function)) raise("unknown ObjectValue filter: " + c.name);
  c.evaluate();
  if (!c.kwargs.empty()) c.args.push_back(Value::kwargs(std::move(c.kwargs)));
  return member.fn().call(c.args, c.env);
}

Value apply_call(Interpreter& interp, const Value& operand, const Node& call, const EnvPtr& env) {
  const Node& callee = *call.kids[0];
  if (callee.type != NodeType::Identifier) raise("unknown filter syntax");
  FilterCall c{interp, call, env, callee.str, {}, {}};
  const std::string& name = callee.str;
  // Filters of any operand first, then by the operand's type, in the reference's order.
  if (name == "tojson") return tojson_filter(operand, c);
  if (name == "join") return join_filter(operand, c);
  if (name == "int" || name == "float") return number_filter(operand, c);
  if (name == "default") return default_filter(operand, c);
  if (operand.is_list()) {
    if (name == "sort") return sort_filter(operand.items(), c);
    if (name == "selectattr" || name == "rejectattr") return select_attr_filter(operand.items(), c);
    if (name == "map") return map_filter(operand.items(), c);
    raise("unknown ArrayValue filter: " + name);
  }
  if (operand.is_string()) return string_call(operand, c);
  if (operand.is_mapping()) return mapping_call(operand, c);
  cannot_apply(name, operand);
}

}  // namespace

namespace {

Value apply_filter_uncharged(Interpreter& interp, const Value& operand, const Node& filter, const EnvPtr& env) {
  if (filter.type == NodeType::Identifier) {
    if (filter.str == "safe") return operand;
    if (filter.str == "tojson") return Value::string(to_json(operand, JsonOptions{}));
    return apply_bare(interp, operand, filter.str, env);
  }
  if (filter.type == NodeType::Call) return apply_call(interp, operand, filter, env);
  raise("unknown filter syntax");
}

}  // namespace

// A filter reads its operand (length counts code points, sort compares items) and builds its
// result: both are charged to the render's work budget.
Value apply_filter(Interpreter& interp, const Value& operand, const Node& filter, const EnvPtr& env) {
  interp.charge(size_cost(operand));
  Value result = apply_filter_uncharged(interp, operand, filter, env);
  interp.charge(size_cost(result));
  return result;
}

}  // namespace rpu::jinja
