// rpu rerank MODEL -q QUERY DOC... : a cross-encoder's relevance score of each document to the
// query, like llama.cpp's `llama-embedding --pooling rank` on "query<TAB>document" lines. The
// pairs are scored by the same path as the server's /v1/rerank (LocalBackend::rerank, the
// scheduler's pair batches). Prints the documents best first with their scores, or with --json
// the /v1/rerank response: {"model", "object": "list", "results": [{"index",
// "relevance_score", "document": {"text"}}], "usage"}.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "engine/cross_encoder.h"
#include "local_session.h"
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
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("--file '{}': is a folder, not a file of documents", path);
  std::ifstream in(path);
  if (!in) fail("--file '{}': cannot be read ({})", path, std::strerror(errno));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  if (in.bad()) fail("--file '{}': cannot be read", path);
  return lines;
}

int rerank(RerankOptions& o) {
  if (!o.documents_file.empty()) {
    const auto lines = read_lines(o.documents_file);
    o.documents.insert(o.documents.end(), lines.begin(), lines.end());
  }
  if (o.documents.empty()) fail("no documents to rank (give them as arguments or with --file)");
  SessionOptions so;
  so.model_path = o.model_path;
  const std::unique_ptr<LocalSession> session = open_local_session(so, o.runtime);
  try {
    check_cross_encoder(*session->loaded.model);
  } catch (const Error& e) {
    fail("'{}': {}", o.model_path, e.what());
  }
  RerankRequest request;
  request.model = session->backend->model_id();
  request.query = o.query;
  request.documents = o.documents;
  const RerankResult result = session->backend->rerank(request);
  const std::vector<size_t> order = rerank_order(result.scores, o.top_n);
  if (o.json) {
    nlohmann::ordered_json results = nlohmann::ordered_json::array();
    for (size_t i : order) {
      results.push_back({{"index", i}, {"relevance_score", result.scores[i]}, {"document", {{"text", o.documents[i]}}}});
    }
    const nlohmann::ordered_json body = {
        {"model", request.model},
        {"object", "list"},
        {"results", results},
        {"usage", {{"prompt_tokens", result.prompt_tokens}, {"total_tokens", result.prompt_tokens}}}};
    std::printf("%s\n", body.dump(2).c_str());
    return 0;
  }
  for (size_t i : order) std::printf("%10.6f  [%zu] %s\n", result.scores[i], i, o.documents[i].c_str());
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
  cmd->add_flag("--json", o->json, "the /v1/rerank response: index, relevance_score, document, best first");
  add_runtime_options(cmd, o->runtime);
  return [o] { return rerank(*o); };
}

}  // namespace rpu::cli
