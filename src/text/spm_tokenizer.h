// SentencePiece-style tokenizer (GGUF tokenizer model "llama"): spaces become U+2581,
// a space is put in front of the text, then adjacent symbols are merged greedily by the
// score of the merged piece; characters missing from the vocabulary fall back to
// <0xXX> byte tokens.
#pragma once

#include "text/tokenizer.h"

namespace rpu {

class SpmTokenizer : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab);

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string token_to_piece(int32_t id) const override;
  bool strips_leading_space() const override { return vocab_.add_space_prefix; }

 private:
  void append_symbol(std::string_view symbol, std::vector<int32_t>& out) const;

  int32_t byte_tokens_[256];  // id of <0xXX>, or -1
};

}  // namespace rpu
