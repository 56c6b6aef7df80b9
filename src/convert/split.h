// S4/S5's held-out split: which logged calls are kept for evaluation and never trained on.
// The side a call lands on is a function of its request's content only (a hash of the
// canonical messages + tools), so identical requests, wherever they occur in the log and
// however often, are all held out or all trainable: a model never sees a held-out prompt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convert/logged_call.h"

namespace rpu::convert {

struct SplitOptions {
  double held_out_fraction = 0.2;
  uint64_t seed = 0;  // another seed, another (equally sized) split
};

// The request as one canonical text: compact JSON of {"messages", "tools"}.
std::string request_key(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools);
uint64_t request_hash(const LoggedCall& call);
bool is_held_out(const LoggedCall& call, const SplitOptions& options);

struct Split {
  std::vector<const LoggedCall*> train, held_out;  // point into the caller's vector
};
// Only teacher examples (from_teacher) are split; other calls are left out of both sides.
Split split_calls(const std::vector<LoggedCall>& calls, const SplitOptions& options);
Split split_calls(const std::vector<const LoggedCall*>& calls, const SplitOptions& options);

// Lines of a chat training file (see training_file.h) whose prompt (every message before the
// final assistant answer) is the prompt of one of `held_out`: the leaks, as "line N: call ID".
// Empty means the file is clean.
std::vector<std::string> held_out_in_training_file(const std::vector<const LoggedCall*>& held_out,
                                                   const std::string& path);

}  // namespace rpu::convert
