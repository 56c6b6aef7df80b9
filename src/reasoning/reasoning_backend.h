// The reasoning layer as a Backend around a Backend: a chat call that asks for a strategy
// (the "reasoning" extension, or a model name such as "NAME+sc8") is answered by sampling the
// inner backend several times and returning one choice whose content is the chosen answer,
// with {"strategy", "confidence", "samples", "votes", ...} as the event's extension (the
// server returns it as the response's "rpu" field) and usage counting every sampled token.
// Calls without a strategy, completions, embeddings and reranking pass through unchanged.
//
// A reasoned call runs to the end inside chat() (so a strategy's refusal, e.g. an extractor
// that matched nothing, is still an HTTP 400), then delivers its one final event.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "pipeline/backend.h"
#include "reasoning/spec.h"

namespace rpu::reasoning {

struct ReasoningOptions {
  int parallel = 8;          // samples decoded together (the inner backend's free sequences)
  Backend* judge = nullptr;  // a model for the "judge" verifier, or none
};

class ReasoningBackend : public Backend {
 public:
  ReasoningBackend(Backend& inner, ReasoningOptions options) : inner_(inner), options_(options) {}

  std::string model_id() const override { return inner_.model_id(); }
  bool accepts_model(const std::string& model) const override;
  int choice_count(const ChatRequest& request) const override;
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override { return inner_.embed(request); }
  RerankResult rerank(const RerankRequest& request) override { return inner_.rerank(request); }
  BackendLoad load() const override { return inner_.load(); }
  std::string metrics_text() const override { return inner_.metrics_text(); }
  std::optional<std::string> render_chat(const ChatRequest& request) override { return inner_.render_chat(request); }
  const Tokenizer* local_tokenizer(const std::string& model) const override { return inner_.local_tokenizer(model); }

  // The strategy a request asks for (its "reasoning" object, else its model-name suffix);
  // nullopt for a plain call. Throws ApiError 400 naming the bad field.
  std::optional<ReasoningSpec> spec_of(const ChatRequest& request) const;

 private:
  Backend& inner_;
  ReasoningOptions options_;
};

}  // namespace rpu::reasoning
