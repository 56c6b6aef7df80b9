// SentencePiece-style tokenizer (GGUF tokenizer model "llama"): spaces become U+2581,
// a space is put in front of each stretch of text (tokenizer.ggml.add_space_prefix), then
// adjacent symbols are merged greedily by the score of the merged piece; characters missing
// from the vocabulary fall back to <0xXX> byte tokens (or <unk> when there are none).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace rpu {

// The bytes of the symbol at text[pos] as SpmTokenizer cuts text before merging: one UTF-8
// character by its lead byte (a truncated tail is one symbol of what is left). The vocabulary
// trainer (vocab_trainer.h) cuts its corpus the same way.
size_t spm_symbol_length(std::string_view text, size_t pos);

// The text as SentencePiece sees it: every space as U+2581, plus a leading one when asked.
std::string spm_escape_spaces(std::string_view raw, bool add_space_prefix);

// Cuts escaped text before each space marker that follows another character and calls
// `visit` with each piece in order. The encoder merges each piece on its own (no piece of a
// vocabulary fitted or loaded here spans such a cut), and the vocabulary fitter counts the
// same pieces, so both see the same words.
void for_each_spm_word(std::string_view escaped, const std::function<void(std::string_view)>& visit);

class SpmTokenizer : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab);

  std::string token_to_piece(int32_t id) const override;
  bool strips_leading_space() const override { return vocab_.add_space_prefix; }

 protected:
  void encode_text(std::string_view text, StretchStart start, std::vector<int32_t>& out) const override;

 private:
  // The id of a piece the merges may produce (normal and user-defined pieces; control, byte
  // and unused pieces are never spelled out by text, as in SentencePiece), or -1.
  int32_t mergeable(std::string_view piece) const;
  void append_symbol(std::string_view symbol, std::vector<int32_t>& out) const;
  void encode_chunk(std::string_view text, std::vector<int32_t>& out) const;

  int32_t byte_tokens_[256];  // id of <0xXX>, or -1
  bool split_at_spaces_ = true;  // no piece spans "x\u2581": words can be merged one by one
};

}  // namespace rpu
