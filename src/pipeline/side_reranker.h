// A cross-encoder served beside the main backend (`rpu serve CHAT.gguf --rerank RR.gguf`):
// /v1/models lists both; /v1/rerank naming the reranker, or naming no model, is scored by it;
// every other call goes to the main backend. A chat, completion or embedding call naming the
// reranker reaches the reranker, which refuses it pointing at /v1/rerank; a rerank call naming
// the chat model reaches the chat model, which refuses it with a 400 naming `model`.
#pragma once

#include <string>
#include <vector>

#include "pipeline/backend.h"

namespace rpu {

class SideReranker : public Backend {
 public:
  // Both must outlive this. rpu::Error when the reranker's name is one the main backend serves.
  SideReranker(Backend& main, Backend& reranker);

  std::string model_id() const override { return main_.model_id(); }
  std::vector<std::string> model_ids() const override;
  std::string default_reranker() const override { return reranker_.model_id(); }
  bool accepts_model(const std::string& model) const override;
  std::string metrics_text() const override { return main_.metrics_text(); }
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override;
  RerankResult rerank(const RerankRequest& request) override;
  BackendLoad load() const override;
  int choice_count(const ChatRequest& request) const override;
  std::optional<std::string> render_chat(const ChatRequest& request) override;
  const Tokenizer* local_tokenizer(const std::string& model) const override { return route(model).local_tokenizer(model); }

 private:
  // The reranker for its own name, the main backend for any other.
  Backend& route(const std::string& model) const;

  Backend& main_;
  Backend& reranker_;
};

}  // namespace rpu
