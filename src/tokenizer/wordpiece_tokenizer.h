// WordPiece (BERT): the BERT normalizer (drop control characters, space out CJK ideographs,
// lowercase and strip accents for uncased vocabularies), a split on whitespace and
// punctuation, then greedy longest-match-first per word with continuation pieces; a word that
// cannot be covered (or is longer than 100 characters) becomes [UNK].
//
// GGUF `bert` vocabularies (as llama.cpp converts them) mark word starts with U+2581 and store
// continuations bare; Hugging Face vocabularies store word starts bare and continuations with
// "##". Both are the same model with different spellings, given here as two prefixes.
#pragma once

#include <memory>

#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace rpu {

struct WordPieceOptions {
  std::string word_prefix;          // "" (HF) or U+2581 (GGUF)
  std::string continuation_prefix;  // "##" (HF) or "" (GGUF)
  size_t max_chars_per_word = 100;
};

class WordPieceTokenizer : public Tokenizer {
 public:
  WordPieceTokenizer(Vocab vocab, WordPieceOptions options, std::unique_ptr<Normalizer> normalizer,
                     std::unique_ptr<PreTokenizer> pretokenizer);
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file, Vocab vocab);

  std::string token_to_piece(int32_t id) const override;
  bool strips_leading_space() const override { return true; }

 protected:
  void encode_text(std::string_view text, StretchStart start, std::vector<int32_t>& out) const override;

 private:
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  WordPieceOptions options_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pretokenizer_;
};

}  // namespace rpu
