// Methods, tests and globals of the reference renderer (filters live in jinja_filters.cpp).
#include "chat/jinja_builtins.h"

#include <algorithm>
#include <cmath>

#include "chat/jinja_error.h"
#include "chat/jinja_unicode.h"

namespace rpu::jinja {

namespace {

// utils.titleCase: /\b\w/g upper-cased. JavaScript's \w and \b are ASCII-only, and unlike
// Python's str.title() the rest of each word is left alone.
std::string title_case(const std::string& s) {
  const auto word = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  std::string out = s;
  for (std::size_t i = 0; i < out.size(); ++i)
    if (word(out[i]) && (i == 0 || !word(out[i - 1])) && out[i] >= 'a' && out[i] <= 'z') out[i] = static_cast<char>(out[i] - 32);
  return out;
}

// charAt(0).toUpperCase() + slice(1): only the first UTF-16 unit changes (an astral first
// character is a lone surrogate there, which has no case).
std::string capitalize(const std::string& s) {
  if (s.empty()) return s;
  std::size_t i = 0;
  const char32_t cp = next_code_point(s, i);
  if (cp >= 0x10000) return s;
  std::string first;
  append_utf8(first, cp);
  return js_to_upper(first) + s.substr(i);
}

Value str_fn(const Value& self, const char* name, std::string (*f)(const std::string&)) {
  return Value::function(name, [self, f](Args&, const EnvPtr&) { return Value::string(f(self.str())); });
}

Value affix_fn(const Value& self, bool prefix) {
  const char* name = prefix ? "startswith" : "endswith";
  return Value::function(name, [self, prefix, name](Args& args, const EnvPtr&) {
    const std::string& s = self.str();
    const auto matches = [&](const std::string& p) {
      return p.size() <= s.size() && (prefix ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0);
    };
    if (args.empty()) raise(std::string(name) + "() requires at least one argument");
    const Value& pattern = args[0];
    if (pattern.is_string()) return Value::boolean(matches(pattern.str()));
    if (pattern.is_list()) {
      for (const Value& item : pattern.items()) {
        if (!item.is_string()) raise(std::string(name) + "() tuple elements must be strings");
        if (matches(item.str())) return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    raise(std::string(name) + "() argument must be a string or tuple of strings");
  });
}

Value split_fn(const Value& self) {
  return Value::function("split", [self](Args& args, const EnvPtr&) {
    const Value sep = args.size() > 0 ? args[0] : Value::none();
    if (!sep.is_string() && !sep.is_none()) raise("sep argument must be a string or null");
    const Value maxsplit = args.size() > 1 ? args[1] : Value::integer(-1);
    if (!maxsplit.is(Kind::Int)) raise("maxsplit argument must be a number");
    const double limit = maxsplit.number();
    std::vector<Value> parts;
    const std::string& s = self.str();
    if (sep.is_none()) {
      // Runs of whitespace separate; with maxsplit the remainder keeps its trailing whitespace.
      const std::string_view text = js_trim_start(s);
      std::size_t i = 0;
      while (i < text.size()) {
        std::size_t start = i;
        i += js_space_prefix(text.substr(i));
        start = i;
        if (start >= text.size()) break;
        while (i < text.size()) {
          std::size_t next = i;
          if (is_js_space(next_code_point(text, next))) break;
          i = next;
        }
        if (limit != -1 && static_cast<double>(parts.size()) >= limit) {
          parts.push_back(Value::string(std::string(text.substr(start))));
          break;
        }
        parts.push_back(Value::string(std::string(text.substr(start, i - start))));
      }
    } else {
      const std::string& d = sep.str();
      if (d.empty()) raise("empty separator");
      std::vector<std::string> pieces;
      std::size_t start = 0;
      for (std::size_t at; (at = s.find(d, start)) != std::string::npos; start = at + d.size()) pieces.push_back(s.substr(start, at - start));
      pieces.push_back(s.substr(start));
      if (limit != -1 && static_cast<double>(pieces.size()) > limit) {
        // Array.prototype.splice(limit): a negative start counts from the end.
        const double n = static_cast<double>(pieces.size());
        const std::size_t keep = static_cast<std::size_t>(limit < 0 ? std::max(n + limit, 0.0) : std::min(limit, n));
        std::string rest;
        for (std::size_t k = keep; k < pieces.size(); ++k) rest += (k > keep ? d : "") + pieces[k];
        pieces.resize(keep);
        pieces.push_back(rest);
      }
      for (auto& p : pieces) parts.push_back(Value::string(std::move(p)));
    }
    return Value::list(std::move(parts));
  });
}

// utils.replace: Python's str.replace (count limits the replacements; an empty needle inserts
// between code points).
std::string replace_all(const std::string& s, const std::string& from, const std::string& to, double count) {
  if (count == 0) return s;
  double remaining = std::isnan(count) || count < 0 ? INFINITY : count;
  std::string out;
  if (from.empty()) {
    for (std::size_t i = 0;;) {
      if (remaining > 0) {
        out += to;
        --remaining;
        check_built_string(out.size());
      }
      if (i >= s.size()) break;
      const std::size_t start = i;
      next_code_point(s, i);
      out.append(s, start, i - start);
    }
    return out;
  }
  std::size_t start = 0;
  for (std::size_t at; remaining > 0 && (at = s.find(from, start)) != std::string::npos; start = at + from.size()) {
    out.append(s, start, at - start);
    out += to;
    --remaining;
    check_built_string(out.size());
  }
  out.append(s, start, std::string::npos);
  return out;
}

Value replace_fn(const Value& self) {
  return Value::function("replace", [self](Args& args, const EnvPtr&) {
    if (args.size() < 2) raise("replace() requires at least two arguments");
    if (!args[0].is_string() || !args[1].is_string()) raise("replace() arguments must be strings");
    Value count = Value::none();
    if (args.size() > 2) {
      if (args[2].is(Kind::KwArgs)) {
        const Value* c = args[2].dict().find("count");
        count = c ? *c : Value::none();
      } else {
        count = args[2];
      }
    }
    if (!count.is(Kind::Int) && !count.is_none()) raise("replace() count argument must be a number or null");
    return Value::string(replace_all(self.str(), args[0].str(), args[1].str(), count.is_none() ? -1 : count.number()));
  });
}

Value string_member(const Value& s, std::string_view name) {
  if (name == "upper") return str_fn(s, "upper", [](const std::string& x) { return js_to_upper(x); });
  if (name == "lower") return str_fn(s, "lower", [](const std::string& x) { return js_to_lower(x); });
  // strip / lstrip / rstrip ignore their argument in the reference: they always trim whitespace.
  if (name == "strip") return str_fn(s, "strip", [](const std::string& x) { return std::string(js_trim(x)); });
  if (name == "lstrip") return str_fn(s, "lstrip", [](const std::string& x) { return std::string(js_trim_start(x)); });
  if (name == "rstrip") return str_fn(s, "rstrip", [](const std::string& x) { return std::string(js_trim_end(x)); });
  if (name == "title") return str_fn(s, "title", title_case);
  if (name == "capitalize") return str_fn(s, "capitalize", capitalize);
  if (name == "length") return Value::integer(static_cast<double>(utf16_length(s.str())));
  if (name == "startswith") return affix_fn(s, true);
  if (name == "endswith") return affix_fn(s, false);
  if (name == "split") return split_fn(s);
  if (name == "replace") return replace_fn(s);
  return Value();
}

Value pair(const std::string& key, const Value& value) { return Value::list({Value::string(key), value}); }

Value object_member(const Value& obj, std::string_view name) {
  if (name == "get") {
    return Value::function("get", [obj](Args& args, const EnvPtr&) {
      if (args.empty() || !args[0].is_string())
        raise(std::string("object key must be a string: got ") + (args.empty() ? "nothing" : kind_name(args[0].kind())));
      const Value* found = obj.dict().find(args[0].str());
      if (found != nullptr && !found->is_hole()) return *found;
      return args.size() > 1 ? args[1] : Value::none();
    });
  }
  if (name == "items" || name == "keys" || name == "values") {
    const int which = name == "items" ? 0 : name == "keys" ? 1 : 2;
    return Value::function(std::string(name), [obj, which](Args&, const EnvPtr&) {
      std::vector<Value> out;
      for (const auto& [k, v] : obj.dict().entries())
        out.push_back(which == 0 ? pair(k, v) : which == 1 ? Value::string(k) : v);
      return Value::list(std::move(out));
    });
  }
  if (name == "dictsort") {
    return Value::function("dictsort", [obj](Args& args, const EnvPtr&) {
      Dict kwargs;
      std::vector<Value> positional;
      for (const Value& a : args) {
        if (a.is(Kind::KwArgs)) kwargs = a.dict();
        else positional.push_back(a);
      }
      const auto pick = [&](std::size_t i, const char* key, Value fallback) {
        if (i < positional.size()) return positional[i];
        const Value* v = kwargs.find(key);
        return v ? *v : fallback;
      };
      const Value case_sensitive = pick(0, "case_sensitive", Value::boolean(false));
      if (!case_sensitive.is(Kind::Bool)) raise("case_sensitive must be a boolean");
      const Value by = pick(1, "by", Value::string("key"));
      if (!by.is_string()) raise("by must be a string");
      if (by.str() != "key" && by.str() != "value") raise("by must be either 'key' or 'value'");
      const Value reverse = pick(2, "reverse", Value::boolean(false));
      if (!reverse.is(Kind::Bool)) raise("reverse must be a boolean");
      std::vector<Value> items;
      for (const auto& [k, v] : obj.dict().entries()) items.push_back(pair(k, v));
      const std::size_t index = by.str() == "key" ? 0 : 1;
      stable_sort_values(items, [&](const Value& a, const Value& b) {
        const int r = compare_values(a.items()[index], b.items()[index], case_sensitive.bool_value());
        return reverse.bool_value() ? -r : r;
      });
      return Value::list(std::move(items));
    });
  }
  return Value();
}

}  // namespace

void stable_sort_values(std::vector<Value>& items, const std::function<int(const Value&, const Value&)>& compare) {
  // A plain merge sort: stable like V8's TimSort, and safe with inconsistent comparators (NaN),
  // which std::stable_sort does not promise.
  if (items.size() < 2) return;
  std::vector<Value> buffer(items.size());
  for (std::size_t width = 1; width < items.size(); width *= 2) {
    for (std::size_t lo = 0; lo < items.size(); lo += 2 * width) {
      const std::size_t mid = std::min(lo + width, items.size()), hi = std::min(lo + 2 * width, items.size());
      std::size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) buffer[k++] = compare(items[j], items[i]) < 0 ? items[j++] : items[i++];
      while (i < mid) buffer[k++] = items[i++];
      while (j < hi) buffer[k++] = items[j++];
    }
    items.swap(buffer);
  }
}

Value builtin_member(const Value& object, std::string_view name) {
  switch (object.kind()) {
    case Kind::String: return string_member(object, name);
    case Kind::Array:
    case Kind::Tuple: return name == "length" ? Value::integer(static_cast<double>(object.items().size())) : Value();
    case Kind::Object:
    case Kind::KwArgs: return object_member(object, name);
    case Kind::Hole: raise("cannot read a property of a raw undefined value");
    default: return Value();
  }
}

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_none() && b.is_none()) return 0;
  if (a.is_none() || b.is_none()) raise(std::string("cannot compare ") + kind_name(a.kind()) + " with " + kind_name(b.kind()));
  if (a.is_undefined() && b.is_undefined()) return 0;
  if (a.is_undefined() || b.is_undefined() || a.is_hole() || b.is_hole())
    raise(std::string("cannot compare ") + kind_name(a.kind()) + " with " + kind_name(b.kind()));
  const auto numeric = [](const Value& v) { return v.is_number() || v.is(Kind::Bool); };
  if (numeric(a) && numeric(b)) {
    const double x = a.is(Kind::Bool) ? a.bool_value() : a.number();
    const double y = b.is(Kind::Bool) ? b.bool_value() : b.number();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind() != b.kind())
    raise(std::string("cannot compare different types: ") + kind_name(a.kind()) + " and " + kind_name(b.kind()));
  if (!a.is_string()) raise(std::string("cannot compare type: ") + kind_name(a.kind()));
  if (case_sensitive) return utf16_compare(a.str(), b.str());
  return utf16_compare(js_to_lower(a.str()), js_to_lower(b.str()));
}

