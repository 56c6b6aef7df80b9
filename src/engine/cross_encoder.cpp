#include "engine/cross_encoder.h"

#include <algorithm>

#include "core/error.h"

namespace rpu {

void check_cross_encoder(const Model& model) {
  if (!model.config().arch->encoder || model.config().pooling != Pooling::kRank || model.weights().n_cls_out == 0) {
    fail("the reranking model must be a cross-encoder (an encoder with pooling type rank and a classification "
         "head); this one has pooling '{}'",
         pooling_name(model.config().pooling));
  }
}

std::vector<int32_t> rerank_pair_tokens(const Tokenizer& tokenizer, int max_tokens, std::string_view query,
                                        std::string_view document) {
  const Vocab& vocab = tokenizer.vocab();
  const size_t limit = static_cast<size_t>(std::max(max_tokens, 0));
  const size_t specials = vocab.prefix_ids.size() + 2 * vocab.suffix_ids.size();
  if (specials + 2 > limit) fail("the reranking model reads at most {} tokens, too few for a pair", limit);
  std::vector<int32_t> q = tokenizer.encode(query, false);
  std::vector<int32_t> d = tokenizer.encode(document, false);
  // Keep the query whole when it fits half the room; the document gets the rest.
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

}  // namespace rpu
