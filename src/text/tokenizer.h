// Tokenizers built from GGUF `tokenizer.ggml.*` metadata. This issue brings the
// SentencePiece-style (`llama`) model; BPE and WordPiece plug in behind the same interface.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/gguf.h"

namespace rpu {

// Token kinds as GGUF numbers them in tokenizer.ggml.token_type.
enum class TokenKind : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct Vocab {
  std::vector<std::string> pieces;  // as stored: SentencePiece uses U+2581 for spaces
  std::vector<float> scores;
  std::vector<TokenKind> kinds;
  std::unordered_map<std::string, int32_t> ids;  // piece -> id (first wins)
  int32_t bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;

  int32_t size() const { return static_cast<int32_t>(pieces.size()); }
  static Vocab from_gguf(const GgufFile& file);
};

class Tokenizer {
 public:
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);
  virtual ~Tokenizer() = default;

  // Text -> ids. Special tokens written in the text are treated as plain text.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
  // The bytes one token stands for (a byte token may be part of a UTF-8 character).
  // Control tokens (BOS, EOS, ...) have no text.
  virtual std::string token_to_piece(int32_t id) const = 0;
  // Whether detokenised text drops the space that encode() put in front of the first word.
  virtual bool strips_leading_space() const { return false; }

  const Vocab& vocab() const { return vocab_; }
  bool is_end_of_generation(int32_t id) const;
  std::string decode(const std::vector<int32_t>& ids) const;  // whole sequence, spacing as streamed

 protected:
  explicit Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}
  Vocab vocab_;
};

// Turns a stream of token ids into text that is always whole UTF-8: bytes of a character
// split across tokens are held back until the character is complete.
class TextStream {
 public:
  explicit TextStream(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string push(int32_t id);  // text that became complete with this token
  std::string flush();           // whatever is left (an incomplete tail is replaced by U+FFFD)

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
  bool at_start_ = true;
};

}  // namespace rpu
