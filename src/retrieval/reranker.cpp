#include "retrieval/reranker.h"

#include "core/error.h"

namespace rpu::retrieval {
namespace {

class CallingReranker : public Reranker {
 public:
  CallingReranker(RerankCall call, std::string model) : call_(std::move(call)), model_(std::move(model)) {}
  std::string model() const override { return model_; }
  std::vector<double> score(const std::string& query, const std::vector<std::string>& texts) override {
    if (texts.empty()) return {};
    RerankRequest request;
    request.model = model_;
    request.query = query;
    request.documents = texts;
    RerankResult result = call_(request);
    if (result.scores.size() != texts.size()) {
      fail("the reranker '{}' returned {} scores for {} texts", model_, result.scores.size(), texts.size());
    }
    return std::move(result.scores);
  }

 private:
  RerankCall call_;
  std::string model_;
};

}  // namespace

std::unique_ptr<Reranker> calling_reranker(RerankCall call, std::string model) {
  return std::make_unique<CallingReranker>(std::move(call), std::move(model));
}

std::unique_ptr<Reranker> backend_reranker(Backend& backend, std::string model) {
  return calling_reranker([&backend](const RerankRequest& request) { return backend.rerank(request); }, std::move(model));
}

}  // namespace rpu::retrieval