bool has_test(std::string_view name) {
  static const char* const kTests[] = {"boolean", "callable", "odd",     "even",   "false",   "true",    "none",
                                       "string",  "number",   "integer", "iterable", "mapping", "sequence", "lower",
                                       "upper",   "defined",  "undefined", "equalto", "eq"};
  for (const char* t : kTests)
    if (name == t) return true;
  return false;
}

bool run_test(std::string_view name, const Value& v, const Value* arg) {
  // Tests written as instanceof checks in the reference are simply false for a raw undefined;
  // the others read its type and fail.
  if (name == "callable") return v.is(Kind::Function);
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is(Kind::Int);
  if (name == "mapping") return v.is_mapping();
  if (name == "sequence") return v.is_list() || v.is_mapping() || v.is_string();
  if (v.is_hole()) raise("cannot apply test '" + std::string(name) + "' to a raw undefined value");
  if (name == "boolean") return v.is(Kind::Bool);
  if (name == "odd" || name == "even") {
    if (!v.is(Kind::Int)) raise("cannot " + std::string(name) + " on " + kind_name(v.kind()));
    const bool odd = std::fmod(v.number(), 2.0) != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "false") return v.is(Kind::Bool) && !v.bool_value();
  if (name == "true") return v.is(Kind::Bool) && v.bool_value();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "iterable") return v.is(Kind::Array) || v.is_string();  // a tuple is not, in the reference
  if (name == "lower") return v.is_string() && v.str() == js_to_lower(v.str());
  if (name == "upper") return v.is_string() && v.str() == js_to_upper(v.str());
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "equalto" || name == "eq") {
    if (arg == nullptr) raise("test '" + std::string(name) + "' needs a value to compare with");
    return strict_equals(v, *arg);
  }
  raise("unknown test: " + std::string(name));
}

