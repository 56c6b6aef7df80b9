#include "retrieval/embedder.h"

#include <cctype>

#include "core/error.h"

namespace rpu::retrieval {
namespace {

class BackendEmbedder final : public Embedder {
 public:
  BackendEmbedder(Backend& backend, const Tokenizer& tokenizer, std::string model, int max_tokens)
      : backend_(backend), tokenizer_(tokenizer), model_(std::move(model)), max_tokens_(max_tokens) {
    if (max_tokens_ < 8) fail("embedding model '{}': a context of {} tokens is too short", model_, max_tokens_);
    dims_ = static_cast<int>(embed({"probe"}).at(0).size());
  }
  std::string model() const override { return model_; }
  int dims() const override { return dims_; }
  int max_tokens() const override { return max_tokens_; }
  int count_tokens(std::string_view text) const override {
    return static_cast<int>(tokenizer_.encode(text, /*add_special=*/false, /*parse_special=*/false).size());
  }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override {
    EmbeddingRequest request;
    request.model = backend_.model_id();
    for (const std::string& text : texts) {
      EmbeddingInput input;
      input.is_tokens = true;
      input.tokens = tokenizer_.encode(text, /*add_special=*/true, /*parse_special=*/false);
      // Room for the model's own end token(s) (bert's [SEP]) is kept by the 8-token margin.
      if (static_cast<int>(input.tokens.size()) > max_tokens_ - 8) input.tokens.resize(static_cast<size_t>(max_tokens_ - 8));
      if (input.tokens.empty()) input.tokens = tokenizer_.encode(" ", true, false);
      request.inputs.push_back(std::move(input));
    }
    return backend_.embed(request).embeddings;
  }

 private:
  Backend& backend_;
  const Tokenizer& tokenizer_;
  std::string model_;
  int max_tokens_;
  int dims_ = 0;
};

// About what subword tokenizers give for English: a word is one token, every 6 more bytes of
// it another, each punctuation mark one.
class WordCounter final : public Embedder {
 public:
  std::string model() const override { return ""; }
  int dims() const override { return 0; }
  int max_tokens() const override { return 1 << 20; }
  int count_tokens(std::string_view text) const override {
    int tokens = 0;
    size_t word = 0;
    auto end_word = [&] {
      if (word > 0) tokens += 1 + static_cast<int>((word - 1) / 6);
      word = 0;
    };
    for (unsigned char c : text) {
      if (std::isalnum(c) || c >= 0x80) {
        ++word;
      } else {
        end_word();
        if (!std::isspace(c)) ++tokens;
      }
    }
    end_word();
    return tokens;
  }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override {
    return std::vector<std::vector<float>>(texts.size());
  }
};

}  // namespace

std::unique_ptr<Embedder> backend_embedder(Backend& backend, const Tokenizer& tokenizer, std::string model, int max_tokens) {
  return std::make_unique<BackendEmbedder>(backend, tokenizer, std::move(model), max_tokens);
}

std::unique_ptr<Embedder> word_counter() { return std::make_unique<WordCounter>(); }

}  // namespace rpu::retrieval
