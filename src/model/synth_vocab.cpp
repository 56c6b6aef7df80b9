#include "model/synth_vocab.h"

#include <fmt/format.h>

#include <unordered_set>

#include "core/error.h"

namespace rpu {
namespace {

// GGUF token types.
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// GPT-2's bytes_to_unicode order: the printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
// themselves and come first; the other 68 bytes map to U+0100 onwards, in byte order.
std::vector<uint8_t> byte_level_order() {
  std::vector<uint8_t> order;
  auto printable = [](int b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff); };
  for (int b = 0; b < 256; ++b) {
    if (printable(b)) order.push_back(static_cast<uint8_t>(b));
  }
  for (int b = 0; b < 256; ++b) {
    if (!printable(b)) order.push_back(static_cast<uint8_t>(b));
  }
  return order;
}

// Merged tokens: words grown one lowercase letter at a time (most frequent English letters
// first), breadth first, in three trees ranked one after the other: words after a space
// ("Ġ" + letters, 60% of the merges), capitalised words (10%), bare lowercase words (30%).
// Each merge is (existing token, one letter) and makes a new token, so both parts of every
// merge, and its result, are tokens ranked before any later merge. Because the space tree
// ranks first, a space-prefixed word in it tokenizes to exactly its token (" the" -> "Ġthe").
std::vector<std::pair<std::string, std::string>> make_merges(size_t count) {
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(count);
  auto grow = [&](std::vector<std::string> level, size_t budget) {
    const size_t end = merges.size() + budget;
    while (merges.size() < end && !level.empty()) {
      std::vector<std::string> next;
      for (const std::string& left : level) {
        for (char c : letters) {
          if (merges.size() == end) return;
          merges.emplace_back(left, std::string(1, c));
          next.push_back(left + c);
        }
      }
      level = std::move(next);
    }
  };
  std::vector<std::string> capitals, lowercase;
  for (char c : letters) {
    capitals.emplace_back(1, static_cast<char>(c - 'a' + 'A'));
    lowercase.emplace_back(1, c);
  }
  const size_t spaced = count * 6 / 10, capitalised = count / 10;
  grow({byte_level_char(' ')}, spaced);
  grow(capitals, capitalised);
  grow(lowercase, count - spaced - capitalised);
  return merges;
}

}  // namespace

std::string byte_level_char(uint8_t b) {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    const std::vector<uint8_t> order = byte_level_order();
    uint32_t next = 0x100;
    for (uint8_t byte : order) {
      const bool printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
      append_utf8(t[byte], printable ? byte : next++);
    }
    return t;
  }();
  return table[b];
}

void add_spm_vocab(GgufWriter& w, int n_vocab) { add_spm_vocab(w, n_vocab, {}); }

void add_spm_vocab(GgufWriter& w, int n_vocab, const std::vector<SpecialToken>& specials) {
  if (n_vocab < 259) fail("a synthetic vocabulary needs at least 259 tokens, got {}", n_vocab);
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {kUnknown, kControl, kControl};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    scores.push_back(0);
    types.push_back(kByte);
  }
  // Word pieces: single letters with and without the space marker, then letter pairs.
  for (int i = 0; static_cast<int>(tokens.size()) < n_vocab; ++i) {
    const int letters = 26;
    std::string piece;
    if (i < letters) {
      piece = std::string(1, static_cast<char>('a' + i));
    } else if (i < 2 * letters) {
      piece = "\xe2\x96\x81" + std::string(1, static_cast<char>('a' + i - letters));
    } else {
      const int j = i - 2 * letters;
      piece = fmt::format("{}{}{}", std::string(1, static_cast<char>('a' + j % letters)),
                          std::string(1, static_cast<char>('a' + (j / letters) % letters)), j / (letters * letters));
    }
    tokens.push_back(piece);
    scores.push_back(-static_cast<float>(i));
    types.push_back(kNormal);
  }
  for (const SpecialToken& s : specials) {
    if (s.id < 259 || s.id >= n_vocab) fail("special token '{}' has id {} outside 259..{}", s.text, s.id, n_vocab - 1);
    tokens[static_cast<size_t>(s.id)] = s.text;
    scores[static_cast<size_t>(s.id)] = 0;
    types[static_cast<size_t>(s.id)] = s.control ? kControl : kUserDefined;
  }
  w.set("tokenizer.ggml.model", GgufValue::str("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
  w.set("tokenizer.ggml.scores", GgufValue::f32_array(scores));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(0));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
}

