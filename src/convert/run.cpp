#include "convert/run.h"

#include "convert/answer_form.h"
#include "convert/augment.h"
#include "convert/classifier_file.h"
#include "convert/deploy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "convert/cluster.h"
#include "convert/cluster_calls.h"
#include "convert/evaluate.h"
#include "convert/routing_table.h"
#include "convert/select.h"
#include "convert/strategies.h"
#include "convert/train_specialist.h"
#include "core/error.h"
#include "gateway/config.h"
#include "gateway/gateway_backend.h"
#include "gateway/router.h"
#include "tokenizer/vocab_trainer.h"

#include <yaml-cpp/yaml.h>

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

// Everything one cluster's steps share.
struct RunContext {
  const RunOptions& options;
  const RunProgress& progress;
  const std::vector<LoggedCall>& calls;
  std::unique_ptr<Model> base;  // loaded on first need: a fully resumed run never loads it
  RunSummary summary;

  Model& base_model() {
    if (!base) base = options.load_base();
    return *base;
  }
  void say(const std::string& line) const {
    if (progress) progress(line);
  }
};

void write_state(const std::string& work_dir, int cluster, const json& state) {
  write_file_atomically(cluster_state_path(work_dir, cluster), state.dump(2) + "\n");
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// One evaluated (candidate, strategy) pair as the state keeps it: its scores, its cost, and the
// (confidence, correct) pairs S6 calibrates on, so a resumed run need not evaluate again. The
// confidence is the one the gateway's cascade will judge the route's answers by: the
// strategy's (vote share, verifier agreement) when it has one, else the token probability.
json candidate_state(const std::string& model, const CandidateResult& r) {
  json samples = json::array();
  for (const CallScore& c : r.evaluation.calls) {
    samples.push_back(
        json::array({c.confidence, c.correct, c.weight, c.answer_confidence, c.model_confidence, c.model_answer_confidence}));
  }
  json state = candidate_json(r);
  state["model"] = model;
  state["samples"] = std::move(samples);
  return state;
}

// What S4 found for some models on a cluster's held-out calls: one state entry per (model,
// strategy) pair, the best of them (select.h's rule) and the strategies left out, with why.
struct Evaluated {
  json entries = json::array();
  int best = -1;
  std::vector<std::string> not_tried;
};

// Evaluates `models` (name -> path or "builtin") on the held-out calls with `strategies`.
Evaluated evaluate_models(RunContext& ctx, const std::vector<std::pair<std::string, std::string>>& models,
                          const std::vector<const LoggedCall*>& held_out, const std::vector<StrategyChoice>& strategies,
                          const OutputConstraints& constraints) {
  const RunOptions& o = ctx.options;
  std::vector<std::unique_ptr<LocalModel>> open;
  std::vector<Candidate> candidates;
  std::map<std::string, std::string> path_of;
  for (const auto& [name, path] : models) {
    std::unique_ptr<Model> m = path == o.base_name ? nullptr : Model::load(path);
    if (!m) m = o.load_base();  // a second copy: the base stays untouched for fine-tuning
    open.push_back(open_local_model(std::move(m), name, o.parallel, o.threads));
    candidates.push_back({name, open.back()->backend.get(), o.parallel});
    path_of[name] = path;
  }
  SelectOptions so;
  so.target = o.target;
  so.evaluate.max_tokens = o.max_tokens;
  so.evaluate.constraints = constraints;
  so.strategies = strategies;
  const Selection s = select_model(held_out, candidates, so, [&](const CandidateResult& r) {
    ctx.say(fmt::format("  {} {}: score {:.3f} ({:.0f}% of the teacher), {:.1f} samples per call, p50 {:.0f} ms, in {:.1f} s",
                        r.name, r.strategy, r.evaluation.mean_score, 100 * r.share_of_teacher,
                        r.evaluation.samples_per_call, r.evaluation.latency_p50_ms, r.evaluation.seconds));
  });
  for (const std::string& line : s.not_tried) ctx.say("  not tried: " + line);
  Evaluated out;
  for (const CandidateResult& r : s.candidates) out.entries.push_back(candidate_state(path_of[r.name], r));
  out.best = s.best;
  out.not_tried = s.not_tried;
  return out;
}

// Why the cluster is not worth converting, or "" when it is.
std::string skip_reason(const RunOptions& o, const json& state) {
  const int64_t calls = state["calls"], teacher = state["teacher_calls"], held_out = state["held_out"];
  if (calls < o.min_calls) return fmt::format("too few calls: {} < --min-calls {}", calls, o.min_calls);
  if (teacher < o.min_teacher_calls) {
    return fmt::format("too few teacher answers: {} < {}", teacher, o.min_teacher_calls);
  }
  if (held_out == 0) return "no held-out call to evaluate on";
  return "";
}

// S5 for one cluster: a specialist trained on its calls; when the generalist learned the
// cluster, by fine-tuning every weight of `start` (fine_tune_start, select.h: the generalist or a
// model that did better in S4), otherwise as RunOptions::from says.
json train_step(RunContext& ctx, int id, const std::vector<const LoggedCall*>& members, const SplitOptions& split,
                const std::vector<const LoggedCall*>& held_out, const std::pair<std::string, std::string>& start,
                const std::vector<StrategyChoice>& strategies, const OutputConstraints& constraints) {
  const RunOptions& o = ctx.options;
  SpecialistOptions so;
  const bool from_model = !start.second.empty();
  const std::string from = from_model ? "full:" + start.first : o.from;
  so.from = from_model ? TrainFrom::kFull : train_from_parse(o.from, &so.size);
  so.vocab_size = o.vocab_size;
  so.minutes = o.train_minutes;
  so.max_steps = o.train_steps;
  so.threads = o.threads;
  so.out_dir = fmt::format("{}/cluster-{}", o.work_dir, id);
  ctx.say(fmt::format("  S5: training {} for at most {} min / {} steps", from, o.train_minutes, o.train_steps));
  std::unique_ptr<Model> start_model =
      !from_model || start.second == o.base_name ? nullptr : Model::load(start.second);
  const Specialist s = train_specialist(start_model ? *start_model : ctx.base_model(), members, split, so, {});
  const Evaluated evaluated = evaluate_models(ctx, {{"trained:" + from, s.model_path}}, held_out, strategies, constraints);
  const double model_mb = static_cast<double>(fs::file_size(s.model_path)) / 1e6;
  return {{"model", s.model_path},
          {"from", from},
          {"vocab_size", s.vocab_size},
          {"examples", s.data.written},
          {"trainable_parameters", s.parameters},
          {"model_mb", model_mb},
          {"steps", s.report.steps},
          {"minutes", s.report.seconds / 60},
          {"loss", {s.report.first_loss, s.report.last_loss}},
          {"candidate", evaluated.entries[static_cast<size_t>(evaluated.best)]},  // the best of its strategies
          {"candidates", evaluated.entries}};
}

json initial_state(const ClusterRecord& record, const std::vector<const LoggedCall*>& members, const Split& split) {
  std::vector<double> teacher_latency;
  for (const LoggedCall* c : members) {
    if (c->from_teacher) teacher_latency.push_back(c->latency_ms);
  }
  return {{"cluster", record.id},
          {"calls", record.size},
          {"volume", record.volume},
          {"teacher_calls", record.teacher_calls},
          {"held_out", split.held_out.size()},
          {"trainable", split.train.size()},
          {"top_terms", record.top_terms},
          {"teacher_latency_p50_ms", median(teacher_latency)},
          {"tokens", record.prompt_tokens + record.completion_tokens}};
}

// A cluster's calls in an order of their content (request hash, then id), not of the log's
// rows: what is trained and augmented from them (the variants' draws, the training file's
// order) is then the same for the same calls however the log came to hold them.
std::vector<const LoggedCall*> members_of(const ClusterRecord& record, const std::map<int64_t, const LoggedCall*>& by_id) {
  std::vector<std::pair<uint64_t, const LoggedCall*>> keyed;
  for (int64_t id : record.call_ids) {
    if (auto it = by_id.find(id); it != by_id.end()) keyed.emplace_back(request_hash(*it->second), it->second);
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->id < b.second->id;
  });
  std::vector<const LoggedCall*> members;
  for (const auto& [hash, call] : keyed) members.push_back(call);
  return members;
}

