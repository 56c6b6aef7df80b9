// SideReranker (rpu serve CHAT --rerank RR): which backend answers each call. The two backends
// here record the calls they get and rerank with a score that names themselves, so every
// answer says who gave it.
#include <gtest/gtest.h>

#include "core/error.h"
#include "pipeline/side_reranker.h"

namespace rpu {
namespace {

class NamedBackend : public Backend {
 public:
  NamedBackend(std::string id, double score) : id_(std::move(id)), score_(score) {}
  std::string model_id() const override { return id_; }
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink) override {
    calls.push_back("chat:" + request.model);
    return nullptr;
  }
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink) override {
    calls.push_back("complete:" + request.model);
    return nullptr;
  }
  EmbeddingResult embed(const EmbeddingRequest& request) override {
    calls.push_back("embed:" + request.model);
    return {};
  }
  // A reranker scores every document `score_`; a chat model refuses as Backend does.
  RerankResult rerank(const RerankRequest& request) override {
    calls.push_back("rerank:" + request.model);
    if (score_ == 0) return Backend::rerank(request);
    return {std::vector<double>(request.documents.size(), score_), 1};
  }
  BackendLoad load() const override { return {1, 2}; }
  std::vector<std::string> calls;

 private:
  std::string id_;
  double score_;
};

TEST(SideReranker, RerankCallsForItsNameOrNoNameReachTheRerankerAndTheRestTheMainModel) {
  NamedBackend chat("chat-model", 0), reranker("rerank-tiny", 7);
  SideReranker both(chat, reranker);
  EXPECT_EQ(both.model_id(), "chat-model");
  EXPECT_EQ(both.model_ids(), (std::vector<std::string>{"chat-model", "rerank-tiny"}));
  EXPECT_EQ(both.default_reranker(), "rerank-tiny");
  EXPECT_TRUE(both.accepts_model("rerank-tiny"));
  EXPECT_TRUE(both.accepts_model("chat-model"));
  EXPECT_FALSE(both.accepts_model("other"));

  RerankRequest r;
  r.query = "q";
  r.documents = {"a", "b"};
  EXPECT_EQ(both.rerank(r).scores, (std::vector<double>{7, 7}));  // no model: the reranker
  r.model = "rerank-tiny";
  EXPECT_EQ(both.rerank(r).scores, (std::vector<double>{7, 7}));
  r.model = "chat-model";
  try {
    both.rerank(r);
    FAIL() << "the chat model reranked";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "model");
    EXPECT_NE(std::string(e.what()).find("'chat-model' is not a reranking model"), std::string::npos) << e.what();
  }

  ChatRequest c;
  c.model = "chat-model";
  both.chat(c, [](const ChatEvent&) {});
  c.model = "rerank-tiny";  // the reranker refuses it, pointing at /v1/rerank
  both.chat(c, [](const ChatEvent&) {});
  CompletionRequest p;
  p.model = "chat-model";
  both.complete(p, [](const ChatEvent&) {});
  EmbeddingRequest e;
  e.model = "rerank-tiny";
  both.embed(e);
  EXPECT_EQ(chat.calls, (std::vector<std::string>{"rerank:chat-model", "chat:chat-model", "complete:chat-model"}));
  EXPECT_EQ(reranker.calls, (std::vector<std::string>{"rerank:", "rerank:rerank-tiny", "chat:rerank-tiny", "embed:rerank-tiny"}));
  const BackendLoad load = both.load();
  EXPECT_EQ(load.queued, 2);
  EXPECT_EQ(load.active_sequences, 4);
}

TEST(SideReranker, ARerankerNamedLikeTheServedModelIsRefused) {
  NamedBackend chat("same", 0), reranker("same", 7);
  try {
    SideReranker both(chat, reranker);
    FAIL() << "two models named 'same' were served";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'same'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rpu
