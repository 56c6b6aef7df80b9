// Fits a small SentencePiece-style BPE vocabulary to a corpus: what a specialist trained from
// scratch reads its cluster's text with. A general small vocabulary (the built-in model's 512
// pieces) spells English a character or two at a time (~1.7 characters a token on agent
// traffic), so a tiny model spends its steps on spelling and its context on letters; a
// vocabulary fitted to the cluster's own text makes its words and boilerplate single tokens.
//
// Algorithm (byte-pair encoding, Sennrich et al. 2016, in SentencePiece's piece format):
//   1. Text is cut the way SpmTokenizer cuts it: spaces become U+2581 and every chunk starts
//      at a space marker, so no piece spans a word boundary (the tokenizer then splits at
//      spaces too). Chunks are counted.
//   2. Start from the characters that occur (each a piece); repeatedly merge the adjacent pair
//      with the highest count summed over the chunks (ties: the smaller pair of piece ids, so
//      the result is a function of the corpus only) into a new piece, until the vocabulary has
//      `size` entries or no pair occurs `min_count` times.
//   3. Pieces get score -rank: SpmTokenizer merges the highest-scoring adjacent pair first,
//      which applies the merges in the order they were learned.
// Digits are never merged (split_digits), so numbers stay one token per digit: what copying
// and arithmetic need. Characters not in the vocabulary fall back to the 256 byte tokens.
// Layout: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then characters, then merges.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rpu {

// Throws rpu::Error naming the problem when `size` pieces cannot make a fitted vocabulary
// (fewer than the 3 specials + 256 byte tokens, or more than kMaxFittedVocab).
inline constexpr int kMaxFittedVocab = 1 << 16;
void check_fitted_vocab_size(int size);

struct VocabFitOptions {
  int size = 1024;        // total pieces, specials and byte tokens included (at least 259)
  int min_count = 2;      // a pair seen fewer times is not merged
  int min_char_count = 1; // a character seen fewer times is left to byte fallback
  bool split_digits = true;
  int max_piece_bytes = 32;
};

struct FittedVocab {
  std::vector<std::string> pieces;  // U+2581 for spaces, as GGUF's tokenizer.ggml.tokens
  std::vector<float> scores;
  std::vector<int32_t> kinds;       // GGUF token types (TokenKind numbers)
  int merges = 0;                   // pieces made by merging
};

// Throws rpu::Error when size < 259.
FittedVocab fit_spm_vocab(const std::vector<std::string>& texts, const VocabFitOptions& options);

}  // namespace rpu