double median_answer_chars(const std::vector<const LoggedCall*>& calls) {
  std::vector<double> lengths;
  for (const LoggedCall* c : calls) {
    if (c->from_teacher) lengths.push_back(static_cast<double>(answer_text(c->answer).size()));
  }
  return median(lengths);
}

// One cluster as the run sees it, worked out once: its calls, their split, its saved state
// (fresh ones saved with the reason to skip them, if any), and whether its answers are
// free-form writing, which no small model is trained for.
struct ClusterWork {
  const ClusterRecord* record = nullptr;
  std::vector<const LoggedCall*> members;
  SplitOptions split_options;  // RunOptions::split with its share raised for min_held_out
  Split split;
  json state;
  std::string free_form;  // why the cluster is free-form; empty when it is not
  std::vector<LoggedCall> augmented;  // the teacher's answers to variants of its trainable calls (augment.h)
  // The teacher's answers to variants of its held-out calls (RunOptions::held_out_variants):
  // evaluated on beside them, never trained on.
  std::vector<LoggedCall> held_out_variants;
  OutputConstraints constraints;  // what its teacher always does (answer_form.h); none unless learned

  // What S5 and the generalist train on: the trainable split and the variants of its calls
  // (a variant whose request hashes into the held-out share is left out when the file is written).
  std::vector<const LoggedCall*> training_calls() const {
    std::vector<const LoggedCall*> calls = split.train;
    for (const LoggedCall& c : augmented) calls.push_back(&c);
    return calls;
  }
  // What S4 and S5 evaluate on and S6 calibrates on: the held-out calls and their variants.
  std::vector<const LoggedCall*> evaluation_calls() const {
    std::vector<const LoggedCall*> calls = split.held_out;
    for (const LoggedCall& c : held_out_variants) calls.push_back(&c);
    return calls;
  }
  bool learnable() const { return !state.contains("skipped") && free_form.empty(); }
};

