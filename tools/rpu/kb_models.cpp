#include "kb_models.h"

#include <filesystem>

#include "core/error.h"
#include "engine/cross_encoder.h"

namespace rpu::cli {

std::string embed_model_name(const std::string& path) {
  if (path.empty() || path == "builtin") return "builtin";
  return std::filesystem::absolute(path).lexically_normal().string();
}

std::unique_ptr<retrieval::Embedder> EmbeddingModels::embedder(const std::string& path) {
  const std::string name = embed_model_name(path);
  auto& session = sessions_[name];
  if (!session) {
    if (name != "builtin" && !std::filesystem::exists(name)) fail("embedding model '{}': no such file", name);
    SessionOptions o;
    o.model_path = name == "builtin" ? "" : name;
    o.slots = 4;  // chunks of a batch embed side by side
    session = open_local_session(o, runtime_);
  }
  const int max_tokens = std::min(runtime_.context_size(*session->loaded.model), session->loaded.model->config().n_ctx_train);
  return retrieval::backend_embedder(*session->backend, *session->loaded.tokenizer, name, max_tokens);
}

std::unique_ptr<retrieval::Embedder> EmbeddingModels::for_base(const retrieval::KbSettings& settings,
                                                               const std::string& override_path) {
  if (!override_path.empty()) return embedder(override_path);
  if (settings.dims == 0) return nullptr;
  return embedder(settings.embed_model);
}

LocalBackend& EmbeddingModels::reranker_backend(const std::string& path) {
  const std::string name = embed_model_name(path);
  auto& session = rerankers_[name];
  if (!session) {
    if (!std::filesystem::exists(name)) fail("--rerank '{}': no such file", path);
    SessionOptions o;
    o.model_path = name;
    o.slots = 4;
    auto opened = open_local_session(o, runtime_);
    try {
      check_cross_encoder(*opened->loaded.model);
    } catch (const Error& e) {
      fail("--rerank '{}': {}", path, e.what());
    }
    session = std::move(opened);
  }
  return *session->backend;
}

std::shared_ptr<retrieval::Reranker> EmbeddingModels::reranker(const std::string& path) {
  if (path.empty()) return nullptr;
  // Reported as rpu.knowledge.reranker under the name /v1/models and /v1/rerank use (the file
  // stem), not the absolute path the session is keyed by.
  LocalBackend& backend = reranker_backend(path);
  return retrieval::backend_reranker(backend, backend.model_id());
}

void add_rerank_options(CLI::App* cmd, std::string& model, int* top) {
  cmd->add_option("--rerank", model,
                  "cross-encoder GGUF (a bert reranker such as ms-marco-MiniLM, pooling type rank) that rescores the "
                  "first search stage's best chunks (on rpu serve it also answers /v1/rerank, named by its file stem)");
  if (top != nullptr) {
    cmd->add_option("--rerank-top", *top, "first-stage chunks the reranker rescores")->check(CLI::Range(1, 1000));
  }
}

}  // namespace rpu::cli
