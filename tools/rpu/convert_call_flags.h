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
#include "convert/clusters_file.h"
#include "convert/split.h"
#include "core/error.h"

#include "convert_steps.h"
#include "options.h"

namespace rpu::cli {

struct ConvertCallFlags {
  std::string log;
  convert::CallSelection selection;
  std::vector<std::string> teachers;
  convert::SplitOptions split;
};

inline void add_call_flags(CLI::App* cmd, ConvertCallFlags& f) {
  cmd->add_option("log", f.log, "the gateway's usage log (SQLite file, postgres://...) or a JSONL file of calls")
      ->required()
      ->check(log_location());
  cmd->add_option("--cluster-file", f.selection.cluster_file, "clusters file (from `rpu convert cluster`)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--cluster", f.selection.cluster, "the cluster's id in --cluster-file");
  cmd->add_option("--ids", f.selection.ids, "the cluster's call ids (log row ids); repeatable or comma-separated")
      ->delimiter(',');
  cmd->add_option("--route", f.selection.routes, "calls the gateway routed to this route; repeatable");
  cmd->add_option("--teacher", f.teachers, "target names whose answers are teacher answers (default: the clusters file's, else every call)");
  cmd->add_option("--held-out", f.split.held_out_fraction, "share of the calls held out for evaluation")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-held-out", f.split.min_held_out,
                  "at least about this many of the calls held out (the share rises, to at most half)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--split-seed", f.split.seed, "seed of the held-out split");
}

// The cluster's calls, loaded and checked; `calls` owns them.
inline std::vector<const convert::LoggedCall*> load_cluster(const ConvertCallFlags& f,
                                                            std::vector<convert::LoggedCall>& calls) {
  if (!f.selection.cluster_file.empty() && f.selection.cluster.empty()) fail("--cluster-file needs --cluster");
  std::vector<std::string> teachers = f.teachers;
  if (teachers.empty() && !f.selection.cluster_file.empty()) {
    teachers = convert::read_clusters_file(f.selection.cluster_file).teachers;  // as S3 was told
  }
  calls = convert::load_calls(f.log, teachers);
  auto cluster = convert::select_calls(calls, f.selection);
  if (cluster.empty()) fail("{}: no calls in this cluster ({} calls in the log)", f.log, calls.size());
  return cluster;
}

}  // namespace rpu::cli
