// SentencePiece-style encoding and streaming detokenisation on the fixture model's vocabulary.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/synth.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

class SpmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::make_unique<GgufFile>(GgufFile::open(test::fixture("stories260K/stories260K.gguf")));
    tokenizer_ = Tokenizer::from_gguf(*file_);
  }
  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(SpmTest, EncodeDecodeRoundTripsText) {
  for (const std::string text : {"Once upon a time", "Hello,  world!\nNew line\ttab", "  leading spaces", "x"}) {
    const auto ids = tokenizer_->encode(text, true);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), 1);  // BOS
    EXPECT_EQ(tokenizer_->decode(ids), text) << text;
  }
  EXPECT_EQ(tokenizer_->encode("", true), std::vector<int32_t>{1});
  EXPECT_TRUE(tokenizer_->encode("", false).empty());
}

// Characters outside the 512-token vocabulary fall back to their UTF-8 bytes (<0xXX> = id 3 + byte).
TEST_F(SpmTest, UnknownCharactersFallBackToBytes) {
  const auto ids = tokenizer_->encode("\xe6\x97\xa5", false);  // "日": no such piece
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(std::vector<int32_t>(ids.end() - 3, ids.end()), (std::vector<int32_t>{3 + 0xe6, 3 + 0x97, 3 + 0xa5}));
  EXPECT_EQ(tokenizer_->decode(ids), "\xe6\x97\xa5");
}

TEST_F(SpmTest, StreamHoldsBackPartialUtf8) {
  TextStream stream(*tokenizer_);
  EXPECT_EQ(stream.push(3 + 0xe2), "");  // first byte of U+2603 SNOWMAN
  EXPECT_EQ(stream.push(3 + 0x98), "");
  EXPECT_EQ(stream.push(3 + 0x83), "\xe2\x98\x83");
  EXPECT_EQ(stream.push(3 + 0xf0), "");  // an unfinished character at the end
  EXPECT_EQ(stream.flush(), "\xef\xbf\xbd");
}

TEST_F(SpmTest, ControlTokensHaveNoText) {
  EXPECT_EQ(tokenizer_->token_to_piece(1), "");
  EXPECT_EQ(tokenizer_->token_to_piece(2), "");
  EXPECT_TRUE(tokenizer_->is_end_of_generation(2));
  EXPECT_FALSE(tokenizer_->is_end_of_generation(100));
  EXPECT_THROW(tokenizer_->token_to_piece(512), Error);
  EXPECT_THROW(tokenizer_->token_to_piece(-1), Error);
}

// Merges follow piece scores: the synthetic vocabulary scores "a" above "▁a" above pairs.
TEST(SpmMergeTest, HigherScoredMergeWins) {
  SynthSpec spec;
  spec.n_vocab = 400;
  const GgufFile file = GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes()));
  const auto tokenizer = Tokenizer::from_gguf(file);
  const Vocab& v = tokenizer->vocab();
  // "▁a" exists as one piece, so " a" -> [▁a]; "ab" has no pair piece in the first 400 -> [a, b].
  EXPECT_EQ(tokenizer->encode("a", false), std::vector<int32_t>{v.ids.at("\xe2\x96\x81" "a")});
  EXPECT_EQ(tokenizer->encode("a b", false),
            (std::vector<int32_t>{v.ids.at("\xe2\x96\x81" "a"), v.ids.at("\xe2\x96\x81" "b")}));
}

TEST(TokenizerTest, UnsupportedModelIsAClearError) {
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::str("rwkv"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array({"a", "b"}));
  const GgufFile file = GgufFile::parse(MappedFile::from_bytes(w.to_bytes()));
  try {
    Tokenizer::from_gguf(file);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rwkv"), std::string::npos) << e.what();
  }
}

TEST(TokenizerTest, InconsistentMetadataIsRejected) {
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::str("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array({"<unk>", "<s>", "</s>"}));
  w.set("tokenizer.ggml.scores", GgufValue::f32_array({0.0f, 0.0f}));  // one short
  EXPECT_THROW(Tokenizer::from_gguf(GgufFile::parse(MappedFile::from_bytes(w.to_bytes()))), Error);
  w.set("tokenizer.ggml.scores", GgufValue::f32_array({0.0f, 0.0f, 0.0f}));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(7));  // outside the vocabulary
  EXPECT_THROW(Tokenizer::from_gguf(GgufFile::parse(MappedFile::from_bytes(w.to_bytes()))), Error);
}

}  // namespace
}  // namespace rpu
