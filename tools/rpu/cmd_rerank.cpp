// rpu rerank MODEL -q QUERY DOC... : a cross-encoder's relevance score of each document to the
// query (engine/cross_encoder.h), like llama.cpp's `llama-embedding --pooling rank` on
// "query<TAB>document" lines. Prints the documents best first with their scores, or with
// --json a Jina/Cohere-style {"results": [{"index", "relevance_score", "document"}]}.
#include <cstdio>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/cross_encoder.h"
#include "options.h"

namespace rpu::cli {
namespace {

struct RerankOptions {
  std::string model_path;
  std::string query;
  std::vector<std::string> documents;
  std::string documents_file;  // one document per line
  int top_n = 0;               // 0: all
  bool json = false;
  RuntimeOptions runtime;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("--file '{}': cannot be read", path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

int rerank(RerankOptions& o) {
  if (!o.documents_file.empty()) {
    const auto lines = read_lines(o.documents_file);
    o.documents.insert(o.documents.end(), lines.begin(), lines.end());
  }
  if (o.documents.empty()) fail("no documents to rank (give them as arguments or with --file)");
  LoadedModel loaded = load_model_with_tokenizer(o.model_path);
  ThreadPool pool(o.runtime.thread_count());
  CrossEncoder encoder(*loaded.model, *loaded.tokenizer, &pool);
  const std::vector<float> scores = encoder.score(o.query, o.documents);
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  if (o.top_n > 0 && static_cast<size_t>(o.top_n) < order.size()) order.resize(static_cast<size_t>(o.top_n));
  if (o.json) {
    nlohmann::ordered_json results = nlohmann::ordered_json::array();
    for (size_t i : order) {
      results.push_back({{"index", i}, {"relevance_score", scores[i]}, {"document", {{"text", o.documents[i]}}}});
    }
    std::printf("%s\n", nlohmann::ordered_json({{"results", results}}).dump(2).c_str());
    return 0;
  }
  for (size_t i : order) std::printf("%10.6f  [%zu] %s\n", scores[i], i, o.documents[i].c_str());
  return 0;
}

}  // namespace

Action add_rerank_command(CLI::App& app) {
  auto o = std::make_shared<RerankOptions>();
  CLI::App* cmd = app.add_subcommand("rerank", "score documents' relevance to a query with a cross-encoder (pooling rank)");
  cmd->add_option("model", o->model_path, "cross-encoder GGUF (a bert reranker, pooling type rank)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-q,--query", o->query, "the query")->required();
  cmd->add_option("documents", o->documents, "documents to rank");
  cmd->add_option("-f,--file", o->documents_file, "more documents, one per line");
  cmd->add_option("--top-n", o->top_n, "print only the N best")->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--json", o->json, "results as JSON: index, relevance_score, document");
  add_runtime_options(cmd, o->runtime);
  return [o] { return rerank(*o); };
}

}  // namespace rpu::cli
