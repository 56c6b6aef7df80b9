// `rpu convert report`: what the conversion loop moved, read from a `rpu convert run` work
// directory (clusters.json + cluster-N.json, run.h) and, optionally, a replay's per-call results
// (bench/convert/replay.mjs --out: {id, type, latency_ms, local, correct, ...} lines).
//
// Per cluster: share of calls, teacher score (1: the held-out answers are its own), specialist
// score and the strategy it was reached with (strategies.h; its samples per call: the extra
// compute), decision and reason (for a deployed route, also why its strategy), share served locally (the deployed route's calibrated local share
// of the held-out calls x the cluster's share), p50 latency of the teacher's logged answers vs
// the specialist's, and the cost saved (the cluster's logged tokens x local share x price per
// 1k tokens). The total is "X% of calls replaceable". A replay adds what was measured through
// the gateway: share answered locally, accuracy, p50 latency of local vs teacher answers.
// The chart is SVG written by hand (no dependency): per cluster, bars for share of calls,
// specialist score (the teacher's is 1) and share served locally.
#pragma once

#include <string>
#include <vector>

namespace rpu::convert {

struct ReportOptions {
  std::string work_dir;
  std::string replay;             // results.jsonl; empty: none
  double price_per_1k_tokens = 0.01;
  std::string out = "report.md";  // the SVG goes next to it, same stem + .svg
};

struct ReportRow {
  int cluster = 0;
  std::string label, decision, reason;
  std::string strategy;          // of the deployed pair, else of the best-scoring one; "" when none
  double samples_per_call = 0;   // that pair's
  double share = 0, teacher_score = 1, specialist_score = -1, local_share = 0;
  double teacher_p50_ms = -1, specialist_p50_ms = -1, cost_saved = 0;
  double model_mb = -1, train_minutes = 0;
};

struct Report {
  std::vector<ReportRow> rows;
  double replaceable = 0;  // share of all calls served locally (estimated from the held-out calls)
  std::string markdown, svg;
};

// Throws rpu::Error when the work dir has no clusters.json or the replay file is unreadable.
Report build_report(const ReportOptions& options);
// build_report, then writes options.out and its .svg. Returns the report.
Report write_report(const ReportOptions& options);

}  // namespace rpu::convert
