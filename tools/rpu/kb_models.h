// The models knowledge-base commands load: the embedding model a base was built with (kept
// open for the process, one session per file, shared by every base that names it), as a
// retrieval::Embedder. "builtin" (or empty when asked for) is the built-in model.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "local_session.h"
#include "options.h"
#include "retrieval/embedder.h"
#include "retrieval/kb_store.h"
#include "retrieval/reranker.h"

namespace rpu::cli {

class EmbeddingModels {
 public:
  explicit EmbeddingModels(RuntimeOptions runtime) : runtime_(std::move(runtime)) {}
  // An embedder over the model at `path` ("builtin": the built-in one); its name in bases is
  // the absolute path (or "builtin").
  std::unique_ptr<retrieval::Embedder> embedder(const std::string& path);
  // The embedder a base was built with (`override_path` instead when given); null for a
  // BM25-only base.
  std::unique_ptr<retrieval::Embedder> for_base(const retrieval::KbSettings& settings, const std::string& override_path = "");
  // A cross-encoder reranker over the model at `path` (a GGUF with pooling type rank), loaded
  // once as a session whose scheduler batches the pairs of every search; null when `path` is
  // empty. Named by the absolute path (rpu.knowledge.reranker).
  std::shared_ptr<retrieval::Reranker> reranker(const std::string& path);
  // That session's backend (loaded on first use), served as the model named by the file stem
  // beside a chat model (rpu serve --rerank); rpu::Error naming the file for a model that is
  // not a cross-encoder.
  LocalBackend& reranker_backend(const std::string& path);

 private:
  RuntimeOptions runtime_;
  std::map<std::string, std::unique_ptr<LocalSession>> sessions_;
  std::map<std::string, std::unique_ptr<LocalSession>> rerankers_;
};

// --rerank MODEL (and --rerank-top N when `top` is given) on a command that searches bases.
void add_rerank_options(CLI::App* cmd, std::string& model, int* top = nullptr);

// The name a base records for the model at `path`.
std::string embed_model_name(const std::string& path);

}  // namespace rpu::cli
