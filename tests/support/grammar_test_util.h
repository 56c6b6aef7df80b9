// A fixture vocabulary with its grammar trie, shared by the grammar and JSON-schema tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "test_util.h"
#include "decode/grammar.h"
#include "tokenizer/tokenizer.h"

namespace rpu::test {

struct LoadedVocab {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
  std::shared_ptr<const GrammarVocab> vocab;
};

// ../shared/fixtures/vocab/ggml-vocab-NAME.gguf, its tokenizer and trie.
inline LoadedVocab load_fixture_vocab(const std::string& name) {
  LoadedVocab l;
  l.file = std::make_unique<GgufFile>(GgufFile::open(fixture("vocab/ggml-vocab-" + name + ".gguf")));
  l.tokenizer = Tokenizer::from_gguf(*l.file);
  l.vocab = GrammarVocab::build(*l.tokenizer);
  return l;
}

// Whether token `id` is set in a mask of 64-bit words.
inline bool mask_bit(const std::vector<uint64_t>& mask, int32_t id) {
  return (mask[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1;
}

}  // namespace rpu::test
