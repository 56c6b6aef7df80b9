// What a knowledge base measures and embeds text with: the embedding model's tokens (chunk
// sizes are in them) and its vectors. Two kinds:
//   backend_embedder  any pipeline Backend's embed() (a bert encoder or a decoder's pooled
//                     hidden states, local or remote) with the model's own tokenizer for counting;
//   word_counter      no vectors (a BM25-only base); tokens estimated from words and
//                     punctuation, deterministic, for bases created without a model.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/backend.h"
#include "tokenizer/tokenizer.h"

namespace rpu::retrieval {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string model() const = 0;  // what the base records as its embed_model
  virtual int dims() const = 0;           // 0: no vectors
  virtual int max_tokens() const = 0;     // the longest input the model embeds
  virtual int count_tokens(std::string_view text) const = 0;
  // One L2-normalised vector per text (texts are cut to max_tokens first).
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) = 0;
};

// `backend` and `tokenizer` must outlive the embedder. dims is probed with one embedding.
std::unique_ptr<Embedder> backend_embedder(Backend& backend, const Tokenizer& tokenizer, std::string model, int max_tokens);
std::unique_ptr<Embedder> word_counter();

}  // namespace rpu::retrieval
