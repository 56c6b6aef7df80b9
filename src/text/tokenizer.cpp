#include "text/tokenizer.h"

#include "core/error.h"
#include "text/spm_tokenizer.h"

namespace rpu {
namespace {

int32_t optional_id(const GgufFile& file, const char* key, int32_t n_vocab) {
  const GgufValue* value = file.find(key);
  if (value == nullptr) return -1;
  const int64_t id = value->as_int(key);
  // Converters write -1 (or its u32 form) for "no such token".
  if (id == -1 || id == 0xffffffffLL) return -1;
  if (id < 0 || id >= n_vocab) fail("{}: {} = {} is outside the vocabulary of {}", file.path(), key, id, n_vocab);
  return static_cast<int32_t>(id);
}

bool optional_bool(const GgufFile& file, const char* key, bool fallback) {
  const GgufValue* value = file.find(key);
  return value ? value->as_bool(key) : fallback;
}

// Length of the UTF-8 sequence a lead byte announces (0 for a continuation or invalid byte).
int utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) return 2;
  if ((lead & 0xf0) == 0xe0) return 3;
  if ((lead & 0xf8) == 0xf0) return 4;
  return 0;
}

}  // namespace

Vocab Vocab::from_gguf(const GgufFile& file) {
  Vocab v;
  const auto& tokens = file.require("tokenizer.ggml.tokens").as_array("tokenizer.ggml.tokens");
  if (tokens.empty()) fail("{}: tokenizer.ggml.tokens is empty", file.path());
  const auto n = tokens.size();
  v.pieces.reserve(n);
  for (const auto& t : tokens) v.pieces.push_back(t.as_string("tokenizer.ggml.tokens item"));
  v.scores.assign(n, 0.0f);
  if (const GgufValue* scores = file.find("tokenizer.ggml.scores")) {
    const auto& items = scores->as_array("tokenizer.ggml.scores");
    if (items.size() != n) fail("{}: {} token scores for {} tokens", file.path(), items.size(), n);
    for (size_t i = 0; i < n; ++i) v.scores[i] = static_cast<float>(items[i].as_double("token score"));
  }
  v.kinds.assign(n, TokenKind::kNormal);
  if (const GgufValue* kinds = file.find("tokenizer.ggml.token_type")) {
    const auto& items = kinds->as_array("tokenizer.ggml.token_type");
    if (items.size() != n) fail("{}: {} token types for {} tokens", file.path(), items.size(), n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t k = items[i].as_int("token type");
      if (k < 1 || k > 6) fail("{}: token {} has unknown token type {}", file.path(), i, k);
      v.kinds[i] = static_cast<TokenKind>(k);
    }
  }
  for (size_t i = 0; i < n; ++i) v.ids.emplace(v.pieces[i], static_cast<int32_t>(i));
  const auto size = static_cast<int32_t>(n);
  v.bos = optional_id(file, "tokenizer.ggml.bos_token_id", size);
  v.eos = optional_id(file, "tokenizer.ggml.eos_token_id", size);
  v.unk = optional_id(file, "tokenizer.ggml.unknown_token_id", size);
  v.pad = optional_id(file, "tokenizer.ggml.padding_token_id", size);
  v.add_bos = optional_bool(file, "tokenizer.ggml.add_bos_token", v.bos >= 0);
  v.add_eos = optional_bool(file, "tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = optional_bool(file, "tokenizer.ggml.add_space_prefix", true);
  return v;
}

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  const std::string model = file.require("tokenizer.ggml.model").as_string("tokenizer.ggml.model");
  if (model == "llama") return std::make_unique<SpmTokenizer>(Vocab::from_gguf(file));
  fail("{}: tokenizer model '{}' is not supported yet (supported: llama)", file.path(), model);
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  if (id == vocab_.eos) return true;
  // Other end markers (e.g. <|im_end|>, <|eot_id|>) are control tokens named as such.
  if (id >= 0 && id < vocab_.size() && vocab_.kinds[static_cast<size_t>(id)] == TokenKind::kControl) {
    const std::string& p = vocab_.pieces[static_cast<size_t>(id)];
    return p == "<|im_end|>" || p == "<|eot_id|>" || p == "<|end_of_text|>" || p == "<|endoftext|>" ||
           p == "<end_of_turn>" || p == "<|end|>";
  }
  return false;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  TextStream stream(*this);
  std::string text;
  for (int32_t id : ids) text += stream.push(id);
  return text + stream.flush();
}

std::string TextStream::push(int32_t id) {
  std::string piece = tokenizer_.token_to_piece(id);
  if (piece.empty()) return {};
  if (at_start_) {
    at_start_ = false;
    if (tokenizer_.strips_leading_space() && piece[0] == ' ') piece.erase(0, 1);
  }
  pending_ += piece;
  // Emit the longest prefix made of complete UTF-8 sequences; invalid lead bytes pass through.
  size_t complete = 0;
  while (complete < pending_.size()) {
    const int len = utf8_length(static_cast<unsigned char>(pending_[complete]));
    if (len == 0) {
      ++complete;
      continue;
    }
    if (complete + static_cast<size_t>(len) > pending_.size()) break;
    complete += static_cast<size_t>(len);
  }
  std::string ready = pending_.substr(0, complete);
  pending_.erase(0, complete);
  return ready;
}

std::string TextStream::flush() {
  std::string rest = pending_.empty() ? "" : "\xef\xbf\xbd";
  pending_.clear();
  return rest;
}

}  // namespace rpu