ClusterWork cluster_work(const RunOptions& o, const ClusterRecord& record, const std::map<int64_t, const LoggedCall*>& by_id) {
  ClusterWork w;
  w.record = &record;
  w.members = members_of(record, by_id);
  w.split_options = cluster_split(o.split, w.members);
  w.split = split_calls(w.members, w.split_options);
  w.state = read_cluster_state(o.work_dir, record.id);
  if (w.state.is_null()) w.state = initial_state(record, w.members, w.split);
  if (!w.state.contains("skipped") && !w.state.contains("deployed")) {
    if (const std::string why = skip_reason(o, w.state); !why.empty()) {
      w.state["skipped"] = why;
      write_state(o.work_dir, record.id, w.state);
    }
  }
  if (o.learned_constraints) {  // recorded in the state for the report; deploy_step uses the struct
    w.constraints = learn_output_constraints(w.split.train);
    if (!w.constraints.copy_fields.empty()) w.state["copy_fields"] = copy_fields_json(w.constraints.copy_fields);
    if (w.constraints.force_tool_call) w.state["force_tool_call"] = true;
    if (w.constraints.answer_schema.is_object()) w.state["answer_schema"] = w.constraints.answer_schema;
    if (w.constraints.thinking_tokens > 0) w.state["thinking_tokens"] = w.constraints.thinking_tokens;
    if (w.constraints.calculator) {
      w.state["calculator"] = w.constraints.calculator_decimals >= 0 ? json{{"decimals", w.constraints.calculator_decimals}}
                                                                      : json(true);
    }
  }
  if (const double chars = median_answer_chars(w.members); chars > o.generalist_max_answer_chars) {
    w.free_form = fmt::format("median answer {:.0f} characters > {}: free-form, left to the teacher", chars,
                              o.generalist_max_answer_chars);
  }
  return w;
}

