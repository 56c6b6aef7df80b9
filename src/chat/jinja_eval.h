// The jinja interpreter: walks the AST from jinja_parser.h over the values of jinja_value.h with
// @huggingface/jinja's semantics (scoping, loop variables, macro binding, break/continue), and
// guards every way a template could run away: evaluation steps, call/recursion depth, output size,
// string and list sizes. Each failure is a JinjaError naming the template line.
#pragma once

#include <algorithm>
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
  // Work budget in cost units (see Interpreter::charge), plus kCostPerContextByte per byte of
  // the context. Steps alone cannot bound the time: one step may copy a 32 MB string. 128M
  // units is about 0.1-0.2 s of CPU; a 1 MB conversation costs at most ~8M.
  std::uint64_t max_cost = 128'000'000;
  // When set, polled as work is charged (at the first charge, then every kCancelPollUnits);
  // once it returns true, rendering stops with an error.
  std::function<bool()> cancelled;
};

// What the interpreter charges, in units of about one byte of memory written or read (measured:
// an evaluation step costs about as much as copying 32 bytes, a loop iteration, with its fresh
// `loop` object, 512, a list item, a 32-byte value in a freshly allocated array, 32).
inline constexpr std::uint64_t kStepCost = 32;
inline constexpr std::uint64_t kCancelPollUnits = std::uint64_t{1} << 16;  // ~0.1 ms of work
inline constexpr std::uint64_t kIterationCost = 512;
inline constexpr std::uint64_t kItemCost = 32;
// Added to the budget per byte of the render context's strings: a long conversation costs at
// most about 8 units per byte with the published templates (Qwen3), so it always fits.
inline constexpr std::uint64_t kCostPerContextByte = 16;

// The size-dependent cost of producing or scanning `v`: its bytes, or its items / entries.
std::uint64_t size_cost(const Value& v);

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
  // Adds `units` of work; over the budget (or once cancelled) it raises a JinjaError and
  // budget_exhausted() becomes true.
  void charge(std::uint64_t units);
  // Raises the budget (by the size of the context the caller passes in).
  void extend_budget(std::uint64_t units) { limits_.max_cost += std::min(units, UINT64_MAX - limits_.max_cost); }
  bool budget_exhausted() const { return exhausted_; }
  // A namespace() made during run(): emptied when the run ends, so one that holds itself
  // ({% set ns.me = ns %}, the only way a template makes a cycle) is not a reference cycle
  // that outlives the render (found by fuzz_jinja as a leak).
  void track_namespace(const Value& ns) { namespaces_.push_back(ns); }

 private:
  struct DepthGuard;

  Value eval_node(const Node& node, const EnvPtr& env);
  void exec(const Node& node, const EnvPtr& env, std::string& out);
  void append(std::string& out, const std::string& text);
  Value eval_binary(const Node& node, const EnvPtr& env);
  Value eval_unary(const Node& node, const EnvPtr& env);
  Value concat(const Value& left, const Value& right);
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
  std::uint64_t cost_ = 0;
  std::uint64_t next_cancel_poll_ = 0;  // cost_ at which `cancelled` is polled next
  bool exhausted_ = false;
  int depth_ = 0;
  std::vector<Value> namespaces_;
};

}  // namespace rpu::jinja
