// Whether a cluster's teacher always answers a user's turn with a tool call, learned from its
// logged calls. When it does, the route forces one (`force_tool_call:`, gateway/config.h): the
// specialist's answer then follows the offered tools' schemas (a function that exists, its
// argument names and types, enum values) instead of whatever a small model writes.
#pragma once

#include <vector>

#include "convert/logged_call.h"

namespace rpu::convert {

struct ToolCallForm {
  int user_turns = 0;   // trainable calls offering tools whose last message is the user's
  int tool_calls = 0;   // of them, answered with a tool call
};

ToolCallForm tool_call_form(const std::vector<const LoggedCall*>& calls);
// At least `min_turns` such calls, and all but `max_miss_share` of them answered with a call.
bool always_calls_a_tool(const ToolCallForm& form, int min_turns = 20, double max_miss_share = 0.02);

}  // namespace rpu::convert
