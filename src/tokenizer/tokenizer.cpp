#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/wordpiece_tokenizer.h"

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

// Phi-3's published tokenizer.json strips the whitespace after its chat markers; GGUF files
// do not carry that flag, so it is restored by name (as llama.cpp does).
void apply_phi3_rstrip(const GgufFile& file, Vocab& v) {
  std::string name = file.get_string("general.name");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) return;
  for (int32_t id = 0; id < v.size(); ++id) {
    const TokenKind k = v.kinds[static_cast<size_t>(id)];
    const std::string& p = v.pieces[static_cast<size_t>(id)];
    if ((k == TokenKind::kControl || k == TokenKind::kUserDefined || k == TokenKind::kUnknown) && p != "<unk>" &&
        p != "<s>" && p != "<|endoftext|>") {
      v.strip[id] |= 2;
    }
  }
}

}  // namespace

std::string spaces_from_markers(std::string_view piece) {
  std::string text;
  text.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
      text += ' ';
      i += kSpaceMarker.size();
    } else {
      text += piece[i++];
    }
  }
  return text;
}

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
  v.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) v.ids.emplace(v.pieces[i], static_cast<int32_t>(i));
  const auto size = static_cast<int32_t>(n);
  v.bos = optional_id(file, "tokenizer.ggml.bos_token_id", size);
  v.eos = optional_id(file, "tokenizer.ggml.eos_token_id", size);
  v.unk = optional_id(file, "tokenizer.ggml.unknown_token_id", size);
  v.pad = optional_id(file, "tokenizer.ggml.padding_token_id", size);
  v.cls = optional_id(file, "tokenizer.ggml.cls_token_id", size);
  // llama.cpp's converter spells the key this way.
  v.sep = optional_id(file, "tokenizer.ggml.seperator_token_id", size);
  v.add_bos = optional_bool(file, "tokenizer.ggml.add_bos_token", v.bos >= 0);
  v.add_eos = optional_bool(file, "tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = optional_bool(file, "tokenizer.ggml.add_space_prefix", true);
  v.chat_template = file.get_string("tokenizer.chat_template");
  apply_phi3_rstrip(file, v);
  return v;
}

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  const std::string model = file.require("tokenizer.ggml.model").as_string("tokenizer.ggml.model");
  Vocab vocab = Vocab::from_gguf(file);
  if (model == "llama") {
    if (vocab.add_bos && vocab.bos >= 0) vocab.prefix_ids = {vocab.bos};
    if (vocab.add_eos && vocab.eos >= 0) vocab.suffix_ids = {vocab.eos};
    return std::make_unique<SpmTokenizer>(std::move(vocab));
  }
  if (model == "gpt2") {
    // Byte-level BPE has no space prefix of its own (the pre-tokenizer handles spaces).
    vocab.add_space_prefix = false;
    if (file.find("tokenizer.ggml.add_bos_token") == nullptr) vocab.add_bos = false;
    if (vocab.add_bos && vocab.bos >= 0) vocab.prefix_ids = {vocab.bos};
    if (vocab.add_eos && vocab.eos >= 0) vocab.suffix_ids = {vocab.eos};
    return BpeTokenizer::from_gguf(file, std::move(vocab));
  }
  if (model == "bert") {
    vocab.add_space_prefix = false;
    if (vocab.cls < 0) vocab.cls = vocab.bos >= 0 ? vocab.bos : vocab.find("[CLS]");
    if (vocab.sep < 0) vocab.sep = vocab.find("[SEP]");
    if (vocab.cls >= 0) vocab.prefix_ids = {vocab.cls};
    if (vocab.sep >= 0) vocab.suffix_ids = {vocab.sep};
    return WordPieceTokenizer::from_gguf(file, std::move(vocab));
  }
  fail("{}: tokenizer model '{}' is not supported (supported: llama, gpt2, bert)", file.path(), model);
}

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}'", path);
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::string_view(magic, 4) == "GGUF") {
    in.close();
    const GgufFile file = GgufFile::open(path);
    return from_gguf(file);
  }
  return from_hf(path);
}

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  trie_.emplace_back();
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    const TokenKind kind = vocab_.kinds[static_cast<size_t>(id)];
    if (kind != TokenKind::kControl && kind != TokenKind::kUserDefined && kind != TokenKind::kUnknown) continue;
    const std::string& piece = vocab_.pieces[static_cast<size_t>(id)];
    if (piece.empty()) continue;
    int32_t node = 0;
    for (char c : piece) {
      const auto byte = static_cast<unsigned char>(c);
      auto it = trie_[static_cast<size_t>(node)].next.find(byte);
      if (it == trie_[static_cast<size_t>(node)].next.end()) {
        trie_.emplace_back();
        const auto child = static_cast<int32_t>(trie_.size() - 1);
        trie_[static_cast<size_t>(node)].next.emplace(byte, child);
        node = child;
      } else {
        node = it->second;
      }
    }
    TrieNode& end = trie_[static_cast<size_t>(node)];
    if (end.token < 0) {  // the first token with a given text wins
      end.token = id;
      end.always = kind == TokenKind::kUserDefined;
    }
    first_byte_[static_cast<unsigned char>(piece[0])] = true;
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special,
                                       bool continues_text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out.insert(out.end(), vocab_.prefix_ids.begin(), vocab_.prefix_ids.end());

  // Leftmost-longest scan for special tokens; the stretches between them go to the model.
  size_t section = 0;  // start of the pending plain-text stretch
  size_t pos = 0;
  auto start_of = [&](size_t stretch) {
    if (stretch > 0) return StretchStart::kAfterSpecial;
    return continues_text ? StretchStart::kContinuation : StretchStart::kTextStart;
  };
  auto is_space_at = [&](size_t p, size_t& len) {
    const char32_t cp = unicode::decode(text, p, len);
    return cp != unicode::kInvalid && unicode::is_whitespace(cp);
  };
  while (pos < text.size()) {
    int32_t best = -1;
    size_t best_end = 0;
    if (first_byte_[static_cast<unsigned char>(text[pos])]) {
      int32_t node = 0;
      for (size_t p = pos; p < text.size(); ++p) {
        const auto& next = trie_[static_cast<size_t>(node)].next;
        const auto it = next.find(static_cast<unsigned char>(text[p]));
        if (it == next.end()) break;
        node = it->second;
        const TrieNode& n = trie_[static_cast<size_t>(node)];
        if (n.token >= 0 && (parse_special || n.always)) best = n.token, best_end = p + 1;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    size_t text_end = pos;
    const auto strip = vocab_.strip.find(best);
    const uint8_t flags = strip == vocab_.strip.end() ? 0 : strip->second;
    if (flags & 1) {  // lstrip: drop the whitespace run that ends at the token
      size_t run = pos;
      for (size_t p = section, len = 0; p < pos; p += len) {
        if (!is_space_at(p, len)) {
          run = pos;
        } else if (run == pos) {
          run = p;
        }
      }
      text_end = run;
    }
    if (text_end > section) encode_text(text.substr(section, text_end - section), start_of(section), out);
    out.push_back(best);
    pos = best_end;
    if (flags & 2) {  // rstrip: drop the whitespace that follows
      for (size_t len = 0; pos < text.size() && is_space_at(pos, len);) pos += len;
    }
    section = pos;
  }
  if (section < text.size()) encode_text(text.substr(section), start_of(section), out);

  if (add_special) out.insert(out.end(), vocab_.suffix_ids.begin(), vocab_.suffix_ids.end());
  return out;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_.size()) fail("token id {} is outside the vocabulary (0..{})", id, vocab_.size() - 1);
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
