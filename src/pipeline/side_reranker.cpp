#include "pipeline/side_reranker.h"

#include "core/error.h"

namespace rpu {

SideReranker::SideReranker(Backend& main, Backend& reranker) : main_(main), reranker_(reranker) {
  const std::string name = reranker_.model_id();
  if (main_.accepts_model(name)) {
    fail("the reranker and the served model are both named '{}': requests could not tell them apart", name);
  }
}

std::vector<std::string> SideReranker::model_ids() const {
  std::vector<std::string> ids = main_.model_ids();
  ids.push_back(reranker_.model_id());
  return ids;
}

bool SideReranker::accepts_model(const std::string& model) const {
  return model == reranker_.model_id() || main_.accepts_model(model);
}

Backend& SideReranker::route(const std::string& model) const {
  return model == reranker_.model_id() ? reranker_ : main_;
}

std::unique_ptr<CallHandle> SideReranker::chat(const ChatRequest& request, ChatEventSink sink) {
  return route(request.model).chat(request, std::move(sink));
}

std::unique_ptr<CallHandle> SideReranker::complete(const CompletionRequest& request, ChatEventSink sink) {
  return route(request.model).complete(request, std::move(sink));
}

EmbeddingResult SideReranker::embed(const EmbeddingRequest& request) { return route(request.model).embed(request); }

RerankResult SideReranker::rerank(const RerankRequest& request) {
  return request.model.empty() ? reranker_.rerank(request) : route(request.model).rerank(request);
}

BackendLoad SideReranker::load() const {
  BackendLoad total = main_.load();
  const BackendLoad side = reranker_.load();
  total.queued += side.queued;
  total.active_sequences += side.active_sequences;
  total.kv_bytes_in_use += side.kv_bytes_in_use;
  total.kv_bytes_mapped += side.kv_bytes_mapped;
  return total;
}

int SideReranker::choice_count(const ChatRequest& request) const { return route(request.model).choice_count(request); }

std::optional<std::string> SideReranker::render_chat(const ChatRequest& request) {
  return route(request.model).render_chat(request);
}

}  // namespace rpu
