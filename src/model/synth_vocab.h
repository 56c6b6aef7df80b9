// Tokenizer metadata for synthetic models: a SentencePiece-style vocabulary for the tiny test
// models, and a GPT-2 style byte-level BPE vocabulary (tokens + merges + special tokens) in
// the layout real models use, so that rpu and llama.cpp both load and run the files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf.h"

namespace rpu {

// tokenizer.ggml.model = "llama": <unk>, <s>, </s>, the 256 <0xNN> byte tokens, then word
// pieces (single letters, "▁" + letter, letter pairs) with falling scores. n_vocab >= 259.
void add_spm_vocab(GgufWriter& writer, int n_vocab);

// tokenizer.ggml.model = "bert" in BERT's uncased layout, as llama.cpp's converter writes it
// (word starts carry "▁", continuations nothing): [PAD] = 0, [unused0..98] = 1..99, [UNK] =
// 100, [CLS] = 101, [SEP] = 102, [MASK] = 103; then every printable ASCII character as a word,
// every lowercase letter and digit as a continuation, and lowercase letter strings (most
// frequent letters first, two letters, then three) as words and continuations, until n_vocab.
// Any lowercase ASCII word tokenizes without [UNK]. n_vocab >= 300.
void add_wordpiece_vocab(GgufWriter& writer, int n_vocab);
std::vector<std::string> make_wordpiece_tokens(int n_vocab);

struct SpecialToken {
  int32_t id;
  std::string text;     // e.g. "<|im_start|>"
  bool control = true;  // CONTROL (3); false: USER_DEFINED (4), e.g. Qwen's "<think>"
};

// The same with special tokens at their ids (replacing the word pieces there), e.g. Phi-3's
// <|endoftext|> = 32000 ... <|user|> = 32010, which llama.cpp looks up by text for phi-3 models.
void add_spm_vocab(GgufWriter& writer, int n_vocab, const std::vector<SpecialToken>& specials);

// tokenizer.ggml.model = "gpt2". Ids not taken by `specials` hold, in increasing order, the
// 256 byte-level characters (GPT-2's byte-to-unicode table, in its order) and then one token
// per merge, until n_text such tokens exist; any ids left over are "[PAD<id>]" tokens of type
// UNUSED, as llama.cpp's converter pads Qwen's 151,665 tokens to the 151,936 embedding rows.
struct BpeVocabSpec {
  std::string pre = "gpt2";  // tokenizer.ggml.pre: which pre-tokenizer regexes apply
  int n_text = 0;            // byte tokens + merged tokens (>= 256)
  std::vector<SpecialToken> specials;
  int32_t bos = -1, eos = -1, eot = -1, pad = -1, unk = -1;  // -1: key not written
  bool add_bos = false;
  std::string chat_template;  // tokenizer.chat_template; empty: not written
};

// Writes every tokenizer.ggml.* key for a vocabulary of n_vocab tokens; throws rpu::Error if
// the specials collide, fall outside n_vocab, or leave fewer than n_text free ids.
void add_bpe_vocab(GgufWriter& writer, const BpeVocabSpec& spec, int n_vocab);

// The tokens and merges add_bpe_vocab writes (exposed so tests can check their consistency).
struct BpeVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;  // GGUF token types
  std::vector<std::string> merges;  // "left right", rank order
};
BpeVocab make_bpe_vocab(const BpeVocabSpec& spec, int n_vocab);

// GPT-2's byte-level alphabet: the UTF-8 text that stands for byte b in byte-level BPE
// ("Ġ" for a space, "Ċ" for a newline, printable ASCII as itself).
std::string byte_level_char(uint8_t b);

}  // namespace rpu
