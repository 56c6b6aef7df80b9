#include "retrieval/reranker.h"

namespace rpu::retrieval {
namespace {

class CrossEncoderReranker : public Reranker {
 public:
  CrossEncoderReranker(CrossEncoder& encoder, std::string model) : encoder_(encoder), model_(std::move(model)) {}
  std::string model() const override { return model_; }
  std::vector<double> score(const std::string& query, const std::vector<std::string>& texts) override {
    const std::vector<float> scores = encoder_.score(query, texts);
    return {scores.begin(), scores.end()};
  }

 private:
  CrossEncoder& encoder_;
  std::string model_;
};

}  // namespace

std::unique_ptr<Reranker> cross_encoder_reranker(CrossEncoder& encoder, std::string model) {
  return std::make_unique<CrossEncoderReranker>(encoder, std::move(model));
}

}  // namespace rpu::retrieval
