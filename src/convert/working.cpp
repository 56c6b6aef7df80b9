#include "convert/working.h"

#include <algorithm>

#include "convert/logged_call.h"
#include "convert/metric.h"
#include "decode/arithmetic.h"

namespace rpu::convert {
namespace {

constexpr std::string_view kOpen = "<think>\n", kClose = "\n</think>\n\n";

}  // namespace

std::string written_result(const ArithmeticStep& step) {
  const size_t eq = step.text.rfind('=');
  std::string result = eq == std::string::npos ? std::string() : step.text.substr(eq + 1);
  result.erase(0, result.find_first_not_of(" $"));
  return result;
}

std::string teacher_working(const nlohmann::ordered_json& answer) {
  if (!answer.is_object() || metric_for_answer(answer) == MetricKind::kToolCall) return "";
  const auto reasoning = answer.find("reasoning_content");
  const auto content = answer.find("content");
  if (reasoning == answer.end() || !reasoning->is_string() || content == answer.end() || !content->is_string()) return "";
  const std::vector<ArithmeticStep> steps = find_arithmetic_steps(reasoning->get_ref<const std::string&>());
  if (steps.empty()) return "";
  std::string working;
  for (const ArithmeticStep& s : steps) {
    if (!s.correct) return "";
    working += (working.empty() ? "" : "\n") + s.text;
  }
  const std::string last = written_result(steps.back());
  if (last.empty() || content->get_ref<const std::string&>().find(last) == std::string::npos) return "";
  return working;
}

std::string with_working(const std::string& working, const std::string& answer) {
  if (working.empty()) return answer;
  return std::string(kOpen) + working + std::string(kClose) + answer;
}

int thinking_token_budget(const std::vector<const LoggedCall*>& calls) {
  size_t longest = 0;
  for (const LoggedCall* c : calls) {
    if (c->from_teacher) longest = std::max(longest, teacher_working(c->answer).size());
  }
  return longest == 0 ? 0 : static_cast<int>(longest + kOpen.size() + kClose.size());
}

}  // namespace rpu::convert
