#include "chat/jinja_eval.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "chat/jinja_builtins.h"
#include "chat/jinja_error.h"
#include "chat/jinja_unicode.h"

namespace rpu::jinja {

struct Interpreter::DepthGuard {
  Interpreter& interp;
  explicit DepthGuard(Interpreter& i) : interp(i) {
    interp.charge(kStepCost);
    if (++interp.depth_ > interp.limits_.max_call_depth) {
      --interp.depth_;
      raise("template recursion is deeper than " + std::to_string(interp.limits_.max_call_depth) + " levels");
    }
    if (++interp.steps_ > interp.limits_.max_steps) {
      --interp.depth_;
      raise("template exceeded " + std::to_string(interp.limits_.max_steps) + " evaluation steps");
    }
  }
  ~DepthGuard() { --interp.depth_; }
};

namespace {

struct SpecialArgs {
  bool kwargs = false;
  bool varargs = false;
};

bool is_special(const std::string& name) { return name == "kwargs" || name == "varargs"; }

// findAccessedSpecialMacroArguments: does a macro body read `kwargs` / `varargs` before declaring
// them (in Jinja's AST visit order)? Only then does the macro accept extra arguments.
class SpecialArgScanner {
 public:
  SpecialArgs scan(const std::vector<const Node*>& params, const std::vector<NodePtr>& body) {
    for (const Node* p : params) declare(p->str);
    visit_all(body);
    return accessed_;
  }

 private:
  void declare(const std::string& name) {
    if (is_special(name)) declared_.insert(name);
  }
  void declare_target(const Node* target) {
    if (target == nullptr) return;
    if (target->type == NodeType::Identifier) declare(target->str);
    if (target->type == NodeType::TupleLiteral)
      for (const auto& k : target->kids) declare_target(k.get());
  }
  void visit_defaults(const std::vector<NodePtr>& params, std::size_t first) {
    for (std::size_t i = first; i < params.size(); ++i)
      if (params[i]->type == NodeType::KeywordArgument) visit(params[i]->kid(0));
  }
  void visit_filter(const Node* filter) {
    if (filter->type == NodeType::Call)
      for (std::size_t i = 1; i < filter->kids.size(); ++i) visit(filter->kids[i].get());
  }
  void visit_all(const std::vector<NodePtr>& nodes) {
    for (const auto& n : nodes) visit(n.get());
  }
  void visit(const Node* n) {
    if (n == nullptr) return;
    switch (n->type) {
      case NodeType::For: {
        declare_target(n->kid(0));
        const Node* iterable = n->kid(1);
        if (iterable->type == NodeType::Select) {
          visit(iterable->kid(0));
          visit_all(n->body);
          visit_all(n->alt);
          visit(iterable->kid(1));
        } else {
          visit(iterable);
          visit_all(n->body);
          visit_all(n->alt);
        }
        return;
      }
      case NodeType::Set:
        declare_target(n->kid(0));
        visit(n->kid(1));
        visit_all(n->body);
        return;
      case NodeType::Macro:
        for (const auto& p : n->kids) declare(p->str);
        visit_defaults(n->kids, 0);
        visit_all(n->body);
        return;
      case NodeType::CallStatement:
        visit(n->kid(0));
        for (std::size_t i = 1; i < n->kids.size(); ++i) declare(n->kids[i]->str);
        visit_defaults(n->kids, 1);
        visit_all(n->body);
        return;
      case NodeType::FilterStatement:
        visit_all(n->body);
        visit_filter(n->kid(0));
        return;
      case NodeType::Identifier:
        if (is_special(n->str) && declared_.count(n->str) == 0) (n->str == "kwargs" ? accessed_.kwargs : accessed_.varargs) = true;
        return;
      case NodeType::Member:
        visit(n->kid(0));
        if (n->flag) visit(n->kid(1));
        return;
      case NodeType::Filter:
        visit(n->kid(0));
        visit_filter(n->kid(1));
        return;
      case NodeType::Test:
        visit(n->kid(0));
        return;
      case NodeType::Select:
        visit(n->kid(1));
        visit(n->kid(0));
        return;
      case NodeType::KeywordArgument:
        visit(n->kid(0));
        return;
      default:
        for (const auto& k : n->kids) visit(k.get());
        visit_all(n->body);
        visit_all(n->alt);
    }
  }