// The teacher upstream of the gateway config and the file it was read from (augmentation calls
// it as the gateway would: its retries and breaker). Throws rpu::Error when there is no config
// or no such upstream.
struct TeacherRemote {
  gateway::RemoteConfig remote;
  std::string config_file;
};
TeacherRemote teacher_remote(const RunOptions& o) {
  if (o.gateway_config.empty()) {
    fail("convert run --augment / --held-out-variants: the teacher is called through --gateway-config, which is not given");
  }
  const gateway::GatewayConfig config = gateway::load_gateway_config(o.gateway_config);
  const std::string name = teacher_upstream(o);
  for (const gateway::RemoteConfig& remote : config.remotes) {
    if (remote.name == name) return {remote, config.file};
  }
  fail("convert run --augment / --held-out-variants: {} has no upstream named {} (--teacher-upstream)", o.gateway_config, name);
}

// One set of teacher-answered variants (augment.h) of every learnable cluster's calls: which
// calls are varied, into which member of ClusterWork they go, and the files that keep them.
struct VariantSet {
  const char* what;          // for messages: "augmentation", "held-out variants"
  std::string calls_path;    // DIR/<name>.jsonl: the kept calls
  std::string report_path;   // DIR/<name>.json: what was asked and got, per cluster
  int per_call = 0;
  uint64_t seed_offset = 0;  // another seed per set: the two sets vary differently
  int64_t first_id = -1;     // the kept calls' ids count down from here (never a log row's)
  bool from_held_out = false;  // vary the held-out calls (else the trainable ones)
  std::vector<LoggedCall> ClusterWork::*into = nullptr;
};

// A held-out variant whose request is a trainable call's, or a training variant's, would
// be evaluated on what was trained on: dropped.
void drop_trained_prompts(ClusterWork& w) {
  std::set<std::string> trained;
  for (const LoggedCall* c : w.training_calls()) trained.insert(request_key(c->messages, c->tools));
  std::erase_if(w.held_out_variants, [&](const LoggedCall& c) { return trained.count(request_key(c.messages, c.tools)) > 0; });
}

void load_variants(const VariantSet& set, std::vector<ClusterWork>& clusters) {
  std::map<int, std::vector<LoggedCall>> saved = read_augmented(set.calls_path, set.first_id);
  for (ClusterWork& w : clusters) w.*set.into = std::move(saved[w.record->id]);
}

// Asks the teacher upstream of the gateway config for `set`'s variants of every learnable
// cluster's calls. Both files are written once every cluster is done: an interrupted step
// leaves neither, and runs again; present, nothing is asked again.
void variants_step(RunContext& ctx, std::vector<ClusterWork>& clusters, const VariantSet& set) {
  const RunOptions& o = ctx.options;
  if (fs::exists(set.report_path)) {
    ++ctx.summary.resumed_steps;
    load_variants(set, clusters);
    return;
  }
  const TeacherRemote t = teacher_remote(o);
  AugmentOptions ao;
  ao.per_call = set.per_call;
  ao.parallel = o.augment_parallel;
  ao.model = t.remote.model;
  std::unique_ptr<Backend> teacher = gateway::make_remote_backend(t.remote, t.config_file);
  json report = json::object();
  std::map<int, std::vector<LoggedCall>> kept;
  for (const ClusterWork& w : clusters) {
    if (!w.learnable()) continue;
    const std::vector<const LoggedCall*>& sources = set.from_held_out ? w.split.held_out : w.split.train;
    ao.seed = static_cast<uint64_t>(w.record->id) + 1 + set.seed_offset;
    ctx.say(fmt::format("{}: cluster {}, {} variants of each of {} {} calls", set.what, w.record->id, set.per_call,
                        sources.size(), set.from_held_out ? "held-out" : "trainable"));
    AugmentReport r;
    kept[w.record->id] = augment_calls(*teacher, sources, ao, &r, ctx.progress);
    ctx.say(fmt::format("  {} asked, {} kept, {} not in the cluster's shape, {} failed, in {:.0f} s{}", r.variants, r.kept,
                        r.wrong_shape, r.failed, r.seconds, r.stopped ? "; stopped: " + r.stop_reason : ""));
    report[std::to_string(w.record->id)] = r.to_json();
    if (r.stopped) break;  // the teacher is gone: the clusters after this one get nothing
  }
  write_augmented(set.calls_path, kept);
  write_file_atomically(set.report_path, json{{"per_call", set.per_call}, {"clusters", report}}.dump(2) + "\n");
  load_variants(set, clusters);
}

