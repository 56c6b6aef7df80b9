#include "kb_models.h"

#include <filesystem>

#include "core/error.h"

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

}  // namespace rpu::cli
