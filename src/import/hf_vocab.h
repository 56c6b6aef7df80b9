// A Hugging Face folder's tokenizer (tokenizer.json, tokenizer_config.json, chat_template.jinja,
// config.json / generation_config.json for the special ids) as GGUF tokenizer metadata:
// byte-level BPE becomes `gpt2` (tokens, types, merges, and the `tokenizer.ggml.pre` name whose
// regexes equal the file's Split steps), BPE with byte fallback (Llama 2 / Mistral style)
// becomes SentencePiece-style `llama` (tokens, types, scores ranked by merge order).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "io/gguf.h"

namespace rpu::hf {

// `n_vocab` is the embedding table's row count: the token list is padded to it with unused
// "[PADn]" tokens (as llama.cpp's converter does), and a tokenizer with more tokens is an error.
void add_tokenizer_metadata(const std::string& dir, const nlohmann::json& config,
                            const nlohmann::json& generation_config, int64_t n_vocab, GgufWriter& out);

}  // namespace rpu::hf