  std::set<std::string> declared_;
  SpecialArgs accessed_;
};

std::vector<const Node*> param_nodes(const std::vector<NodePtr>& kids, std::size_t first) {
  std::vector<const Node*> out;
  for (std::size_t i = first; i < kids.size(); ++i) out.push_back(kids[i].get());
  return out;
}

bool numeric_like(const Value& v) { return v.is_number() || v.is(Kind::Bool); }
double numeric_value(const Value& v) { return v.is(Kind::Bool) ? (v.bool_value() ? 1 : 0) : v.number(); }

// utils.slice: Python-style slicing with the reference's bounds rules.
template <typename T>
std::vector<T> js_slice(const std::vector<T>& array, const Value& start_v, const Value& stop_v, const Value& step_v) {
  const long long length = static_cast<long long>(array.size());
  const long long step = step_v.is_undefined() ? 1 : static_cast<long long>(step_v.number());
  const int direction = step > 0 ? 1 : step < 0 ? -1 : 0;
  long long start, stop;
  if (direction >= 0) {
    start = start_v.is_undefined() ? 0 : static_cast<long long>(start_v.number());
    start = start < 0 ? std::max(length + start, 0LL) : std::min(start, length);
    stop = stop_v.is_undefined() ? length : static_cast<long long>(stop_v.number());
    stop = stop < 0 ? std::max(length + stop, 0LL) : std::min(stop, length);
  } else {
    start = start_v.is_undefined() ? length - 1 : static_cast<long long>(start_v.number());
    start = start < 0 ? std::max(length + start, -1LL) : std::min(start, length - 1);
    stop = stop_v.is_undefined() ? -1 : static_cast<long long>(stop_v.number());
    stop = stop < -1 ? std::max(length + stop, -1LL) : std::min(stop, length - 1);
  }
  std::vector<T> out;
  if (direction == 0) return out;
  for (long long i = start; direction * i < direction * stop; i += step) out.push_back(array[static_cast<std::size_t>(i)]);
  return out;
}

}  // namespace

void Interpreter::check_string_size(std::size_t bytes) const {
  if (bytes > limits_.max_string_bytes) raise("string longer than " + std::to_string(limits_.max_string_bytes) + " bytes");
}

void Interpreter::check_list_size(std::size_t items) const {
  if (items > limits_.max_list_items) raise("list longer than " + std::to_string(limits_.max_list_items) + " items");
}

void Interpreter::append(std::string& out, const std::string& text) {
  if (out.size() + text.size() > limits_.max_output_bytes)
    raise("rendered output exceeds " + std::to_string(limits_.max_output_bytes) + " bytes");
  charge(text.size());
  out += text;
}

void Interpreter::charge(std::uint64_t units) {
  cost_ = units > limits_.max_cost - std::min(cost_, limits_.max_cost) ? limits_.max_cost + 1 : cost_ + units;
  if (cost_ > limits_.max_cost) {
    exhausted_ = true;
    raise("template exceeded its work budget of " + std::to_string(limits_.max_cost) +
          " units (bytes built or scanned, list items copied, evaluation steps)");
  }
  if (limits_.cancelled && cost_ >= next_cancel_poll_) {
    next_cancel_poll_ = cost_ + kCancelPollUnits;
    if (limits_.cancelled()) {
      exhausted_ = true;
      raise("rendering was cancelled");
    }
  }
}

std::uint64_t size_cost(const Value& v) {
  if (v.is_string()) return v.str().size();
  if (v.is_list()) return v.items().size() * kItemCost;
  if (v.is_attribute_container()) return v.dict().size() * kItemCost;
  return 0;
}

std::string Interpreter::run(const Program& program, const EnvPtr& globals) {
  struct ClearNamespaces {
    std::vector<Value>& namespaces;
    ~ClearNamespaces() {
      for (const Value& ns : namespaces) ns.dict() = Dict();
      namespaces.clear();
    }
  } clear{namespaces_};
  std::string out;
  try {
    render_block(program.body, globals, out);
  } catch (const BreakSignal&) {
    raise("{% break %} outside of a loop");
  } catch (const ContinueSignal&) {
    raise("{% continue %} outside of a loop");
  }
  return out;
}

void Interpreter::render_block(const std::vector<NodePtr>& block, const EnvPtr& env, std::string& out) {
  for (const auto& statement : block) exec(*statement, env, out);
}

void Interpreter::exec(const Node& node, const EnvPtr& env, std::string& out) {
  DepthGuard guard(*this);
  try {
    switch (node.type) {
      case NodeType::StringLiteral: append(out, node.str); return;
      case NodeType::Comment: return;
      case NodeType::If:
        render_block(truthy(eval(*node.kids[0], env)) ? node.body : node.alt, env, out);
        return;
      case NodeType::For: exec_for(node, env, out); return;
      case NodeType::Set: exec_set(node, env); return;
      case NodeType::Macro: exec_macro(node, env); return;
      case NodeType::Break: throw BreakSignal{};
      case NodeType::Continue: throw ContinueSignal{};
      default: {
        Value v;
        if (node.type == NodeType::CallStatement) {
          v = exec_call_statement(node, env);
        } else if (node.type == NodeType::FilterStatement) {
          std::string body;
          render_block(node.body, env, body);
          v = apply_filter(*this, Value::string(std::move(body)), *node.kids[0], env);
        } else {
          v = eval(node, env);
        }
        if (v.is_hole()) raise("cannot print a raw undefined value (e.g. first/last of an empty list)");
        if (!v.is_none() && !v.is_undefined()) append(out, display(v));
      }
    }
  } catch (const JinjaError& e) {
    if (e.line() == 0) throw JinjaError(e.message(), node.line);
    throw;
  }
}

Value Interpreter::eval(const Node& node, const EnvPtr& env) {
  DepthGuard guard(*this);
  try {
    return eval_node(node, env);
  } catch (const JinjaError& e) {
    if (e.line() == 0) throw JinjaError(e.message(), node.line);
    throw;
  }
}

Value Interpreter::eval_node(const Node& node, const EnvPtr& env) {
  switch (node.type) {
    case NodeType::IntegerLiteral: return Value::integer(node.number);
    case NodeType::FloatLiteral: return Value::floating(node.number);
    case NodeType::StringLiteral: return Value::string(node.str);
    case NodeType::Identifier: return env->lookup(node.str);
    case NodeType::ArrayLiteral:
    case NodeType::TupleLiteral: {
      std::vector<Value> items;
      for (const auto& k : node.kids) items.push_back(eval(*k, env));
      return node.type == NodeType::ArrayLiteral ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case NodeType::ObjectLiteral: {
      Dict d;
      for (std::size_t i = 0; i + 1 < node.kids.size(); i += 2) {
        const Value key = eval(*node.kids[i], env);
        if (!key.is_string()) raise(std::string("object keys must be strings: got ") + kind_name(key.kind()));
        d.set(key.str(), eval(*node.kids[i + 1], env));
      }
      return Value::object(std::move(d));
    }
    case NodeType::Member: return eval_member(node, env);
    case NodeType::Call: return eval_call(node, env);
    case NodeType::Binary: return eval_binary(node, env);
    case NodeType::Unary: return eval_unary(node, env);
    case NodeType::Filter: return apply_filter(*this, eval(*node.kids[0], env), *node.kids[1], env);
    case NodeType::Test: {
      const Value operand = eval(*node.kids[0], env);
      if (!has_test(node.str)) raise("unknown test: " + node.str);
      const bool result = run_test(node.str, operand, nullptr);
      return Value::boolean(node.flag ? !result : result);
    }
    case NodeType::Select:
      return truthy(eval(*node.kids[1], env)) ? eval(*node.kids[0], env) : Value();
    case NodeType::Ternary:
      return truthy(eval(*node.kids[0], env)) ? eval(*node.kids[1], env) : eval(*node.kids[2], env);
    case NodeType::Comment:
    case NodeType::Set:
    case NodeType::Macro: {
      std::string ignored;
      exec(node, env, ignored);
      return Value::none();
    }
    case NodeType::If:
    case NodeType::For:
    case NodeType::Break:
    case NodeType::Continue:
    case NodeType::CallStatement:
    case NodeType::FilterStatement: {
      std::string out;
      exec(node, env, out);
      return Value::string(std::move(out));
    }
    case NodeType::Program:
    case NodeType::Slice:
    case NodeType::KeywordArgument:
    case NodeType::Spread:
    case NodeType::KeywordSpread:
      break;
  }
  raise("unexpected syntax in this position");
}

Value Interpreter::eval_binary(const Node& node, const EnvPtr& env) {
  const Value left = eval(*node.kids[0], env);
  const BinaryOp op = node.op;
  if (op == BinaryOp::And) return truthy(left) ? eval(*node.kids[1], env) : left;
  if (op == BinaryOp::Or) return truthy(left) ? left : eval(*node.kids[1], env);
  const Value right = eval(*node.kids[1], env);
  // Comparing and searching scan their operands: charged, or a loop over a huge string hangs.
  if (left.is_string() && right.is_string()) charge(std::min(left.str().size(), right.str().size()));
  if (op == BinaryOp::Eq) return Value::boolean(loose_equals(left, right));
  if (op == BinaryOp::Ne) return Value::boolean(!loose_equals(left, right));
  if (op == BinaryOp::In || op == BinaryOp::NotIn) charge(size_cost(right));

  const auto unknown = [&]() -> Value {
    raise("unknown operator \"" + node.str + "\" between " + kind_name(left.kind()) + " and " + kind_name(right.kind()));
  };
  if (left.is_undefined() || right.is_undefined()) {
    // `anything in undefined` is false (and `not in` true) rather than an error.
    if (right.is_undefined() && (op == BinaryOp::In || op == BinaryOp::NotIn)) return Value::boolean(op == BinaryOp::NotIn);
    raise("cannot perform operation " + node.str + " on undefined values");
  }
  if (left.is_hole() || right.is_hole()) raise("cannot perform operation " + node.str + " on a raw undefined value");
  if (left.is_none() || right.is_none()) raise("cannot perform operation " + node.str + " on null values");
  if (op == BinaryOp::Concat) return concat(left, right);
  if (op == BinaryOp::Pow && numeric_like(left) && numeric_like(right)) {
    const double a = numeric_value(left), b = numeric_value(right);
    if (a == 0 && b < 0) raise("0.0 cannot be raised to a negative power");
    const double result = std::pow(a, b);
    if (!std::isfinite(result)) raise("exponentiation result is not a finite real number");
    const bool is_float = left.is(Kind::Float) || right.is(Kind::Float) || b < 0;
    return is_float ? Value::floating(result) : Value::integer(result);
  }
  if (left.is_number() && right.is_number()) {
    const double a = left.number(), b = right.number();
    const bool is_float = left.is(Kind::Float) || right.is(Kind::Float);
    const auto num = [&](double r) { return is_float ? Value::floating(r) : Value::integer(r); };
    switch (op) {
      case BinaryOp::Add: return num(a + b);
      case BinaryOp::Sub: return num(a - b);
      case BinaryOp::Mul: return num(a * b);
      case BinaryOp::Div: return Value::floating(a / b);
      case BinaryOp::FloorDiv: return num(std::floor(a / b));
      case BinaryOp::Mod: return num(std::fmod(a, b));  // JavaScript %: the sign follows the dividend
      case BinaryOp::Lt: return Value::boolean(a < b);
      case BinaryOp::Gt: return Value::boolean(a > b);
      case BinaryOp::Ge: return Value::boolean(a >= b);
      case BinaryOp::Le: return Value::boolean(a <= b);
      default: break;
    }
  } else if (left.is_list() && right.is_list()) {
    if (op == BinaryOp::Add) {
      check_list_size(left.items().size() + right.items().size());
      charge(size_cost(left) + size_cost(right));
      std::vector<Value> items = left.items();
      items.insert(items.end(), right.items().begin(), right.items().end());
      return Value::list(std::move(items));
    }
  } else if (right.is_list()) {
    if (op == BinaryOp::In || op == BinaryOp::NotIn) {
      bool member = false;
      for (const Value& x : right.items())
        if (strict_equals(x, left)) {
          member = true;
          break;
        }
      return Value::boolean(op == BinaryOp::In ? member : !member);
    }
  }
  if ((left.is_string() || right.is_string()) && op == BinaryOp::Add) return concat(left, right);
  if (left.is_string() && right.is_string() && (op == BinaryOp::In || op == BinaryOp::NotIn)) {
    const bool found = right.str().find(left.str()) != std::string::npos;
    return Value::boolean(op == BinaryOp::In ? found : !found);
  }
  if (left.is_string() && right.is_mapping() && (op == BinaryOp::In || op == BinaryOp::NotIn)) {
    const bool found = right.dict().find(left.str()) != nullptr;
    return Value::boolean(op == BinaryOp::In ? found : !found);
  }
  return unknown();
}

// `~` and string `+`: sized and charged before building, and built once in place (copying each
// operand first, as String(a) + String(b) would, tripled the work on big strings).
Value Interpreter::concat(const Value& left, const Value& right) {
  std::string left_text, right_text;
  if (!left.is_string()) left_text = raw_string(left);
  if (!right.is_string()) right_text = raw_string(right);
  const std::string_view a = left.is_string() ? std::string_view(left.str()) : left_text;
  const std::string_view b = right.is_string() ? std::string_view(right.str()) : right_text;
  check_string_size(a.size() + b.size());
  charge(2 * (a.size() + b.size()));  // read both, write the result
  std::string s;
  s.reserve(a.size() + b.size());
  s.append(a);
  s.append(b);
  return Value::string(std::move(s));
}

Value Interpreter::eval_unary(const Node& node, const EnvPtr& env) {
  const Value v = eval(*node.kids[0], env);
  if (node.str == "not") return Value::boolean(!truthy(v));
  if (!numeric_like(v)) raise("unknown operator \"" + node.str + "\" for " + kind_name(v.kind()));
  const double result = (node.str == "-" ? -1.0 : 1.0) * numeric_value(v);
  return v.is(Kind::Float) ? Value::floating(result) : Value::integer(result);
}

Value Interpreter::eval_slice(const Value& object, const Node& slice, const EnvPtr& env) {
  if (!object.is_list() && !object.is_string()) raise("slice object must be an array or string");
  charge(size_cost(object));
  Value parts[3];
  for (int i = 0; i < 3; ++i) {
    if (const Node* k = slice.kid(i)) parts[i] = eval(*k, env);
    if (!parts[i].is(Kind::Int) && !parts[i].is_undefined()) raise("slice indices must be integers or undefined");
  }
  if (object.is_list()) return Value::list(js_slice(object.items(), parts[0], parts[1], parts[2]));
  std::string out;
  for (char32_t cp : js_slice(code_points(object.str()), parts[0], parts[1], parts[2])) append_utf8(out, cp);
  return Value::string(std::move(out));
}

Value Interpreter::eval_member(const Node& node, const EnvPtr& env) {
  const Value object = eval(*node.kids[0], env);
  const Node& prop = *node.kids[1];
  Value property;
  if (node.flag) {
    if (prop.type == NodeType::Slice) return eval_slice(object, prop, env);
    property = eval(prop, env);
  } else if (prop.type == NodeType::IntegerLiteral) {
    property = Value::integer(prop.number);
  } else {
    property = Value::string(prop.str);
  }

  if (object.is_hole()) raise("cannot read a property of a raw undefined value");
  if (object.is_attribute_container()) {
    if (!property.is_string()) raise(std::string("cannot access property with non-string: got ") + kind_name(property.kind()));
    const Value* found = object.dict().find(property.str());
    if (found != nullptr && !found->is_hole()) return *found;
    if (!object.is_mapping()) return Value();
    charge(size_cost(object));  // a method (items(), dictsort...) walks the whole mapping
    return builtin_member(object, property.str());
  }
  if (object.is_list() || object.is_string()) {
    // Indexing a string walks its UTF-16 units; a method (split, replace...) reads it all.
    if (object.is_string() || property.is_string()) charge(size_cost(object));
    if (property.is(Kind::Int)) {
      const double index = property.number();
      if (object.is_string()) {
        std::string ch;
        if (std::fabs(index) > 1e15 || !utf16_at(object.str(), static_cast<long long>(index), ch)) return Value();
        return Value::string(std::move(ch));
      }
      const auto& items = object.items();
      const double length = static_cast<double>(items.size());
      const double i = index < 0 ? index + length : index;
      if (i < 0 || i >= length) return Value();
      const Value& item = items[static_cast<std::size_t>(i)];
      return item.is_hole() ? Value() : item;
    }
    if (property.is_string()) return builtin_member(object, property.str());
    raise(std::string("cannot access property with non-string/non-number: got ") + kind_name(property.kind()));
  }
  if (!property.is_string()) raise(std::string("cannot access property with non-string: got ") + kind_name(property.kind()));
  return builtin_member(object, property.str());
}

void Interpreter::evaluate_arguments(const std::vector<NodePtr>& args, std::size_t first, const EnvPtr& env,
                                     Args& positional, Dict& keywords) {
  // The whole positional part is evaluated before any keyword value, as in Python.
  for (std::size_t i = first; i < args.size(); ++i) {
    const Node& a = *args[i];
    if (a.type == NodeType::Spread) {
      const Value v = eval(*a.kids[0], env);
      if (!v.is_list()) raise(std::string("cannot unpack non-iterable type: ") + kind_name(v.kind()));
      for (const Value& item : v.items()) positional.push_back(item);
    } else if (a.type != NodeType::KeywordArgument && a.type != NodeType::KeywordSpread) {
      positional.push_back(eval(a, env));
    }
  }
  const auto add = [&](const std::string& key, Value v) {
    if (keywords.find(key) != nullptr) raise("got multiple values for keyword argument '" + key + "'");
    keywords.set(key, std::move(v));
  };
  for (std::size_t i = first; i < args.size(); ++i) {
    const Node& a = *args[i];
    if (a.type == NodeType::KeywordArgument) {
      add(a.str, eval(*a.kids[0], env));
    } else if (a.type == NodeType::KeywordSpread) {
      const Value v = eval(*a.kids[0], env);
      if (!v.is_mapping()) raise(std::string("argument after ** must be a mapping, not ") + kind_name(v.kind()));
      for (const auto& [k, val] : v.dict().entries()) add(k, val);
    }
  }
}

Value Interpreter::eval_call(const Node& node, const EnvPtr& env) {
  Args args;
  Dict keywords;
  evaluate_arguments(node.kids, 1, env, args, keywords);
  if (!keywords.empty()) args.push_back(Value::kwargs(std::move(keywords)));
  const Value fn = eval(*node.kids[0], env);
  if (!fn.is(Kind::Function)) {
    const Node& callee = *node.kids[0];
    if (callee.type == NodeType::Identifier)
      raise("cannot call '" + callee.str + "': it is " + kind_name(fn.kind()) + ", not a function or macro");
    raise(std::string("cannot call something that is not a function: got ") + kind_name(fn.kind()));
  }
  Value result = fn.fn().call(args, env);
  charge(size_cost(result));  // what a builtin (range, split, items...) or macro built
  return result;
}

void Interpreter::exec_set(const Node& node, const EnvPtr& env) {
  Value rhs;
  if (const Node* value = node.kid(1)) {
    rhs = eval(*value, env);
  } else {
    std::string body;
    render_block(node.body, env, body);
    rhs = Value::string(std::move(body));
  }
  const Node& target = *node.kids[0];
  if (target.type == NodeType::Identifier) {
    env->set(target.str, std::move(rhs));
  } else if (target.type == NodeType::TupleLiteral) {
    if (!rhs.is_list()) raise(std::string("cannot unpack non-iterable type in set: ") + kind_name(rhs.kind()));
    const auto& items = rhs.items();
    if (items.size() != target.kids.size())
      raise(std::string("too ") + (target.kids.size() > items.size() ? "few" : "many") + " items to unpack in set");
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (target.kids[i]->type != NodeType::Identifier) raise("cannot unpack to non-identifier in set");
      env->set(target.kids[i]->str, items[i]);
    }
  } else if (target.type == NodeType::Member) {
    const Value object = eval(*target.kids[0], env);
    if (!object.is(Kind::Namespace)) raise("cannot assign attribute on non-namespace object");
    if (target.kids[1]->type != NodeType::Identifier) raise("cannot assign to member with non-identifier property");
    object.dict().set(target.kids[1]->str, std::move(rhs));
  } else {
    raise("invalid left-hand side of an assignment");
  }
}

namespace {

// What a for loop walks: a list's items, or a mapping's keys.
std::vector<Value> loop_source(const Value& iterable) {
  if (iterable.is_list()) return iterable.items();
  if (!iterable.is_mapping()) {
    raise(std::string("expected iterable or object type in for loop: got ") + kind_name(iterable.kind()));
  }
  std::vector<Value> keys;
  for (const auto& entry : iterable.dict().entries()) keys.push_back(Value::string(entry.first));
  return keys;
}

// Binds a for loop's target, a name or a tuple of names (unpacking a list of that size), to current.
void assign_loop_target(const Node& target, Env& into, const Value& current) {
  if (target.type == NodeType::Identifier) {
    into.set(target.str, current);
    return;
  }
  for (std::size_t j = 0; j < target.kids.size(); ++j) {
    if (target.kids[j]->type != NodeType::Identifier) raise("cannot unpack into a non-identifier loop variable");
    into.set(target.kids[j]->str, current.items()[j]);
  }
}

// The `loop` object of iteration i over items.
Value loop_object(const std::vector<Value>& items, std::size_t i) {
  const double n = static_cast<double>(items.size()), d = static_cast<double>(i);
  Dict loop;
  loop.set("index", Value::integer(d + 1));
  loop.set("index0", Value::integer(d));
  loop.set("revindex", Value::integer(n - d));
  loop.set("revindex0", Value::integer(n - d - 1));
  loop.set("first", Value::boolean(i == 0));
  loop.set("last", Value::boolean(i + 1 == items.size()));
  loop.set("length", Value::integer(n));
  loop.set("previtem", i > 0 ? items[i - 1] : Value());
  loop.set("nextitem", i + 1 < items.size() ? items[i + 1] : Value());
  return Value::object(std::move(loop));
}

}  // namespace

void Interpreter::exec_for(const Node& node, const EnvPtr& env, std::string& out) {
  auto scope = std::make_shared<Env>(env);
  const Node& target = *node.kids[0];
  const Node* iterable_node = node.kids[1].get();
  const Node* test = nullptr;
  if (iterable_node->type == NodeType::Select) {
    test = iterable_node->kid(1);
    iterable_node = iterable_node->kid(0);
  }
  const Value iterable = eval(*iterable_node, scope);
  charge(2 * size_cost(iterable));  // copied into `source`, then into `items`
  const std::vector<Value> source = loop_source(iterable);

  std::vector<Value> items;
  for (const Value& current : source) {
    if (target.type == NodeType::TupleLiteral) {
      // Only plain lists unpack in the reference (a tuple item does not).
      if (!current.is(Kind::Array)) raise(std::string("cannot unpack non-iterable type: ") + kind_name(current.kind()));
      if (current.items().size() != target.kids.size())
        raise(std::string("too ") + (target.kids.size() > current.items().size() ? "few" : "many") + " items to unpack");
    }
    if (test != nullptr) {
      auto loop_scope = std::make_shared<Env>(scope);
      assign_loop_target(target, *loop_scope, current);
      if (!truthy(eval(*test, loop_scope))) continue;
    }
    items.push_back(current);
  }

  bool no_iteration = true;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (++steps_ > limits_.max_steps) raise("template exceeded " + std::to_string(limits_.max_steps) + " evaluation steps");
    charge(kIterationCost);
    scope->set("loop", loop_object(items, i));
    assign_loop_target(target, *scope, items[i]);
    // An iteration cut short by break/continue contributes nothing, as in the reference.
    std::string body;
    try {
      render_block(node.body, scope, body);
    } catch (const ContinueSignal&) {
      continue;
    } catch (const BreakSignal&) {
      break;
    }
    append(out, body);
    no_iteration = false;
  }
  if (no_iteration) render_block(node.alt, scope, out);
}

