// S6 of the conversion loop (run.h): which evaluated (model, strategy) pair of a cluster may
// become a route, with what confidence threshold, and writing that route into the routes file.
// Pure decisions on a cluster's state (cluster-N.json) and the run's options; only deploy_step
// writes, and only through routing_table.h (atomic, checked against the gateway config first).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/answer_form.h"
#include "convert/clusters_file.h"
#include "convert/routing_table.h"
#include "convert/run.h"

namespace rpu::convert {

// The best candidate (evaluated or trained) that may be deployed; null when none may. The
// route it would become (the candidate where its confidence reaches the calibrated threshold,
// the teacher below) must reach the target on the held-out calls, keeping some of them local;
//   by score (the default): and its own held-out score reaches the target;
//   by cascade (RunOptions::deploy_by_cascade): or its route keeps at least min_local_share of
//     the held-out calls local.
// The largest local share wins.
struct Deployable {
  nlohmann::ordered_json candidate;  // null when none may be deployed
  RouteCalibration calibration;
};
Deployable best_deployable(const nlohmann::ordered_json& state, const RunOptions& o, bool by_cascade);

// The gateway upstream the routes escalate to and augmentation asks: --teacher-upstream, else the
// log's first teacher, else "teacher".
std::string teacher_upstream(const RunOptions& o);

// S6 for one cluster: deploys best_deployable's pair with its calibrated threshold, held to
// `constraints` as it was evaluated, and returns the state's "deployed" entry (with the reason
// when nothing is deployed). `calls`: the log, to route by system prompt when the run wrote no
// task classifier.
nlohmann::ordered_json deploy_step(const RunOptions& o, const std::vector<LoggedCall>& calls, const ClusterRecord& record,
                                   const nlohmann::ordered_json& state, const OutputConstraints& constraints);

// How a deployed specialist's calls are recognised by the gateway: by the task classifier S3
// wrote (`cluster`, `classifier_file`), or, without one, by a regex matching the start of the
// cluster's own system prompts (each escaped, cut before the first scrub placeholder; prompts
// that calls outside the cluster also have are left out); plus an alias. Empty `reason`: routable.
struct RouteSelector {
  std::string match_system;
  std::vector<std::string> aliases;
  int cluster = -1;             // >= 0: routed by the task classifier in classifier_file
  std::string classifier_file;
  double covered_share = 0;  // share of the cluster's calls the regex selects
  std::string reason;  // why the calls cannot be selected (then not deployed)
};
// Routes a cluster by the system prompts only its calls use (when no classifier was written,
// e.g. a clusters.json made elsewhere), or by the task classifier `rpu convert` wrote.
RouteSelector route_selector(const ClusterRecord& cluster, const std::vector<LoggedCall>& calls);
RouteSelector classifier_selector(const ClusterRecord& cluster, const std::string& classifier_file);

}  // namespace rpu::convert
