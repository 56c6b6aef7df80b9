// The input of a cross-encoder: a bert model with pooling rank (e.g. ms-marco-MiniLM-L6-v2,
// bge-reranker), which reads the query and one document together and scores the pair through
// its classification head (EncoderForward::classify, output 0). The scoring itself is a job of
// the Scheduler (Scheduler::submit_rerank): pairs of every caller are batched there, on the
// scheduler's thread pool, and cancelled like any other request.
//
// A pair is the model's own two-segment input: encode(query, with specials) then the
// document and the model's closing specials again, i.e. for BERT's WordPiece vocabulary
//   [CLS] query [SEP] document [SEP]
// which is how the models were trained and what llama.cpp's llama-embedding builds for a
// "query<TAB>document" line. Every token is of type 0, as in llama.cpp. A pair longer than the
// model reads keeps the query (up to half the room) and cuts the document's end.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace rpu {

// Throws rpu::Error unless `model` is an encoder with a classification head (pooling rank).
void check_cross_encoder(const Model& model);

// The tokens of one (query, document) pair, at most `max_tokens` long (the model's position
// table, or less when the scheduler's context is smaller). Throws rpu::Error when even the
// specials and one token of each do not fit.
std::vector<int32_t> rerank_pair_tokens(const Tokenizer& tokenizer, int max_tokens, std::string_view query,
                                        std::string_view document);

}  // namespace rpu
