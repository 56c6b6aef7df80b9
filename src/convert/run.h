// `rpu convert run`: the whole conversion loop over one log, S3 -> S4 -> S5 -> S6, resumable.
//
// Everything a step decides is written into the work directory before the next step starts,
// each file whole (write_file_atomically), so an interrupted run continues where it stopped:
//   DIR/clusters.json        S3 (clusters_file.h); present: the log is not clustered again
//   DIR/cluster-N.json       one cluster's state: {"cluster", "calls", "teacher_calls", ...,
//                            "skipped"?: reason, "evaluated"?: S4, "trained"?: S5, "deployed"?: S6}
//   DIR/cluster-N/           the trained specialist (model.gguf, train.jsonl, loss.csv)
//   DIR/augment.json         what augmentation asked the teacher and kept, per cluster;
//   DIR/augmented.jsonl      the kept calls (augment.h), both written once every cluster is done
//   DIR/held_out_variants.json(l)  the same for variants of the held-out calls
//   DIR/generalist.json      the generalist (RunOptions::wants_generalist): which clusters it
//                            learned, its training report; DIR/generalist/ its model
// A step whose key is in the state file is not run again. Per cluster:
//   - skipped (with the reason) when it has fewer than min_calls calls, fewer than
//     min_teacher_calls teacher answers, or no held-out call;
//   - S4: the base model (every candidate GGUF, and the generalist when the cluster was
//     among its clusters) answers the held-out calls, greedily and with each reasoning
//     strategy of the table that fits the cluster's answers (strategies.h; greedy only for
//     free-form clusters); each (model, strategy) pair is a candidate of its own;
//   - S5: when train_minutes > 0 and none reaches target x the teacher's score, or the
//     generalist learned the cluster (its fine-tune can keep more calls local than a passing
//     candidate), a specialist is trained (time-boxed) on the trainable calls and evaluated
//     the same way;
//   - S6: the best candidate reaching the target is deployed with its strategy as the route's
//     `reasoning:`, a min_confidence calibrated on its held-out (confidence, correct) pairs
//     (the strategy's confidence when it has one: what the cascade judges), a cascade to the
//     teacher and a shadow share; the state says which strategy and why (strategy_reason);
//     one that does not reach it is never deployed, unless deploy_by_cascade and the
//     calibrated route reaches it (see below). The routes file is only written through
//     routing_table.h (atomic, checked against the gateway config first).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/clusters_file.h"
#include "convert/split.h"
#include "model/model.h"

namespace rpu::convert {

struct RunOptions {
  std::string log;                    // usage log or JSONL (cluster_calls.h load_calls)
  std::vector<std::string> teachers;  // target names whose answers are the teacher's; empty: all
  std::string teacher_upstream;       // the cascade's upstream in the gateway config; empty: teachers[0] or "teacher"
  std::string routes_file, gateway_config;
  std::string work_dir;
  double target = 0.95;
  int64_t min_calls = 30;
  int64_t min_teacher_calls = 10;
  double train_minutes = 5;           // per cluster; 0: no training
  int train_steps = 200;
  std::string from = "scratch:s";     // per-cluster S5: builtin | full | scratch:SIZE (train_from_parse)
  int vocab_size = 1024;              // scratch: a vocabulary fitted to the training text (0: the base's)
  // One model for many clusters, trained before the per-cluster steps on the trainable calls
  // of every cluster that is not skipped and whose median teacher answer is at most
  // generalist_max_answer_chars long (free-form writing stays with the teacher); each of
  // those clusters evaluates it in S4 beside the base model. Skills the clusters share
  // (copying values out of the request, formats) are learned once, from all their calls.
  double generalist_minutes = 0;      // wall-time budget; 0 with no steps: no generalist
  // > 0: this many optimizer steps (the learning-rate schedule's length), the minutes then a cap
  // only (0: none). A budget in steps trains the same model on a loaded machine as on a quiet
  // one; a budget in minutes trains fewer steps when other work shares the cores.
  int generalist_steps = 0;
  bool wants_generalist() const { return generalist_minutes > 0 || generalist_steps > 0; }
  std::string generalist_from = "scratch:s";
  int generalist_max_answer_chars = 256;  // also: longer answers get no per-cluster specialist (S5)
  // Augmentation (augment.h): this many variants of each trainable call of every cluster that
  // is learnable (not skipped, not free-form), answered by the teacher upstream of
  // gateway_config (teacher_upstream), augment_parallel calls in flight; 0: none.
  int augment = 0;
  int augment_parallel = 16;
  // This many variants of each held-out call, made and answered the same way, evaluated on
  // (S4, S5) and calibrated on (S6) beside the held-out calls, never trained on (a variant
  // whose request a training call has is dropped). Why: a cluster's held-out split is a few
  // dozen calls, and a cascade threshold calibrated on so few is chosen where they happened
  // to be right; on new calls the kept answers were then less often right than calibrated
  // (bench/RESULTS.md, "Calibration on more held-out calls"). 0: none.
  int held_out_variants = 0;
  std::vector<std::string> candidates;  // GGUF files evaluated besides the base model
  std::vector<std::string> strategies;  // S4's strategies by table name (strategies.h); empty: all that fit
  // S6 deploys a pair only where its route, escalating below a confidence threshold calibrated
  // on the held-out calls, holds the cluster's quality at the target. It also deploys a
  // candidate whose own score misses the target when that route keeps at least min_local_share
  // of the calls local. Of those, the route that keeps the most calls local wins
  // (best_deployable in deploy.h).
  bool deploy_by_cascade = false;
  // S6 calibrates on the kept calls' accuracy at its Wilson lower bound at this z (0: the mean;
  // routing_table.h calibrate_threshold). More escalation, kept answers more often right.
  double calibration_margin = 0;
  double min_local_share = 0.3;
  double shadow_share = 0.05;
  bool scrub_input = false;           // deployed routes get calls scrubbed (the log was: the gateway config's log.scrub)
  // S4-S6 hold a cluster's specialists to what its teacher always does: copy the values it
  // copies (copy_fields.h), call a tool on a user's turn (answer_form.h); evaluated so, and the
  // route asks for it. False: the specialist's output is free.
  bool learned_constraints = true;
  int k = 0;                          // clusters; 0: by silhouette
  SplitOptions split;
  int max_tokens = 256, parallel = 2, threads = 2;
  std::string base_name = "builtin";  // how routes name the base model ("builtin" or its GGUF path)
  std::function<std::unique_ptr<Model>()> load_base;  // the base model (fine-tune start, candidate)
};

struct RunSummary {
  int clusters = 0, skipped = 0, deployed = 0, resumed_steps = 0;
  std::vector<std::string> lines;  // one per cluster: "cluster N: decision (reason)"
};

using RunProgress = std::function<void(const std::string&)>;

// Throws rpu::Error (an empty log, an unreadable work dir).
RunSummary run_conversion(const RunOptions& options, const RunProgress& progress = {});

// `rpu convert run --config FILE`: a YAML map of option long names to a scalar or a list
// ("min-calls: 20", "candidate: [a.gguf, b.gguf]"), as (name, values) in file order. Throws
// rpu::Error naming the file on anything else.
std::vector<std::pair<std::string, std::vector<std::string>>> read_run_config(const std::string& path);

// DIR/cluster-N.json, or null when absent.
nlohmann::ordered_json read_cluster_state(const std::string& work_dir, int cluster);
std::string cluster_state_path(const std::string& work_dir, int cluster);

}  // namespace rpu::convert
