#include "engine/cross_encoder.h"

#include <algorithm>

#include "core/error.h"

namespace rpu {

CrossEncoder::CrossEncoder(const Model& model, const Tokenizer& tokenizer, ThreadPool* pool)
    : tokenizer_(tokenizer), forward_(model, pool, Pooling::kRank) {
  if (model.config().pooling != Pooling::kRank || model.weights().n_cls_out == 0) {
    fail("the reranking model must be a cross-encoder (an encoder with pooling type rank and a classification "
         "head); this one has pooling '{}'",
         pooling_name(model.config().pooling));
  }
}

std::vector<int32_t> CrossEncoder::pair_tokens(std::string_view query, std::string_view document) const {
  const Vocab& vocab = tokenizer_.vocab();
  const size_t limit = static_cast<size_t>(max_tokens());
  const size_t specials = vocab.prefix_ids.size() + 2 * vocab.suffix_ids.size();
  if (specials + 2 > limit) fail("the reranking model reads at most {} tokens, too few for a pair", limit);
  std::vector<int32_t> q = tokenizer_.encode(query, false);
  std::vector<int32_t> d = tokenizer_.encode(document, false);
  // Keep the query whole when it fits half the table; the document gets the rest.
  const size_t room = limit - specials;
  q.resize(std::min(q.size(), std::max(room / 2, room - std::min(room, d.size()))));
  d.resize(std::min(d.size(), room - q.size()));
  std::vector<int32_t> tokens;
  tokens.reserve(specials + q.size() + d.size());
  tokens.insert(tokens.end(), vocab.prefix_ids.begin(), vocab.prefix_ids.end());
  tokens.insert(tokens.end(), q.begin(), q.end());
  tokens.insert(tokens.end(), vocab.suffix_ids.begin(), vocab.suffix_ids.end());
  tokens.insert(tokens.end(), d.begin(), d.end());
  tokens.insert(tokens.end(), vocab.suffix_ids.begin(), vocab.suffix_ids.end());
  return tokens;
}

std::vector<float> CrossEncoder::score(std::string_view query, std::span<const std::string> documents) {
  std::vector<std::vector<int32_t>> pairs;
  pairs.reserve(documents.size());
  for (const std::string& document : documents) pairs.push_back(pair_tokens(query, document));
  std::vector<float> scores;
  scores.reserve(pairs.size());
  const std::lock_guard lock(mutex_);
  for (size_t begin = 0; begin < pairs.size();) {
    size_t end = begin, tokens = 0;
    while (end < pairs.size() && (end == begin || tokens + pairs[end].size() <= kBatchTokens)) tokens += pairs[end++].size();
    const auto outputs = forward_.classify(std::span(pairs).subspan(begin, end - begin));
    for (const auto& out : outputs) scores.push_back(out.at(0));
    begin = end;
  }
  return scores;
}

}  // namespace rpu
