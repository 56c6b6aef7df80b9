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
  // At least about this many of a cluster's teacher calls are held out: its share rises to
  // min_held_out / calls, at most half (cluster_split). Why: a score on 17-41 held-out calls
  // deployed four routes "by score" in the ninth bench run (0.976-1.000) whose answers to new
  // calls were 78.5-91.3% right; a small cluster's 10% is too few calls to trust.
  int min_held_out = 0;
};

// The split of one cluster with `teacher_calls` teacher calls: the share raised for
// min_held_out. A larger share holds out a superset of the smaller one's calls (the same hash
// threshold, higher), so a call trainable in a cluster is trainable at the base share too.
SplitOptions cluster_split(const SplitOptions& base, size_t teacher_calls);
SplitOptions cluster_split(const SplitOptions& base, const std::vector<const LoggedCall*>& calls);

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
