// What a cluster's teacher always does in its answers, learned from its logged calls, which
// the route then holds the specialist to (OutputConstraints): the values it copies from the
// call (copy_fields.h), and whether it always answers a user's turn with a tool call. When it
// does, the route forces one (`force_tool_call:`, gateway/config.h): the specialist's answer
// then follows the offered tools' schemas (a function that exists, its argument names and
// types, enum values) instead of whatever a small model writes.
#pragma once

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

// What a route holds its specialist to: the "copy_fields" every call carries, and a tool call
// forced on a user's turn. S4 evaluates candidates so (evaluate.h), S6 writes it into the route.
struct OutputConstraints {
  std::vector<CopyField> copy_fields;
  bool force_tool_call = false;
};
// Both, learned from a cluster's trainable calls with the default thresholds.
OutputConstraints learn_output_constraints(const std::vector<const LoggedCall*>& calls);

}  // namespace rpu::convert
