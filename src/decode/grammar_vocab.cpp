// GrammarVocab: every token's bytes once per tokenizer, as a byte trie flattened in preorder
// so a mask is one linear walk that can skip a rejected prefix's whole subtree.
#include <algorithm>
#include <numeric>

#include "decode/grammar.h"
#include "tokenizer/tokenizer.h"

namespace rpu {

std::shared_ptr<const GrammarVocab> GrammarVocab::build(const Tokenizer& tokenizer) {
  auto vocab = std::make_shared<GrammarVocab>();
  const int32_t n = tokenizer.vocab().size();
  vocab->n_vocab_ = n;
  vocab->pieces_.resize(static_cast<size_t>(n));
  vocab->eog_mask_.assign(static_cast<size_t>(n), 0);
  std::vector<int32_t> order;
  for (int32_t id = 0; id < n; ++id) {
    if (tokenizer.is_end_of_generation(id)) {
      vocab->eog_mask_[static_cast<size_t>(id)] = 1;
      vocab->eog_.push_back(id);
      continue;  // never text: allowed only when the output is complete
    }
    vocab->pieces_[static_cast<size_t>(id)] = tokenizer.token_to_piece(id);
    const size_t len = vocab->pieces_[static_cast<size_t>(id)].size();
    if (vocab->pieces_[static_cast<size_t>(id)].find('"') != std::string::npos) vocab->quote_tokens_.push_back(id);
    if (vocab->pieces_[static_cast<size_t>(id)].find('=') != std::string::npos) vocab->equals_tokens_.push_back(id);
    if (vocab->pieces_[static_cast<size_t>(id)].find('>') != std::string::npos) vocab->angle_tokens_.push_back(id);
    // Empty pieces (control tokens) are never allowed; absurdly long ones are left out.
    if (len > 0 && len < 65535) order.push_back(id);
  }
  const auto& pieces = vocab->pieces_;
  // std::string compares bytes as unsigned char, so sorted order is trie preorder.
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return pieces[static_cast<size_t>(a)] < pieces[static_cast<size_t>(b)];
  });

  Trie& trie = vocab->trie_;
  trie.byte.push_back(0);
  trie.depth.push_back(0);
  trie.end.push_back(0);
  std::vector<int32_t> path = {0};  // node at each depth along the current piece
  std::vector<int32_t> node_of_token;  // parallel to `order`
  const std::string* previous = nullptr;
  for (int32_t id : order) {
    const std::string& piece = pieces[static_cast<size_t>(id)];
    size_t common = 0;
    if (previous) {
      const size_t limit = std::min(previous->size(), piece.size());
      while (common < limit && (*previous)[common] == piece[common]) ++common;
    }
    // Close the nodes of the previous piece below the shared prefix.
    while (path.size() > common + 1) {
      trie.end[static_cast<size_t>(path.back())] = static_cast<int32_t>(trie.byte.size());
      path.pop_back();
    }
    for (size_t d = common; d < piece.size(); ++d) {
      path.push_back(static_cast<int32_t>(trie.byte.size()));
      trie.byte.push_back(static_cast<uint8_t>(piece[d]));
      trie.depth.push_back(static_cast<uint16_t>(d + 1));
      trie.end.push_back(0);
    }
    node_of_token.push_back(path.back());
    previous = &piece;
  }
  for (int32_t node : path) trie.end[static_cast<size_t>(node)] = static_cast<int32_t>(trie.byte.size());
  // Tokens were visited in node order, so a running count gives each node's token range.
  trie.token_start.assign(trie.byte.size() + 1, 0);
  for (int32_t node : node_of_token) ++trie.token_start[static_cast<size_t>(node) + 1];
  std::partial_sum(trie.token_start.begin(), trie.token_start.end(), trie.token_start.begin());
  trie.tokens = order;
  return vocab;
}

}  // namespace rpu
