// S6 deploy and rollback: the gateway's routes file (`routes_file:` in its config,
// gateway/config.h merge_routes_file), which the conversion loop writes and the gateway reloads
// while serving. One specialist is one `models:` entry (its GGUF file) plus one route (match
// rules or aliases, a cascade to the teacher with a calibrated min_confidence, a shadow share
// to keep comparing it with the teacher), and optionally the routes file's `classifier:` mapping
// of its cluster (the task classifier `rpu convert cluster` wrote) to the route.
//
// Every write is atomic (a temporary file in the same folder, fsync, rename, fsync of the
// folder), so the gateway reads either the old file or the new one, never a mix; and before
// each write the current file is kept as FILE.prev (written the same way), so the previous
// version can be put back.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "decode/copy_matcher.h"
#include "gateway/config.h"

namespace rpu::convert {

class RoutingTableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SpecialistRoute {
  std::string name;                  // the route's name (also the model entry's, unless model_name is set)
  std::vector<std::string> aliases;  // request model names that select it
  std::string match_task;            // X-Rpu-Task header equals this
  std::string match_system;          // regex on the system prompt(s)
  std::string model_name;            // the models: entry; empty: `name`
  std::string model_path;            // the specialist's GGUF (made absolute when written), or "builtin"
  int parallel = 2;                  // sequences the gateway decodes together for it
  // The route's `reasoning:` (the strategy S4 chose, convert/strategies.h: the gateway sends it
  // with every call, and the cascade then judges the strategy's confidence); null: greedy.
  nlohmann::ordered_json reasoning;
  std::string teacher;               // cascade upstream (a name of the main config); empty: no cascade
  double min_confidence = 0.5;       // below this the teacher answers
  gateway::ConfidenceMeasure confidence = gateway::ConfidenceMeasure::kMeanToken;  // what min_confidence is on
  double shadow_share = 0;           // share of calls also sent to the teacher, logged for comparison
  bool scrub_input = false;          // the specialist was trained on a scrubbed log: it gets calls scrubbed too
  std::vector<CopyField> copy_fields;  // values the specialist must copy from the call (copy_fields.h)
  bool force_tool_call = false;        // a user's turn offering tools gets tool_choice "required" (answer_form.h)
  nlohmann::ordered_json answer_schema;  // the answer's JSON Schema (answer_form.h); null: none
  bool calculator = false;             // arithmetic results computed (answer_form.h, decode/calculator.h)
  int calculator_decimals = -1;        // >= 0: written with that many decimals
  int thinking_tokens = 0;             // the working's tokens on top of max_tokens (working.h)
  int cluster = -1;                  // >= 0: the classifier's calls of this cluster go to the route
  std::string classifier_file;       // the classifier (made absolute when written); needed with `cluster`
};

// The routes file's route names, in order (specialists first). An absent file has none.
std::vector<std::string> routing_table_routes(const std::string& routes_file);

// The YAML text of `routes_file` with `route` added first (replacing a route, and a model, of
// the same name; with a cluster, `classifier:` names classifier_file and maps the cluster to
// the route, other clusters' mappings kept). Throws RoutingTableError on a route without a name, a model or any way to
// be selected, or a file that is not a routes file.
std::string routes_with(const std::string& routes_file, const SpecialistRoute& route);
// The YAML text without route `name` (and its model, when no other route uses it, and its
// classifier mappings; the classifier section goes when no mapping is left); `found`
// says whether it was there.
std::string routes_without(const std::string& routes_file, const std::string& name, bool* found = nullptr);

// Deploys `route` (routes_with, then write_routes_file). When `gateway_config` is given, the
// result is first checked as the gateway will read it (merged with that config: names,
// targets, regexes, model files), and nothing is written if it fails (gateway::ConfigError).
void deploy_route(const std::string& routes_file, const SpecialistRoute& route, const std::string& gateway_config = "");
// Rolls route `name` back (removes it). False when there was no such route (nothing written).
bool remove_route(const std::string& routes_file, const std::string& name, const std::string& gateway_config = "");
// Puts FILE.prev back as FILE (the current one becomes FILE.prev). False without a FILE.prev.
bool restore_previous_routes(const std::string& routes_file);

// Keeps the current file as FILE.prev, then writes `text` as FILE; both atomically.
void write_routes_file(const std::string& routes_file, const std::string& text);
// Writes `text` to `path` so that a reader sees the old or the new content, never a part.
void write_file_atomically(const std::string& path, const std::string& text);

// Calibration of a specialist's min_confidence on held-out calls.
struct CalibrationSample {
  double confidence = 0;  // the specialist's confidence on the call (cascade.h)
  bool correct = false;   // whether its answer matched the teacher's
  double weight = 1;      // its share of a held-out call (evaluate.h family_weights)
};
struct Calibration {
  double threshold = 1;       // the lowest min_confidence that keeps the quality at the target
  double local_share = 0;     // share of calls the specialist then keeps
  double expected_quality = 0;  // kept calls' accuracy plus escalated ones at the teacher's quality
  bool feasible = false;      // false: not even escalating everything reaches the target
};
// Calls with confidence >= threshold stay local (the cascade escalates below min_confidence);
// a confidence below 0 is escalated at every threshold (evaluate.h CallScore::confidence);
// escalated calls count at `teacher_quality` (1: the teacher's answers are the reference).
// Shares and qualities are weighted by CalibrationSample::weight.
// Picks the lowest threshold whose expected quality is >= `target_quality`.
// margin_z > 0: the kept calls' accuracy is taken at its Wilson lower bound at z = margin_z
// (their weight as the number of calls), not at its mean. Why: a threshold calibrated on a few
// dozen held-out calls is chosen where they happened to be right. In the ninth bench run four
// routes kept every call on 17-41 held-out calls at 0.976-1.000, and their answers to new calls
// were 78.5-91.3% right.
Calibration calibrate_threshold(std::vector<CalibrationSample> samples, double target_quality,
                                double teacher_quality = 1.0, double margin_z = 0);
// A route's calibration and the confidence measure its threshold is on.
struct RouteCalibration {
  Calibration calibration;
  gateway::ConfidenceMeasure measure = gateway::ConfidenceMeasure::kMeanToken;
};
// Calibrates on each measure (the same calls' confidences: by_mean the mean token probability,
// by_answer the answer's probability; empty: not measured) and keeps the measure that keeps more
// calls local at the target; the mean on a tie. Why: in the thirteenth bench run the tool-call
// specialist's wrong answers had a mean token probability of 0.99 (one wrong value among 30
// sure markup tokens); on the answer's probability the same held-out calls kept 58% local at
// the quality target instead of 47%. On classification and normalisation both kept the same.
RouteCalibration calibrate_measures(std::vector<CalibrationSample> by_mean, std::vector<CalibrationSample> by_answer,
                                    double target_quality, double margin_z = 0);
// The Wilson score interval's lower end for `right` of `n` at z (0 when n is 0).
double wilson_lower_bound(double right, double n, double z);

}  // namespace rpu::convert