namespace {

const char* const kMonthShort[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
const char* const kMonthLong[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};

// utils.strftime: only %Y %m %d %b %B %H %M %% are understood (English month names); any other
// directive is left as written, like the reference.
std::string strftime_subset(const std::string& format, const std::tm& t) {
  const auto pad2 = [](int n) {
    std::string out = std::to_string(n);
    if (n >= 0 && n < 10) out.insert(out.begin(), '0');
    return out;
  };
  const int month = std::min(std::max(t.tm_mon, 0), 11);
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    const char d = format[i + 1];
    std::string piece;
    switch (d) {
      case 'Y': piece = std::to_string(t.tm_year + 1900); break;
      case 'm': piece = pad2(t.tm_mon + 1); break;
      case 'd': piece = pad2(t.tm_mday); break;
      case 'b': piece = kMonthShort[month]; break;
      case 'B': piece = kMonthLong[month]; break;
      case 'H': piece = pad2(t.tm_hour); break;
      case 'M': piece = pad2(t.tm_min); break;
      case '%': piece = "%"; break;
      default: out += '%'; continue;
    }
    out += piece;
    ++i;
  }
  return out;
}

Value namespace_fn(Args& args) {
  std::vector<Value> positional = args;
  Dict kwargs;
  if (!positional.empty() && positional.back().is(Kind::KwArgs)) {
    kwargs = positional.back().dict();
    positional.pop_back();
  }
  if (positional.size() > 1) raise("namespace expected at most 1 argument, got " + std::to_string(positional.size()));
  Dict entries;
  if (positional.size() == 1) {
    const Value& source = positional[0];
    if (source.is_mapping()) {
      for (const auto& [k, v] : source.dict().entries()) entries.set(k, v);
    } else if (source.is_list()) {
      for (const Value& p : source.items()) {
        std::vector<Value> kv;
        if (p.is_list()) kv = p.items();
        else if (p.is_string())
          for (char32_t cp : code_points(p.str())) {
            std::string c;
            append_utf8(c, cp);
            kv.push_back(Value::string(c));
          }
        if (kv.size() != 2) raise("namespace expected an object or an iterable of [key, value] pairs");
        if (!kv[0].is_string()) raise("namespace keys must be strings");
        entries.set(kv[0].str(), kv[1]);
      }
    } else {
      raise(std::string("'") + kind_name(source.kind()) + "' object is not iterable");
    }
  }
  for (const auto& [k, v] : kwargs.entries()) entries.set(k, v);
  return Value::namespace_(std::move(entries));
}

}  // namespace

