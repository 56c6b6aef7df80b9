// rpu convert select (S4): evaluate candidate models, greedy and with the reasoning strategies
// that fit the cluster (src/convert/strategies.h), on a cluster's held-out calls against the
// teacher's answers and pick the best (model, strategy) pair (src/convert/select.h).
#include <cstdio>
#include <fstream>
#include <memory>

#include "commands.h"
#include "convert/answer_form.h"
#include "convert/select.h"
#include "convert_call_flags.h"
#include "options.h"

namespace rpu::cli {
namespace {

struct SelectFlags {
  ConvertCallFlags calls;
  std::vector<std::string> candidates;
  bool no_builtin = false;
  double target = 0.95;
  std::string metric;
  std::vector<std::string> strategies;
  bool learned_constraints = false;
  int max_tokens = 256;
  int parallel = 2;
  int threads = 2;
  std::string json_path, details_path;
};

void print_selection(const convert::Selection& s) {
  std::printf("%d held-out calls; teacher 1.000 (its own answers); target %.0f%% of the teacher\n", s.held_out_calls,
              s.target * 100);
  std::printf("%-32s %-8s %7s %8s %8s %8s %9s %s\n", "candidate", "strategy", "score", "correct", "teacher%",
              "samples", "p50 ms", "reaches");
  for (size_t i = 0; i < s.candidates.size(); ++i) {
    const auto& r = s.candidates[i];
    std::printf("%-32s %-8s %7.3f %7.1f%% %7.1f%% %8.1f %9.0f %s%s\n", r.name.c_str(), r.strategy.c_str(),
                r.evaluation.mean_score, r.evaluation.accuracy * 100, r.share_of_teacher * 100,
                r.evaluation.samples_per_call, r.evaluation.latency_p50_ms, r.reaches_target ? "yes" : "no",
                static_cast<int>(i) == s.best ? "  <- best" : "");
  }
  for (const std::string& line : s.not_tried) std::printf("not tried: %s\n", line.c_str());
  const auto j = convert::selection_json(s);
  if (!j["strategy_reason"].is_null()) std::printf("why: %s\n", j["strategy_reason"].get<std::string>().c_str());
}

void write_details(const std::string& path, const convert::Selection& s) {
  std::ofstream out(path);
  if (!out) fail("cannot write '{}'", path);
  for (const auto& r : s.candidates) {
    for (const auto& c : r.evaluation.calls) {
      out << nlohmann::ordered_json{{"candidate", r.name},   {"strategy", r.strategy},  {"id", c.id},
                                    {"metric", c.metric},    {"score", c.score},        {"answer", c.answer},
                                    {"confidence", c.confidence}, {"answer_confidence", c.answer_confidence},
                                    {"model_confidence", c.model_confidence},
                                    {"model_answer_confidence", c.model_answer_confidence}, {"correct", c.correct},
                                    {"weight", c.weight},         {"samples", c.samples},    {"latency_ms", c.latency_ms},
                                    {"error", c.error}}
                 .dump()
          << '\n';
    }
  }
}

int run_select(const SelectFlags& f) {
  std::vector<convert::LoggedCall> calls;
  const auto cluster = load_cluster(f.calls, calls);
  const convert::Split split = convert::split_calls(cluster, convert::cluster_split(f.calls.split, cluster));
  if (split.held_out.empty()) fail("no held-out calls among the cluster's {} (raise --held-out)", cluster.size());
  std::vector<std::unique_ptr<convert::LocalModel>> models;
  std::vector<convert::Candidate> candidates;
  if (!f.no_builtin) models.push_back(convert::open_local_model(load_builtin_model(), "builtin", f.parallel, f.threads));
  for (const std::string& path : f.candidates) {
    models.push_back(convert::open_local_model(Model::load(path), path, f.parallel, f.threads));
  }
  if (models.empty()) fail("no candidates (--candidate FILE.gguf, or drop --no-builtin)");
  for (auto& m : models) candidates.push_back({m->backend->model_id(), m->backend.get(), f.parallel});
  convert::SelectOptions options;
  options.target = f.target;
  options.evaluate.max_tokens = f.max_tokens;
  if (f.learned_constraints) {
    convert::OutputConstraints& c = options.evaluate.constraints;
    c = convert::learn_output_constraints(split.train);
    std::fprintf(stderr,
                 "rpu: values copied by the teacher, held to copies: %s; tool call forced on a user's turn: %s; "
                 "answer schema: %s; calculator: %s\n",
                 copy_fields_json(c.copy_fields).dump().c_str(), c.force_tool_call ? "yes" : "no",
                 c.answer_schema.is_object() ? "yes" : "no", c.calculator ? "yes" : "no");
  }
  if (!f.metric.empty()) options.evaluate.metric = convert::metric_from_name(f.metric);
  options.strategies = convert::strategies_for(options.evaluate.metric.value_or(convert::dominant_metric(split.held_out)),
                                               f.strategies);
  std::fprintf(stderr, "rpu: %zu calls in the cluster, %zu held out; evaluating %zu candidates with %zu strategies\n",
               cluster.size(), split.held_out.size(), candidates.size(), options.strategies.size());
  const auto selection = convert::select_model(split.held_out, candidates, options, [](const auto& r) {
    std::fprintf(stderr, "rpu: %s %s: %.3f in %.1f s\n", r.name.c_str(), r.strategy.c_str(), r.evaluation.mean_score,
                 r.evaluation.seconds);
  });
  print_selection(selection);
  if (!f.json_path.empty()) {
    std::ofstream out(f.json_path);
    out << convert::selection_json(selection).dump(2) << '\n';
    if (!out) fail("cannot write '{}'", f.json_path);
  }
  if (!f.details_path.empty()) write_details(f.details_path, selection);
  return 0;
}

}  // namespace

void add_convert_select(CLI::App& convert, ConvertSteps& steps) {
  auto f = std::make_shared<SelectFlags>();
  CLI::App* cmd = convert.add_subcommand("select", "evaluate candidate models on a cluster's held-out calls (S4)");
  add_call_flags(cmd, f->calls);
  cmd->add_option("--candidate", f->candidates, "a GGUF model to evaluate besides the built-in one; repeatable")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--no-builtin", f->no_builtin, "do not evaluate the built-in model");
  cmd->add_option("--target", f->target, "share of the teacher's score a candidate must reach")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--metric", f->metric, "the cluster's metric: exact, json_fields, tool_call or final_number "
                                         "(default: from each teacher answer's shape)");
  cmd->add_option("--strategy", f->strategies,
                  "evaluate with only these strategies of the table (greedy, sc5, bon5; repeatable; default: every "
                  "one that fits the cluster; greedy is always evaluated)")
      ->delimiter(',')
      ->check(CLI::IsMember(convert::strategy_names()));
  cmd->add_flag("--learned-constraints", f->learned_constraints,
                "hold candidates to what the teacher always does (copy JSON values from the call, call a tool on a "
                "user's turn), as convert run does");
  cmd->add_option("--max-tokens", f->max_tokens, "longest answer per call")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--parallel", f->parallel, "calls decoded together per candidate")->check(CLI::Range(1, 64));
  cmd->add_option("-t,--threads", f->threads, "worker threads per candidate")->check(CLI::Range(1, 1024));
  cmd->add_option("--json", f->json_path, "write the selection as JSON");
  cmd->add_option("--details", f->details_path, "write every candidate's per-call answers and scores (JSONL)");
  steps.emplace_back(cmd, [f] { return run_select(*f); });
}

}  // namespace rpu::cli