// Augmentation (RunOptions::augment): variants of the trainable calls, trained on.
void augment_step(RunContext& ctx, std::vector<ClusterWork>& clusters) {
  const RunOptions& o = ctx.options;
  variants_step(ctx, clusters, {"augmentation", o.work_dir + "/augmented.jsonl", o.work_dir + "/augment.json", o.augment, 0,
                                -1, false, &ClusterWork::augmented});
}

// RunOptions::held_out_variants: variants of the held-out calls, evaluated and calibrated on.
void held_out_variants_step(RunContext& ctx, std::vector<ClusterWork>& clusters) {
  const RunOptions& o = ctx.options;
  variants_step(ctx, clusters, {"held-out variants", o.work_dir + "/held_out_variants.jsonl",
                                o.work_dir + "/held_out_variants.json", o.held_out_variants, 0x9e3779b97f4a7c15ULL,
                                int64_t{-1} << 40, true, &ClusterWork::held_out_variants});
  for (ClusterWork& w : clusters) {
    drop_trained_prompts(w);
    w.state["held_out_variants"] = w.held_out_variants.size();
  }
}

// The generalist (RunOptions::wants_generalist): trained once, on the trainable calls of
// every eligible cluster, then a candidate in each of them. DIR/generalist.json keeps which
// clusters it learned; present, nothing is trained again.
json generalist_step(RunContext& ctx, const std::vector<ClusterWork>& clusters) {
  const RunOptions& o = ctx.options;
  const std::string path = o.work_dir + "/generalist.json";
  if (std::ifstream in(path); in) {
    ++ctx.summary.resumed_steps;
    return json::parse(in);
  }
  json out{{"clusters", json::array()}, {"left_out", json::object()}};
  std::vector<const LoggedCall*> calls;
  for (const ClusterWork& w : clusters) {
    const std::string why = w.state.contains("skipped") ? w.state["skipped"].get<std::string>() : w.free_form;
    if (!why.empty()) {
      out["left_out"][std::to_string(w.record->id)] = why;
      continue;
    }
    out["clusters"].push_back(w.record->id);
    const std::vector<const LoggedCall*> mine = w.training_calls();
    calls.insert(calls.end(), mine.begin(), mine.end());
  }
  if (calls.empty()) {
    out["model"] = nullptr;
    out["reason"] = "no cluster to learn";
  } else {
    SpecialistOptions so;
    so.from = train_from_parse(o.generalist_from, &so.size);
    so.vocab_size = o.vocab_size;
    so.minutes = o.generalist_minutes;
    so.max_steps = o.generalist_steps;  // 0: epochs decide, and with 1000 of them the minutes do
    so.epochs = 1000;
    so.threads = o.threads;
    so.out_dir = o.work_dir + "/generalist";
    std::string budget = fmt::format("{} min", o.generalist_minutes);
    if (o.generalist_steps > 0) {
      budget = fmt::format("{} steps", o.generalist_steps);
      if (o.generalist_minutes > 0) budget += fmt::format(" (at most {} min)", o.generalist_minutes);
    }
    ctx.say(fmt::format("generalist: training {} on {} calls of clusters {} for {}", o.generalist_from, calls.size(),
                        out["clusters"].dump(), budget));
    // Each cluster's calls are its trainable split already (held out at its own share).
    const Specialist s = train_specialist(ctx.base_model(), calls, o.split, so, {});
    out["model"] = s.model_path;
    out["from"] = o.generalist_from;
    out["vocab_size"] = s.vocab_size;
    out["examples"] = s.data.written;
    out["trainable_parameters"] = s.parameters;
    out["model_mb"] = static_cast<double>(fs::file_size(s.model_path)) / 1e6;
    out["steps"] = s.report.steps;
    out["minutes"] = s.report.seconds / 60;
    out["loss"] = {s.report.first_loss, s.report.last_loss};
  }
  write_file_atomically(path, out.dump(2) + "\n");
  return out;
}