void install_globals(Env& env, Interpreter& interp, std::function<std::tm()> now) {
  env.set("namespace", Value::function("namespace", [&interp](Args& args, const EnvPtr&) {
            Value ns = namespace_fn(args);
            interp.track_namespace(ns);
            return ns;
          }));
  for (const char* name : {"false", "False"}) env.set(name, Value::boolean(false));
  for (const char* name : {"true", "True"}) env.set(name, Value::boolean(true));
  for (const char* name : {"none", "None"}) env.set(name, Value::none());
  env.set("raise_exception", Value::function("raise_exception", [](Args& args, const EnvPtr&) -> Value {
            // new Error(value): the message is String(value), empty for undefined.
            if (args.empty() || args[0].is_undefined() || args[0].is_none() || args[0].is_hole()) throw TemplateRaised("");
            throw TemplateRaised(raw_string(args[0]));
          }));
  const RenderLimits limits = interp.limits();
  env.set("range", Value::function("range", [limits, &interp](Args& args, const EnvPtr&) {
            if (args.empty() || args.size() > 3) raise("range() expects 1 to 3 arguments");
            for (const Value& a : args)
              if (!a.is_number()) raise(std::string("range() arguments must be numbers, got ") + kind_name(a.kind()));
            double start = args[0].number(), stop = 0, step = 1;
            if (args.size() == 1) {
              stop = start;
              start = 0;
            } else {
              stop = args[1].number();
              if (args.size() == 3) step = args[2].number();
            }
            if (step == 0) raise("range() step must not be zero");
            const double count = std::ceil((stop - start) / step);
            if (count > static_cast<double>(limits.max_list_items))
              raise("range() would produce more than " + std::to_string(limits.max_list_items) + " items");
            if (count > 0) interp.charge(static_cast<std::uint64_t>(count) * kItemCost);  // before building it
            std::vector<Value> out;
            out.reserve(count > 0 ? static_cast<std::size_t>(count) : 0);
            for (double i = start; step > 0 ? i < stop : i > stop; i += step) {
              // A step too small to move a huge start would never end.
              if (out.size() >= limits.max_list_items || i + step == i) raise("range() does not terminate");
              out.push_back(std::floor(i) == i ? Value::integer(i) : Value::floating(i));
            }
            return Value::list(std::move(out));
          }));
  env.set("strftime_now", Value::function("strftime_now", [now](Args& args, const EnvPtr&) {
            if (args.empty() || !args[0].is_string()) raise("strftime_now() expects a format string");
            return Value::string(strftime_subset(args[0].str(), now()));
          }));
}

}  // namespace rpu::jinja
