// Relevance of documents to a query by a cross-encoder: a bert model with pooling rank
// (e.g. ms-marco-MiniLM-L6-v2, bge-reranker), which reads the query and one document together
// and scores the pair through its classification head (EncoderForward::classify, output 0).
//
// A pair is the model's own two-segment input: encode(query, with specials) then the
// document and the model's closing specials again, i.e. for BERT's WordPiece vocabulary
//   [CLS] query [SEP] document [SEP]
// which is how the models were trained and what llama.cpp's llama-embedding builds for a
// "query<TAB>document" line. Every token is of type 0, as in llama.cpp. A pair longer than the
// model's position table keeps the query (up to half the table) and cuts the document's end.
// Pairs are encoded in batches of at most kBatchTokens tokens, each weight read once per batch.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_pool.h"
#include "model/encoder_forward.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace rpu {

class CrossEncoder {
 public:
  static constexpr size_t kBatchTokens = 4096;

  // Throws rpu::Error unless `model` is an encoder with a classification head (pooling rank).
  // `model`, `tokenizer` and `pool` (may be null) must outlive the encoder.
  CrossEncoder(const Model& model, const Tokenizer& tokenizer, ThreadPool* pool = nullptr);

  // One score per document, in order (higher = more relevant; the model's raw logit).
  // Thread-safe: calls are serialised.
  std::vector<float> score(std::string_view query, std::span<const std::string> documents);

  // The tokens of one (query, document) pair as score() encodes it.
  std::vector<int32_t> pair_tokens(std::string_view query, std::string_view document) const;
  int max_tokens() const { return forward_.max_tokens(); }

 private:
  const Tokenizer& tokenizer_;
  std::mutex mutex_;
  EncoderForward forward_;
};

}  // namespace rpu
