#include "convert/answer_form.h"

namespace rpu::convert {

ToolCallForm tool_call_form(const std::vector<const LoggedCall*>& calls) {
  ToolCallForm form;
  for (const LoggedCall* c : calls) {
    if (!c->tools.is_array() || c->tools.empty() || !c->messages.is_array() || c->messages.empty()) continue;
    if (c->messages.back().value("role", "") != "user") continue;
    ++form.user_turns;
    const auto& calls_made = c->answer.is_object() ? c->answer.value("tool_calls", nlohmann::ordered_json()) : nullptr;
    if (calls_made.is_array() && !calls_made.empty()) ++form.tool_calls;
  }
  return form;
}

bool always_calls_a_tool(const ToolCallForm& form, int min_turns, double max_miss_share) {
  return form.user_turns >= min_turns && form.user_turns - form.tool_calls <= max_miss_share * form.user_turns;
}

OutputConstraints learn_output_constraints(const std::vector<const LoggedCall*>& calls) {
  return {copied_fields(calls), always_calls_a_tool(tool_call_form(calls))};
}

}  // namespace rpu::convert
