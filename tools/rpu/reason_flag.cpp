#include "reason_flag.h"

#include <algorithm>

#include "core/error.h"
#include "core/json_text.h"
#include "pipeline/call.h"
#include "reasoning/spec.h"

namespace rpu::cli {

void add_reason_options(CLI::App* cmd, ReasonFlags& flags) {
  cmd->add_option("--reason", flags.reason,
                  "reasoning strategy: sc:N, wsc:N, asc:N, bon:N, bon:N:lp, step:N, or the JSON 'reasoning' object");
  cmd->add_option("--judge", flags.judge_path, "model (GGUF) for the \"judge\" verifier of best-of-N / step search")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--calculator", flags.calculator,
                "compute the results of the arithmetic steps the reply writes (\"27 + 26 =\" is followed by 53)");
}

std::optional<nlohmann::ordered_json> reasoning_json(const ReasonFlags& flags) {
  if (flags.reason.empty()) return std::nullopt;
  std::optional<nlohmann::ordered_json> j;
  if (flags.reason.front() == '{') {
    j = parse_json_text<nlohmann::ordered_json>(flags.reason, "--reason");
  } else {
    std::string compact = flags.reason;
    std::erase(compact, ':');
    j = reasoning::model_suffix_json(compact);
    if (!j) fail("--reason: '{}' is not a strategy (sc:N, wsc:N, asc:N, bon:N, bon:N:lp, step:N or a JSON object)", flags.reason);
  }
  try {
    reasoning::parse_reasoning_spec(*j);
  } catch (const ApiError& e) {
    fail("--reason: {}", e.what());
  }
  return j;
}

int reasoning_slots(const nlohmann::ordered_json& reasoning) {
  const reasoning::ReasoningSpec spec = reasoning::parse_reasoning_spec(reasoning);
  const int wanted = spec.strategy == reasoning::Strategy::kStepSearch ? spec.n * spec.expand
                     : spec.strategy == reasoning::Strategy::kAdaptive ? spec.round
                                                                         : spec.n;
  return std::clamp(wanted, 1, 16);
}

}  // namespace rpu::cli