bool generalist_learned(const json& generalist, int cluster) {
  if (generalist.is_null() || generalist["model"].is_null()) return false;
  const json& ids = generalist["clusters"];
  return std::find(ids.begin(), ids.end(), json(cluster)) != ids.end();
}

// The strategies S4 tries on a cluster: the table's rows that fit its answers (strategies.h);
// greedy only for free-form writing, whose long answers no two samples would vote alike.
std::vector<StrategyChoice> cluster_strategies(const RunOptions& o, const ClusterWork& w) {
  if (!w.free_form.empty()) return strategies_for(MetricKind::kExact, {"greedy"});
  return strategies_for(dominant_metric(w.evaluation_calls()), o.strategies);
}

void run_cluster(RunContext& ctx, ClusterWork& work, const json& generalist) {
  const RunOptions& o = ctx.options;
  const ClusterRecord& record = *work.record;
  json& state = work.state;
  ctx.say(fmt::format("cluster {} ({} calls: {})", record.id, record.size, fmt::join(record.top_terms, " ")));
  auto save = [&] { write_state(o.work_dir, record.id, state); };
  if (state.contains("skipped")) {
    ++ctx.summary.skipped;
    ctx.summary.lines.push_back(fmt::format("cluster {}: skipped ({})", record.id, state["skipped"].get<std::string>()));
    return;
  }
  if (state.contains("evaluated")) {
    ++ctx.summary.resumed_steps;
  } else {
    // The base model is a candidate too (named as routes name it: "builtin" or its file).
    std::vector<std::pair<std::string, std::string>> models{{fs::path(o.base_name).filename().string(), o.base_name}};
    for (const std::string& c : o.candidates) models.emplace_back(fs::path(c).filename().string(), c);
    if (generalist_learned(generalist, record.id)) models.emplace_back("generalist", generalist["model"].get<std::string>());
    const Evaluated evaluated =
        evaluate_models(ctx, models, work.evaluation_calls(), cluster_strategies(o, work), work.constraints);
    state["evaluated"] = evaluated.entries;
    if (!evaluated.not_tried.empty()) state["strategies_not_tried"] = evaluated.not_tried;
    save();
  }
  const bool from_generalist = generalist_learned(generalist, record.id);
  if (state.contains("trained")) {
    ++ctx.summary.resumed_steps;
  } else if (state.contains("deployed")) {
    // Deployed already: nothing to train.
  } else if (!work.free_form.empty()) {
    // Free-form writing (the answers are long and open): no small specialist is trained for it.
    state["not_trained"] = work.free_form;
    save();
  } else if (!from_generalist && !best_deployable(state, o, false).candidate.is_null()) {
    // A candidate passes and there is no generalist that knows the cluster to start from.
  } else if (o.train_minutes > 0) {
    // Where the generalist learned the cluster it is fine-tuned on the cluster's own calls even
    // when a candidate passes: S6 deploys whichever route keeps more calls local. Why: in the
    // seventeenth bench run the generalist passed on extraction (0.96 on field matches) but gave
    // a confident null product on 15% of held-out calls; one epoch on the cluster's calls
    // (42 s) took it from 84.5% to 94.8% of held-out calls right.
    const auto start = from_generalist
                           ? fine_tune_start(state["evaluated"], "generalist", generalist["model"].get<std::string>())
                           : std::pair<std::string, std::string>{};
    state["trained"] = train_step(ctx, record.id, work.training_calls(), work.split_options, work.evaluation_calls(),
                                  start, cluster_strategies(o, work), work.constraints);
    save();
  }
  if (state.contains("deployed")) {
    ++ctx.summary.resumed_steps;
  } else {
    state["deployed"] = deploy_step(o, ctx.calls, record, state, work.constraints);
    if (state.contains("not_trained") && !state["deployed"]["deployed"].get<bool>()) {
      state["deployed"]["reason"] = state["deployed"]["reason"].get<std::string>() + "; " + state["not_trained"].get<std::string>();
    }
    save();
  }
  const json& d = state["deployed"];
  if (d["deployed"].get<bool>()) ++ctx.summary.deployed;
  ctx.summary.lines.push_back(fmt::format("cluster {}: {} ({})", record.id, d["deployed"].get<bool>() ? "deployed" : "not deployed",
                                          d["reason"].get<std::string>()));
}

