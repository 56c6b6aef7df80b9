// --reason, --judge and --calculator for `rpu run` and `rpu chat`: the reasoning strategy as a short form
// ("sc:8", "wsc:8", "asc:16", "bon:8", "bon:8:lp", "step:3", as the server's model-name
// suffixes) or as the server's JSON extension ('{"strategy": "best_of_n", ...}').
#pragma once

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace rpu::cli {

struct ReasonFlags {
  std::string reason;      // empty: no strategy
  std::string judge_path;  // GGUF model for the "judge" verifier
  bool calculator = false; // arithmetic results computed (the "calculator" extension, decode/calculator.h)
};
void add_reason_options(CLI::App* cmd, ReasonFlags& flags);

// The "reasoning" object the flag stands for (nullopt without --reason); a bad value is an
// rpu::Error naming --reason.
std::optional<nlohmann::ordered_json> reasoning_json(const ReasonFlags& flags);
// How many sequences the strategy decodes at once (samples, or beam x expansions).
int reasoning_slots(const nlohmann::ordered_json& reasoning);

}  // namespace rpu::cli
