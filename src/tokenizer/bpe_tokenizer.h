// Byte-pair encoding by merge rank, as GPT-2 introduced and Hugging Face tokenizers runs it:
// each pre-tokenized word starts as one symbol per character, then the adjacent pair with the
// lowest merge rank (leftmost among equals) is merged until no listed merge applies. Used for
// GGUF `gpt2` vocabularies (byte-level, regexes chosen by tokenizer.ggml.pre) and for Hugging
// Face BPE models (byte level, or SentencePiece-like with byte fallback as in Llama 2 / Gemma).
#pragma once

#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace rpu {

struct BpeOptions {
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  bool byte_fallback = false;  // characters outside the vocabulary -> <0xXX> tokens
  bool ignore_merges = false;  // a word that is itself in the vocabulary is one token
  bool fuse_unk = false;       // consecutive unknown characters -> one unk token
};

// How token pieces turn back into bytes.
enum class BpeDecoding {
  kByteLevel,      // GPT-2 byte <-> unicode mapping
  kSentencePiece,  // U+2581 -> space, <0xXX> -> that byte
};

class BpeTokenizer : public Tokenizer {
 public:
  BpeTokenizer(Vocab vocab, const BpeOptions& options, std::unique_ptr<Normalizer> normalizer,
               std::unique_ptr<PreTokenizer> pretokenizer, BpeDecoding decoding, bool strips_leading_space);
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file, Vocab vocab);

  std::string token_to_piece(int32_t id) const override;
  bool strips_leading_space() const override { return strips_leading_space_; }

 protected:
  void encode_text(std::string_view text, StretchStart start, std::vector<int32_t>& out) const override;

 private:
  struct Merge {
    uint32_t rank;
    int32_t merged;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  std::unordered_map<uint64_t, Merge> merges_;
  BpeOptions options_;  // flags only (merges moved into merges_)
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pretokenizer_;
  BpeDecoding decoding_;
  bool strips_leading_space_;
  int32_t byte_tokens_[256];  // <0xXX> ids for byte fallback, or -1
};

}  // namespace rpu