void Interpreter::bind_macro_arguments(const std::string& display_name, const std::vector<const Node*>& params,
                                       bool wants_kwargs, bool wants_varargs, Args args, const EnvPtr& scope) {
  Dict keywords;
  if (!args.empty() && args.back().is(Kind::KwArgs)) {
    keywords = args.back().dict();
    args.pop_back();
  }
  std::vector<const Node*> pending_defaults;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Node& p = *params[i];
    Value value = i < args.size() ? args[i] : Value::hole();
    if (value.is_hole()) {
      if (const Value* kw = keywords.find(p.str)) {
        value = *kw;
        keywords.remove(p.str);
      }
    }
    if (value.is_hole() && p.type == NodeType::KeywordArgument) pending_defaults.push_back(&p);
    scope->set(p.str, value.is_hole() ? Value() : value);
  }
  if (wants_kwargs) {
    scope->set("kwargs", Value::object(keywords));
  } else if (!keywords.empty()) {
    raise("macro " + display_name + " takes no keyword argument '" + keywords.entries().front().first + "'");
  }
  if (wants_varargs) {
    std::vector<Value> rest;
    for (std::size_t i = params.size(); i < args.size(); ++i) rest.push_back(args[i]);
    scope->set("varargs", Value::list(std::move(rest)));
  } else if (args.size() > params.size()) {
    raise("macro " + display_name + " takes not more than " + std::to_string(params.size()) + " argument(s)");
  }
  for (const Node* p : pending_defaults) scope->set(p->str, eval(*p->kids[0], scope));
}