std::vector<std::string> make_wordpiece_tokens(int n_vocab) {
  if (n_vocab < 300) fail("a synthetic WordPiece vocabulary needs at least 300 tokens, got {}", n_vocab);
  const std::string word = "\xe2\x96\x81";  // U+2581, the word-start marker
  std::vector<std::string> tokens = {"[PAD]"};
  for (int i = 0; i < 99; ++i) tokens.push_back(fmt::format("[unused{}]", i));
  for (const char* special : {"[UNK]", "[CLS]", "[SEP]", "[MASK]"}) tokens.emplace_back(special);
  for (char c = '!'; c <= '~'; ++c) {
    if (c < 'A' || c > 'Z') tokens.push_back(word + c);  // uncased: no capitals
  }
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  for (char c : letters + "0123456789") tokens.emplace_back(1, c);
  // Letter strings, shortest first, each as a word and as a continuation.
  std::vector<std::string> level(letters.size());
  for (size_t i = 0; i < letters.size(); ++i) level[i] = std::string(1, letters[i]);
  while (static_cast<int>(tokens.size()) < n_vocab) {
    std::vector<std::string> next;
    for (const std::string& prefix : level) {
      for (char c : letters) {
        next.push_back(prefix + c);
        for (const std::string& piece : {word + next.back(), next.back()}) {
          if (static_cast<int>(tokens.size()) < n_vocab) tokens.push_back(piece);
        }
      }
    }
    level = std::move(next);
  }
  tokens.resize(static_cast<size_t>(n_vocab));
  return tokens;
}

void add_wordpiece_vocab(GgufWriter& w, int n_vocab) {
  const std::vector<std::string> tokens = make_wordpiece_tokens(n_vocab);
  std::vector<int32_t> types(tokens.size(), kNormal);
  for (int32_t id : {0, 100, 101, 102, 103}) types[static_cast<size_t>(id)] = kControl;
  w.set("tokenizer.ggml.model", GgufValue::str("bert"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(100));
  w.set("tokenizer.ggml.seperator_token_id", GgufValue::u32(102));  // sic: the converter's spelling
  w.set("tokenizer.ggml.padding_token_id", GgufValue::u32(0));
  w.set("tokenizer.ggml.cls_token_id", GgufValue::u32(101));
  w.set("tokenizer.ggml.mask_token_id", GgufValue::u32(103));
}

BpeVocab make_bpe_vocab(const BpeVocabSpec& spec, int n_vocab) {
  if (spec.n_text < 256) fail("a byte-level vocabulary needs at least 256 text tokens, got {}", spec.n_text);
  BpeVocab v;
  v.tokens.assign(static_cast<size_t>(n_vocab), std::string());
  v.types.assign(static_cast<size_t>(n_vocab), 0);
  std::unordered_set<std::string> special_texts;
  for (const SpecialToken& s : spec.specials) {
    if (s.id < 0 || s.id >= n_vocab) fail("special token '{}' has id {} outside the vocabulary of {}", s.text, s.id, n_vocab);
    if (v.types[static_cast<size_t>(s.id)] != 0) fail("two special tokens share id {}", s.id);
    if (!special_texts.insert(s.text).second) fail("special token '{}' appears twice", s.text);
    v.tokens[static_cast<size_t>(s.id)] = s.text;
    v.types[static_cast<size_t>(s.id)] = s.control ? kControl : kUserDefined;
  }
  if (n_vocab - static_cast<int>(spec.specials.size()) < spec.n_text) {
    fail("{} text tokens and {} special tokens do not fit in a vocabulary of {}", spec.n_text, spec.specials.size(), n_vocab);
  }

  std::vector<std::string> text;
  text.reserve(static_cast<size_t>(spec.n_text));
  for (uint8_t b : byte_level_order()) text.push_back(byte_level_char(b));
  const auto merges = make_merges(static_cast<size_t>(spec.n_text) - 256);
  if (merges.size() + 256 != static_cast<size_t>(spec.n_text)) fail("cannot generate {} merges", spec.n_text - 256);
  v.merges.reserve(merges.size());
  for (const auto& [left, right] : merges) {
    text.push_back(left + right);
    v.merges.push_back(left + " " + right);
  }

  size_t next_text = 0;
  for (int id = 0; id < n_vocab; ++id) {
    auto& token = v.tokens[static_cast<size_t>(id)];
    auto& type = v.types[static_cast<size_t>(id)];
    if (type != 0) continue;  // a special token
    if (next_text < text.size()) {
      token = std::move(text[next_text++]);
      type = kNormal;
    } else {
      token = fmt::format("[PAD{}]", id);
      type = kUnused;
    }
  }
  return v;
}

void add_bpe_vocab(GgufWriter& w, const BpeVocabSpec& spec, int n_vocab) {
  const BpeVocab v = make_bpe_vocab(spec, n_vocab);
  w.set("tokenizer.ggml.model", GgufValue::str("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::str(spec.pre));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(v.tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(v.types));
  w.set("tokenizer.ggml.merges", GgufValue::str_array(v.merges));
  auto id_key = [&](const char* key, int32_t id) {
    if (id < 0) return;
    if (id >= n_vocab) fail("{} {} is outside the vocabulary of {}", key, id, n_vocab);
    w.set(key, GgufValue::u32(static_cast<uint32_t>(id)));
  };
  id_key("tokenizer.ggml.bos_token_id", spec.bos);
  id_key("tokenizer.ggml.eos_token_id", spec.eos);
  id_key("tokenizer.ggml.eot_token_id", spec.eot);
  id_key("tokenizer.ggml.unknown_token_id", spec.unk);
  id_key("tokenizer.ggml.padding_token_id", spec.pad);
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(spec.add_bos));
  if (!spec.chat_template.empty()) w.set("tokenizer.chat_template", GgufValue::str(spec.chat_template));
}

}  // namespace rpu
