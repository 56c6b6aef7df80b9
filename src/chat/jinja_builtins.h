// The reference renderer's built-in library: methods reachable through attribute access
// (string, dict and list methods), `is` tests, filters, and the global functions (namespace,
// range, raise_exception, strftime_now). Each follows @huggingface/jinja's behaviour, including
// where it differs from Python Jinja (e.g. strip/lstrip/rstrip ignore their argument and strip
// whitespace); what the reference does not have (e.g. `round`, `select`, str.format) is an error.
#pragma once

#include <ctime>
#include <functional>
#include <string_view>
#include <vector>

#include "chat/jinja_eval.h"
#include "chat/jinja_value.h"

namespace rpu::jinja {

// The builtin member `name` of a string, list, dict or other value, or undefined.
Value builtin_member(const Value& object, std::string_view name);

// Applies `filter` (an Identifier or a Call node) to `operand`.
Value apply_filter(Interpreter& interp, const Value& operand, const Node& filter, const EnvPtr& env);

bool has_test(std::string_view name);
// Runs test `name`; `arg` is the optional second operand (selectattr's value).
bool run_test(std::string_view name, const Value& operand, const Value* arg);

// Stable merge sort with a three-way comparator (the reference sorts with V8's stable TimSort).
void stable_sort_values(std::vector<Value>& items, const std::function<int(const Value&, const Value&)>& compare);

// Orders two values the way the reference's sort / dictsort do (errors on mixed types).
int compare_values(const Value& a, const Value& b, bool case_sensitive);

// Declares the globals of a fresh render: true/false/none (and title-case forms), namespace,
// range, raise_exception and strftime_now (reading the clock through `now`).
void install_globals(Env& env, Interpreter& interp, std::function<std::tm()> now);

}  // namespace rpu::jinja