void Interpreter::exec_macro(const Node& node, const EnvPtr& env) {
  const std::vector<const Node*> params = param_nodes(node.kids, 0);
  const SpecialArgs special = SpecialArgScanner().scan(params, node.body);
  const Node* macro = &node;
  env->set(node.str, Value::function(node.str, [this, macro, params, special](Args& args, const EnvPtr& scope) {
             // Macros run in a child of the *calling* scope, as in the reference renderer.
             auto macro_scope = std::make_shared<Env>(scope);
             bind_macro_arguments("'" + macro->str + "'", params, special.kwargs, special.varargs, args, macro_scope);
             std::string out;
             render_block(macro->body, macro_scope, out);
             return Value::string(std::move(out));
           }));
}

Value Interpreter::exec_call_statement(const Node& node, const EnvPtr& env) {
  const std::vector<const Node*> params = param_nodes(node.kids, 1);
  const SpecialArgs special = SpecialArgScanner().scan(params, node.body);
  const Node* statement = &node;
  const Value caller = Value::function("caller", [this, statement, params, special, env](Args& args, const EnvPtr&) {
    auto block_env = std::make_shared<Env>(env);
    bind_macro_arguments("None", params, special.kwargs, special.varargs, args, block_env);
    std::string out;
    render_block(statement->body, block_env, out);
    return Value::string(std::move(out));
  });
  const Node& call = *node.kids[0];
  Args args;
  Dict keywords;
  evaluate_arguments(call.kids, 1, env, args, keywords);
  args.push_back(Value::kwargs(std::move(keywords)));
  const Value fn = eval(*call.kids[0], env);
  if (!fn.is(Kind::Function)) raise("cannot call '" + call.kids[0]->str + "': it is " + kind_name(fn.kind()) + ", not a macro");
  auto call_env = std::make_shared<Env>(env);
  call_env->set("caller", caller);
  return fn.fn().call(args, call_env);
}

}  // namespace rpu::jinja
