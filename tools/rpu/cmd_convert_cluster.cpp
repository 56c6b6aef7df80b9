// rpu convert cluster LOG: S3 of the conversion loop. Loads the successful calls of the usage
// log, groups them into tasks (src/convert/cluster.h: TF-IDF of the task signatures, or a local
// model's embeddings with --embed-model; k-means with k chosen by mean silhouette), prints one
// line per cluster and writes clusters.json (src/convert/clusters_file.h) for the later steps,
// and beside it the gateway's task classifier (src/convert/classifier_file.h), which
// `rpu convert deploy --cluster N --classifier FILE` maps to a specialist's route.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "convert/classifier_file.h"
#include "convert/cluster.h"
#include "convert/clusters_file.h"
#include "convert/logged_call.h"
#include "convert_steps.h"
#include "options.h"
#include "core/error.h"
#include "gateway/usage_store.h"
#include "local_session.h"

namespace rpu::cli {
namespace {

struct ClusterFlags {
  std::string log;
  std::vector<std::string> teachers;
  std::string k = "auto";
  int k_min = 2, k_max = 12, restarts = 4;
  uint64_t seed = 1;
  size_t sample = 2000;
  bool keep_mixed_shapes = false;
  bool keep_contract_clusters = false;
  std::string out = "clusters.json";
  std::string classifier;  // empty: beside `out` (clusters.classifier.json)
  size_t classifier_terms = 200;
  double min_similarity = 0.3;
  std::string embed_model;  // empty: TF-IDF; "builtin" or a GGUF file: its embeddings
  RuntimeOptions runtime;
};

int parse_k(const std::string& text) {
  if (text == "auto") return 0;
  try {
    size_t used = 0;
    const int k = std::stoi(text, &used);
    if (used == text.size() && k >= 1) return k;
  } catch (const std::exception&) {
    // reported below
  }
  fail("--k: '{}' is neither auto nor a positive number", text);
}

void print_table(const convert::ClustersFile& f) {
  fmt::print("{:>7} {:>7} {:>6} {:>8} {:>10}  {}\n", "cluster", "calls", "share", "teacher", "mean ms", "top terms");
  for (const auto& c : f.clusters) {
    std::string terms;
    for (const auto& t : c.top_terms) terms += (terms.empty() ? "" : " ") + t;
    const std::string latency = c.mean_latency_ms >= 0 ? fmt::format("{:.1f}", c.mean_latency_ms) : "-";
    fmt::print("{:>7} {:>7} {:>5.1f}% {:>8} {:>10}  {}\n", c.id, c.size, 100 * c.volume, c.teacher_calls, latency,
               terms);
  }
  fmt::print("{} calls, k = {} ({}), vectors: {}, silhouette {:.3f}\n", f.calls, f.k, f.method, f.vectors,
             f.silhouette);
  if (!f.tried.empty()) {
    std::string tried;
    for (const auto& t : f.tried) tried += fmt::format("{}{}: {:.3f}", tried.empty() ? "" : ", ", t.k, t.silhouette);
    fmt::print("silhouette by k: {}\n", tried);
  }
  if (!f.note.empty()) fmt::print("note: {}\n", f.note);
}

int run_cluster(const ClusterFlags& o) {
  const int k = parse_k(o.k);
  convert::LoadOptions load;
  load.teachers = o.teachers;
  std::vector<convert::LoggedCall> calls = convert::load_logged_calls(o.log, load);
  if (calls.empty()) fail("no successful calls in {}", o.log);
  // Without --teacher every answer counts as the teacher's: before any specialist is deployed
  // the log holds only the large model's answers.
  if (o.teachers.empty()) {
    for (auto& c : calls) c.from_teacher = true;
  }
  convert::ClusterOptions options;
  options.k = k;
  options.k_min = o.k_min;
  options.k_max = o.k_max;
  options.seed = o.seed;
  options.restarts = o.restarts;
  options.sample_size = o.sample;
  options.split_mixed_shapes = !o.keep_mixed_shapes;
  options.merge_same_contracts = !o.keep_contract_clusters;
  std::unique_ptr<LocalSession> session;
  if (!o.embed_model.empty()) {
    SessionOptions s;
    s.model_path = o.embed_model == "builtin" ? "" : o.embed_model;
    session = open_local_session(s, o.runtime);
    options.embedder = session->backend.get();
  }
  const convert::Clustering clustering = convert::cluster_calls(calls, options);
  const convert::ClustersFile file = convert::make_clusters_file(calls, clustering, o.log, o.teachers);
  print_table(file);
  convert::write_clusters_file(o.out, file);
  fmt::print("wrote {}\n", o.out);
  const std::string classifier_path = o.classifier.empty() ? convert::classifier_path_for(o.out) : o.classifier;
  convert::write_classifier_file(classifier_path,
                                 convert::make_task_classifier(clustering, {o.classifier_terms, o.min_similarity}));
  fmt::print("wrote {} (the gateway's task classifier)\n", classifier_path);
  return 0;
}


}  // namespace

void add_convert_cluster(CLI::App& convert, ConvertSteps& steps) {
  auto o = std::make_shared<ClusterFlags>();
  CLI::App* cmd = convert.add_subcommand("cluster", "S3: group the logged calls into tasks, write clusters.json");
  cmd->add_option("log", o->log, "usage log (SQLite file or postgres:// URI)")->required()->check(log_location());
  // One name per --teacher (repeat it), so LOG may come after it.
  cmd->add_option("--teacher", o->teachers,
                  "target name whose answers are the teacher's (repeat for several; default: every answer)")
      ->allow_extra_args(false);
  cmd->add_option("--k", o->k, "number of clusters, or auto (mean silhouette over --k-min..--k-max)")
      ->capture_default_str();
  cmd->add_option("--k-min", o->k_min, "smallest k tried")->capture_default_str()->check(CLI::Range(2, 1000));
  cmd->add_option("--k-max", o->k_max, "largest k tried")->capture_default_str()->check(CLI::Range(2, 1000));
  cmd->add_option("--seed", o->seed, "k-means++ and sampling seed")->capture_default_str();
  cmd->add_option("--restarts", o->restarts, "k-means runs per k (the best kept)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--sample", o->sample, "most calls the k search and silhouette use (memory: sample^2 floats)")
      ->capture_default_str()
      ->check(CLI::Range(10, 5000));
  cmd->add_flag("--keep-mixed-shapes", o->keep_mixed_shapes,
               "do not split clusters whose teacher answers mix shapes (tool calls and text, say)");
  cmd->add_flag("--keep-contract-clusters", o->keep_contract_clusters,
                "do not merge clusters whose answers have one contract (calls of the same tools, JSON with the "
                "same keys, final numbers)");
  cmd->add_option("--embed-model", o->embed_model,
                  "cluster a local model's embeddings (builtin or a GGUF file) instead of TF-IDF");
  cmd->add_option("--out,-o", o->out, "clusters file to write")->capture_default_str();
  cmd->add_option("--classifier", o->classifier, "the gateway's task classifier to write (default: beside --out, "
                  "NAME.classifier.json)");
  cmd->add_option("--classifier-terms", o->classifier_terms, "weights kept per cluster centroid in the classifier")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--min-similarity", o->min_similarity, "the classifier's least cosine similarity to claim a call")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  add_runtime_options(cmd, o->runtime);
  steps.emplace_back(cmd, [o]() { return run_cluster(*o); });
}

}  // namespace rpu::cli