ClustersFile load_or_cluster(const RunOptions& o, std::vector<LoggedCall>& calls, RunContext* ctx) {
  const std::string path = o.work_dir + "/clusters.json";
  if (fs::exists(path)) {
    ++ctx->summary.resumed_steps;
    return read_clusters_file(path);
  }
  ClusterOptions co;
  co.k = o.k;
  const Clustering clustering = cluster_calls(calls, co);
  ClustersFile file = make_clusters_file(calls, clustering, o.log, o.teachers);
  // The gateway routes live calls to a deployed cluster with this classifier (written first:
  // a clusters.json on disk means both are there when a run resumes).
  write_classifier_file(classifier_path_for(path), make_task_classifier(clustering));
  write_clusters_file(path, file);
  return file;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> read_run_config(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    fail("{}: {}", path, e.what());
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  if (root.IsNull()) return out;
  if (!root.IsMap()) fail("{}: not a map of option names to values", path);
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    std::vector<std::string> values;
    if (item.second.IsScalar()) {
      values.push_back(item.second.as<std::string>());
    } else if (item.second.IsSequence()) {
      for (const auto& v : item.second) {
        if (!v.IsScalar()) fail("{}: {}: a list of plain values, please", path, key);
        values.push_back(v.as<std::string>());
      }
    } else {
      fail("{}: {}: a value or a list of values, please", path, key);
    }
    out.emplace_back(key, std::move(values));
  }
  return out;
}

std::string cluster_state_path(const std::string& work_dir, int cluster) {
  return fmt::format("{}/cluster-{}.json", work_dir, cluster);
}

json read_cluster_state(const std::string& work_dir, int cluster) {
  std::ifstream in(cluster_state_path(work_dir, cluster));
  if (!in) return nullptr;
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const std::exception& e) {
    fail("{}: {}", cluster_state_path(work_dir, cluster), e.what());
  }
}

RunSummary run_conversion(const RunOptions& options, const RunProgress& progress) {
  if (options.work_dir.empty()) fail("convert run: no work directory");
  // Flags that would only fail after clustering and evaluation fail now.
  if (options.wants_generalist()) train_from_parse(options.generalist_from, nullptr);
  if (options.vocab_size != 0) check_fitted_vocab_size(options.vocab_size);
  strategies_for(MetricKind::kExact, options.strategies);  // throws naming an unknown strategy
  if (options.augment > 0 || options.held_out_variants > 0) teacher_remote(options);  // a missing teacher fails before any work
  fs::create_directories(options.work_dir);
  std::vector<LoggedCall> calls = load_calls(options.log, options.teachers);
  if (calls.empty()) fail("{}: no successful calls to convert (an empty log)", options.log);
  RunContext ctx{options, progress, calls, nullptr, {}};
  const ClustersFile clusters = load_or_cluster(options, calls, &ctx);
  std::map<int64_t, const LoggedCall*> by_id;
  for (const LoggedCall& c : calls) by_id[c.id] = &c;
  ctx.summary.clusters = static_cast<int>(clusters.clusters.size());
  std::vector<ClusterWork> work;
  for (const ClusterRecord& record : clusters.clusters) work.push_back(cluster_work(options, record, by_id));
  if (options.augment > 0) augment_step(ctx, work);
  if (options.held_out_variants > 0) held_out_variants_step(ctx, work);
  const json generalist = options.wants_generalist() ? generalist_step(ctx, work) : json();
  for (ClusterWork& w : work) run_cluster(ctx, w, generalist);
  return std::move(ctx.summary);
}

}  // namespace rpu::convert
