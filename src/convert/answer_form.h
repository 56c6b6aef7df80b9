// What a cluster's teacher always does in its answers, learned from its logged calls, which
// the route then holds the specialist to (OutputConstraints): the values it copies from the
// call (copy_fields.h), whether it always answers a user's turn with a tool call, and whether
// it always answers with a JSON object of the same keys. When it calls a tool, the route forces
// one (`force_tool_call:`, gateway/config.h): the specialist's answer then follows the offered
// tools' schemas (a function that exists, its argument names and types, enum values) instead of
// whatever a small model writes. When it writes one JSON form, the route holds the answer to
// that form's schema (`answer_schema:`): a small model otherwise writes a broken object now and
// then (the tenth bench run's extraction specialist: 11 of 614 answers, `"product":"Parse
// the":null` among them).
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "convert/copy_fields.h"
#include "convert/logged_call.h"

namespace rpu::convert {

struct ToolCallForm {
  int user_turns = 0;   // trainable calls offering tools whose last message is the user's
  int tool_calls = 0;   // of them, answered with a tool call
};

ToolCallForm tool_call_form(const std::vector<const LoggedCall*>& calls);
// At least `min_turns` such calls, and all but `max_miss_share` of them answered with a call.
bool always_calls_a_tool(const ToolCallForm& form, int min_turns = 20, double max_miss_share = 0.02);

// The JSON Schema of a cluster's answers, when at least `min_answers` calls were answered in
// text (not a tool call) and all but `max_miss_share` of those are JSON objects with the same
// keys in the same order: {"type": "object", "properties": {KEY: {"type": [the value types
// seen]}, ...} in that order, "required": [every key], "additionalProperties": false}. Types:
// "string", "null", "boolean", "integer", "number" ("integer" dropped beside "number"); a key
// that held an object or an array gets {} (any value). Keys must be plain words ([A-Za-z_]
// [A-Za-z0-9_]*, not a YAML boolean or null), so the schema reads back from the routes file
// as written. Null: no such form.
nlohmann::ordered_json json_answer_schema(const std::vector<const LoggedCall*>& calls, int min_answers = 20,
                                          double max_miss_share = 0.02);

// How the teacher writes arithmetic out, in its answers and in the working a specialist learns
// (working.h): the text answers, those with a step "a op b = c" (the arithmetic verifier's
// reading, decode/arithmetic.h), their steps, the wrong ones, and the decimals every step's
// result is written with (-1: not all the same, or none: "100.74", "37.00" give 2).
struct ArithmeticForm {
  int answers = 0, with_steps = 0, steps = 0, wrong = 0;
  int decimals = -1;
};
ArithmeticForm arithmetic_form(const std::vector<const LoggedCall*>& calls);

// Whether the teacher writes its arithmetic out, always right: at least `min_answers` text
// answers, at least `min_share_with_steps` of them with a step, and all but `max_wrong_share`
// of their steps right. The route then computes the specialist's results (`calculator:`,
// decode/calculator.h): a small model sets a step up right far more often than it adds right.
// A quarter is enough: the calculator only acts after a step's '=', and a cluster may hold a
// task with steps beside one without (unit conversions beside dates).
bool writes_arithmetic_out(const ArithmeticForm& form, int min_answers = 20, double min_share_with_steps = 0.25,
                           double max_wrong_share = 0.05);

// What a route holds its specialist to: the "copy_fields" every call carries, a tool call
// forced on a user's turn, the answer's JSON Schema (null: none), the calculator (with the
// decimals the teacher writes results with), and the tokens its working may take on top of a
// caller's max_tokens (working.h). S4 evaluates candidates so (evaluate.h), S6 writes it into
// the route.
struct OutputConstraints {
  std::vector<CopyField> copy_fields;
  bool force_tool_call = false;
  nlohmann::ordered_json answer_schema;
  bool calculator = false;
  int calculator_decimals = -1;  // ArithmeticForm::decimals
  int thinking_tokens = 0;       // thinking_token_budget
};
// All of them, learned from a cluster's trainable calls with the default thresholds.
OutputConstraints learn_output_constraints(const std::vector<const LoggedCall*>& calls);

}  // namespace rpu::convert
