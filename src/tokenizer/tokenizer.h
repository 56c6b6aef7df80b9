// Tokenizers behind one interface: SentencePiece-style (GGUF `llama`), byte-level BPE (GGUF
// `gpt2`, Hugging Face BPE with a ByteLevel pre-tokenizer), BPE with byte fallback (Hugging
// Face Llama 2 / Gemma style) and WordPiece (GGUF `bert`, Hugging Face BERT), built from GGUF
// `tokenizer.ggml.*` metadata or from a Hugging Face tokenizer.json.
//
// encode() first cuts the text at special tokens written in it (user-defined tokens always,
// control tokens only when asked), encodes each stretch between them with the model's own
// algorithm, and adds the model's BOS/EOS (or [CLS]/[SEP]) when asked.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/gguf.h"

namespace rpu {

// SentencePiece writes spaces as U+2581 in pieces; byte-fallback BPE vocabularies do too.
inline constexpr std::string_view kSpaceMarker = "\xe2\x96\x81";
// `piece` with every U+2581 turned back into a space.
std::string spaces_from_markers(std::string_view piece);

// Where a stretch of plain text (between special tokens) starts. It decides what encoders do at
// a start: the space SentencePiece puts in front, the "first" prepend of Metaspace.
enum class StretchStart {
  kTextStart,     // the text begins here
  kAfterSpecial,  // it follows a special token (SentencePiece: a new sentence)
  kContinuation,  // it goes on from text encoded before (a piece of a longer text): no start
};

// Token kinds as GGUF numbers them in tokenizer.ggml.token_type.
enum class TokenKind : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// Hash that lets string maps be searched with a string_view (no temporary std::string).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
  std::vector<std::string> pieces;  // as stored: SentencePiece uses U+2581 for spaces
  std::vector<float> scores;
  std::vector<TokenKind> kinds;
  PieceMap ids;  // piece -> id (first wins)
  int32_t bos = -1, eos = -1, unk = -1, pad = -1, cls = -1, sep = -1;
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;
  // What encode(..., add_special = true) puts around the text (BOS / [CLS] ... EOS / [SEP]).
  std::vector<int32_t> prefix_ids, suffix_ids;
  // Added tokens that swallow the whitespace before (lstrip) / after (rstrip) them in the text.
  std::unordered_map<int32_t, uint8_t> strip;  // bit 1 = lstrip, bit 2 = rstrip
  std::string chat_template;

  int32_t size() const { return static_cast<int32_t>(pieces.size()); }
  int32_t find(std::string_view piece) const {
    const auto it = ids.find(piece);
    return it == ids.end() ? -1 : it->second;
  }
  static Vocab from_gguf(const GgufFile& file);
};

class Tokenizer {
 public:
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);
  // A Hugging Face tokenizer.json; tokenizer_config.json beside it (when present) supplies
  // add_bos_token / add_eos_token and the chat template.
  static std::unique_ptr<Tokenizer> from_hf(const std::string& tokenizer_json_path);
  // The same from the files' contents (config may be empty); `name` is used in errors.
  static std::unique_ptr<Tokenizer> from_hf_json(const std::string& tokenizer_json, const std::string& config_json,
                                                 const std::string& name = "tokenizer.json");
  // A GGUF file or a tokenizer.json, told apart by the file's first bytes.
  static std::unique_ptr<Tokenizer> from_file(const std::string& path);
  virtual ~Tokenizer() = default;

  // Text -> ids. add_special: add the model's BOS/EOS (or [CLS]/[SEP]) as its metadata says.
  // parse_special: control tokens written in the text (e.g. "<|im_start|>") become those
  // tokens; otherwise they are plain text. User-defined tokens are always recognised.
  // continues_text: the text goes on from text encoded before (e.g. an assistant turn after
  // its generation prompt), so its first stretch gets no start-of-text treatment, as the
  // model sees it when generating: "Answer:" then " 42" is "▁42", not "▁▁42". Honoured by
  // SentencePiece and Metaspace "first"; a Prepend normalizer or Metaspace "always" (Hugging Face
  // tokenizer.json Llama 2 styles) still prepend, as they do for every text they are given.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special = false,
                              bool continues_text = false) const;
  // The bytes one token stands for (a byte token may be part of a UTF-8 character).
  // Control tokens (BOS, EOS, ...) have no text.
  virtual std::string token_to_piece(int32_t id) const = 0;
  // Whether detokenised text drops the space that encode() put in front of the first word.
  virtual bool strips_leading_space() const { return false; }

  const Vocab& vocab() const { return vocab_; }
  bool is_end_of_generation(int32_t id) const;
  std::string decode(const std::vector<int32_t>& ids) const;  // whole sequence, spacing as streamed

 protected:
  explicit Tokenizer(Vocab vocab);
  // Encodes one stretch of text that holds no special token, starting as `start` says.
  virtual void encode_text(std::string_view text, StretchStart start, std::vector<int32_t>& out) const = 0;
  void check_id(int32_t id) const;  // throws for ids outside the vocabulary

  Vocab vocab_;

 private:
  // A byte trie over the special / user-defined token texts, for leftmost-longest matching.
  struct TrieNode {
    std::unordered_map<unsigned char, int32_t> next;
    int32_t token = -1;
    bool always = false;  // user-defined: recognised even without parse_special
  };
  std::vector<TrieNode> trie_;
  bool first_byte_[256] = {};
};

// Turns a stream of token ids into text that is always whole UTF-8: bytes of a character
// split across tokens are held back until the character is complete.
class TextStream {
 public:
  // at_text_start: the first token begins the text, so the space an SPM encoder put in front
  // of the first word is dropped; false when continuing a prompt (its space is real).
  explicit TextStream(const Tokenizer& tokenizer, bool at_text_start = true)
      : tokenizer_(tokenizer), at_start_(at_text_start) {}
  std::string push(int32_t id);  // text that became complete with this token
  std::string flush();           // whatever is left (an incomplete tail is replaced by U+FFFD)

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
  bool at_start_;
};

}  // namespace rpu
