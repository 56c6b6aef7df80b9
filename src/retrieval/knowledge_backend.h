// Retrieval-augmented chat as a Backend wrapper. A request with the extension
//   "knowledge": {"kb": NAME, "k": 5, "mode": "hybrid"|"bm25"|"dense", "max_tokens": 2000,
//                 "extractive": false}
// gets the k best chunks of knowledge base NAME for its last user message, as numbered sources
// in its system message within max_tokens (knowledge_context.h), and goes to the inner backend
// without the extension; "extractive" adds a grammar holding the answer to the words of the
// sources and the question (extractive.h). The answer's finish event carries, in its extension ("rpu" in the
// HTTP response):
//   citations          the sources the answer cites ([n] with n in the context), as
//                      {n, source, title, heading, offsets, score, chunk_id}
//   invalid_citations  bracketed numbers that name no source in the context (only when any)
//   knowledge          {kb, query, mode, sources: every source in the context, left_out}
// Requests without the extension pass through untouched. Knowledge bases are named, never
// given by path: a request cannot make the server open a file (KnowledgeLibrary).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/backend.h"
#include "retrieval/knowledge_context.h"
#include "retrieval/knowledge_spec.h"
#include "retrieval/retriever.h"

namespace rpu::retrieval {

// The knowledge bases a server or gateway serves, by name, opened read-only at start-up.
class KnowledgeLibrary {
 public:
  // Makes the embedder a base was built with (from its settings); null for BM25-only bases.
  using EmbedderFactory = std::function<std::unique_ptr<Embedder>(const KbSettings&)>;
  explicit KnowledgeLibrary(EmbedderFactory factory) : factory_(std::move(factory)) {}

  // NAME=PATH: opens the base now, so a bad file fails at start-up (rpu::Error naming it).
  void add(const std::string& name, const std::string& path);
  // Every *.kb file in `dir`, named by its stem.
  void add_dir(const std::string& dir);
  // ApiError 400 (param knowledge.kb) naming the bases there are.
  Retriever& get(const std::string& name);
  std::vector<std::string> names() const;
  bool empty() const { return bases_.empty(); }
  // A cross-encoder every base's searches may rerank with (bases added before and after).
  void set_reranker(std::shared_ptr<Reranker> reranker);
  bool has_reranker() const { return reranker_ != nullptr; }

 private:
  std::shared_ptr<Reranker> reranker_;
  EmbedderFactory factory_;
  std::map<std::string, std::unique_ptr<Retriever>> bases_;
};

// A request as the inner backend gets it: the sources added, the extension removed.
struct AugmentedRequest {
  ChatRequest request;
  std::shared_ptr<const ContextBlock> block;
  nlohmann::ordered_json knowledge;  // what the finish event reports as rpu.knowledge
};

// Retrieval and the sources block for a request with the extension (ApiError 400 for a bad
// one). `count`: tokens of the model that reads the context.
AugmentedRequest augment_request(KnowledgeLibrary& library, const ChatRequest& request, const TokenCount& count);

// `sink` with each choice's finish event given rpu.citations (checked against the sources in
// `augmented.block`), rpu.invalid_citations and rpu.knowledge.
ChatEventSink citing_sink(const AugmentedRequest& augmented, ChatEventSink sink);

// About 4 bytes per token: the budget's unit when the reading model's tokenizer is unknown.
int approximate_tokens(std::string_view text);

class KnowledgeBackend : public Backend {
 public:
  // `count`: tokens of the model that reads the context (null: about 4 bytes per token).
  KnowledgeBackend(Backend& inner, KnowledgeLibrary& library, TokenCount count = nullptr);

  std::string model_id() const override { return inner_.model_id(); }
  std::vector<std::string> model_ids() const override { return inner_.model_ids(); }
  std::string metrics_text() const override { return inner_.metrics_text(); }
  bool accepts_model(const std::string& model) const override { return inner_.accepts_model(model); }
  int choice_count(const ChatRequest& request) const override { return inner_.choice_count(request); }
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override {
    return inner_.complete(request, std::move(sink));
  }
  EmbeddingResult embed(const EmbeddingRequest& request) override { return inner_.embed(request); }
  RerankResult rerank(const RerankRequest& request) override { return inner_.rerank(request); }
  BackendLoad load() const override { return inner_.load(); }
  std::optional<std::string> render_chat(const ChatRequest& request) override { return inner_.render_chat(request); }
  const Tokenizer* local_tokenizer(const std::string& model) const override { return inner_.local_tokenizer(model); }

  // What chat() sends on. Also how training data for a reader model is made, so the model
  // learns from exactly the prompts it will be served.
  AugmentedRequest augment(const ChatRequest& request) { return augment_request(library_, request, count_); }

 private:
  Backend& inner_;
  KnowledgeLibrary& library_;
  TokenCount count_;
};

}  // namespace rpu::retrieval
