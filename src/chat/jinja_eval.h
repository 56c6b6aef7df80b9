// The jinja interpreter: walks the AST from jinja_parser.h over the values of jinja_value.h with
// @huggingface/jinja's semantics (scoping, loop variables, macro binding, break/continue), and
// guards every way a template could run away: evaluation steps, call/recursion depth, output size,
// string and list sizes. Each failure is a JinjaError naming the template line.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "chat/jinja_parser.h"
#include "chat/jinja_value.h"

namespace rpu::jinja {

struct RenderLimits {
  std::size_t max_output_bytes = std::size_t{64} << 20;  // the rendered prompt
  std::size_t max_string_bytes = std::size_t{64} << 20;  // any one string value
  std::size_t max_list_items = std::size_t{1} << 22;     // any one list (range(), +)
  std::uint64_t max_steps = 50'000'000;                  // AST node evaluations + loop iterations
  int max_call_depth = 400;                              // nested evaluation (macro recursion)
};

// Break / continue travel as exceptions, like the reference's control-flow errors, so that they
// cross macro calls and discard the partial output of the interrupted iteration exactly as it does.
struct BreakSignal {};
struct ContinueSignal {};

class Interpreter {
 public:
  explicit Interpreter(const RenderLimits& limits) : limits_(limits) {}

  // Renders a whole program in `globals`.
  std::string run(const Program& program, const EnvPtr& globals);

  Value eval(const Node& node, const EnvPtr& env);
  // Renders statements into `out` (evaluateBlock).
  void render_block(const std::vector<NodePtr>& block, const EnvPtr& env, std::string& out);
  // Evaluates call arguments kids[first..]: positional (with *spread) first, then keywords.
  void evaluate_arguments(const std::vector<NodePtr>& args, std::size_t first, const EnvPtr& env, Args& positional,
                          Dict& keywords);

  const RenderLimits& limits() const { return limits_; }
  void check_string_size(std::size_t bytes) const;
  void check_list_size(std::size_t items) const;

 private:
  struct DepthGuard;

  Value eval_node(const Node& node, const EnvPtr& env);
  void exec(const Node& node, const EnvPtr& env, std::string& out);
  void append(std::string& out, const std::string& text) const;
  Value eval_binary(const Node& node, const EnvPtr& env);
  Value eval_unary(const Node& node, const EnvPtr& env);
  Value eval_member(const Node& node, const EnvPtr& env);
  Value eval_slice(const Value& object, const Node& slice, const EnvPtr& env);
  Value eval_call(const Node& node, const EnvPtr& env);
  void exec_set(const Node& node, const EnvPtr& env);
  void exec_for(const Node& node, const EnvPtr& env, std::string& out);
  void exec_macro(const Node& node, const EnvPtr& env);
  Value exec_call_statement(const Node& node, const EnvPtr& env);
  void bind_macro_arguments(const std::string& display_name, const std::vector<const Node*>& params,
                            bool wants_kwargs, bool wants_varargs, Args args, const EnvPtr& scope);

  RenderLimits limits_;
  std::uint64_t steps_ = 0;
  int depth_ = 0;
};

}  // namespace rpu::jinja
