// Flags shared by `rpu convert select` and `rpu convert train`: which logged calls form the
// cluster (src/convert/cluster_calls.h) and how they are split (src/convert/split.h).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "convert/cluster_calls.h"
#include "convert/split.h"
#include "core/error.h"

#if __has_include("convert_steps.h")
#include "convert_steps.h"
#else
namespace rpu::cli {
// As tools/rpu/convert_steps.h (branch `cluster`) declares it: each `rpu convert` step's
// subcommand and the function that runs it.
using ConvertSteps = std::vector<std::pair<CLI::App*, std::function<int()>>>;
}  // namespace rpu::cli
#endif

namespace rpu::cli {

void add_convert_select(CLI::App& convert, ConvertSteps& steps);
void add_convert_train(CLI::App& convert, ConvertSteps& steps);

struct ConvertCallFlags {
  std::string log;
  convert::CallSelection selection;
  std::vector<std::string> teachers;
  convert::SplitOptions split;
};

inline void add_call_flags(CLI::App* cmd, ConvertCallFlags& f) {
  cmd->add_option("log", f.log, "the gateway's usage log (SQLite file, postgres://...) or a JSONL file of calls")->required();
  cmd->add_option("--cluster-file", f.selection.cluster_file, "clusters file (from `rpu convert cluster`)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--cluster", f.selection.cluster, "the cluster's id in --cluster-file");
  cmd->add_option("--ids", f.selection.ids, "the cluster's call ids (log row ids); repeatable or comma-separated")
      ->delimiter(',');
  cmd->add_option("--route", f.selection.routes, "calls the gateway routed to this route; repeatable");
  cmd->add_option("--teacher", f.teachers, "target names whose answers are teacher answers (default: every call)");
  cmd->add_option("--held-out", f.split.held_out_fraction, "share of the calls held out for evaluation")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--split-seed", f.split.seed, "seed of the held-out split");
}

// The cluster's calls, loaded and checked; `calls` owns them.
inline std::vector<const convert::LoggedCall*> load_cluster(const ConvertCallFlags& f,
                                                            std::vector<convert::LoggedCall>& calls) {
  if (!f.selection.cluster_file.empty() && f.selection.cluster.empty()) fail("--cluster-file needs --cluster");
  calls = convert::load_calls(f.log, f.teachers);
  auto cluster = convert::select_calls(calls, f.selection);
  if (cluster.empty()) fail("{}: no calls in this cluster ({} calls in the log)", f.log, calls.size());
  return cluster;
}

}  // namespace rpu::cli
