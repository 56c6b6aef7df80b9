// Chat examples as the trainer tokenizes them (train/training_data.cpp): each assistant turn is
// encoded as it goes on from its generation prompt, the way the model meets it when it generates.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer.h"
#include "test_util.h"

namespace rpu {
namespace {

// The built-in model: a SentencePiece vocabulary (with the space prefix) and the specialist's
// template, whose generation prompt is "Answer:" and whose assistant turn is "Answer: X</s>\n".
class TrainDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::make_unique<GgufFile>(GgufFile::open(std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf"));
    tokenizer_ = Tokenizer::from_gguf(*file_);
  }
  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(TrainDataTest, AContinuationGetsNoSpacePrefix) {
  const Tokenizer& t = *tokenizer_;
  const std::vector<int32_t> alone = t.encode(" billing", false), continued = t.encode(" billing", false, false, true);
  EXPECT_EQ(alone.size(), continued.size() + 1);  // the prefix's extra "▁"
  EXPECT_EQ(t.vocab().pieces[static_cast<size_t>(alone[0])], kSpaceMarker);
  // The whole text encoded at once ends in the same tokens as its continuation.
  const std::vector<int32_t> whole = t.encode("Answer: billing", false), head = t.encode("Answer:", false);
  ASSERT_EQ(whole.size(), head.size() + continued.size());
  EXPECT_EQ(std::vector<int32_t>(whole.begin() + static_cast<long>(head.size()), whole.end()), continued);
  // After a special token a stretch still starts a sentence.
  EXPECT_EQ(t.encode("</s> billing", false, true, true), t.encode("</s> billing", false, true, false));
}

TEST_F(TrainDataTest, TheAssistantTurnIsLearnedAsTheModelGeneratesIt) {
  const std::string path = test::temp_path("train-data-chat.jsonl");
  {
    std::ofstream out(path);
    out << R"({"messages":[{"role":"system","content":"Classify."},{"role":"user","content":"I was charged twice"},)"
        << R"({"role":"assistant","content":"billing"},{"role":"user","content":"My login fails"},)"
        << R"({"role":"assistant","content":"account"}]})" << "\n";
  }
  const Tokenizer& t = *tokenizer_;
  const train::TrainData data = train::load_training_data({path}, t, t.vocab().chat_template, 512, 0.0);
  ASSERT_EQ(data.train.size(), 1u);
  const train::Example& ex = data.train[0];
  // The targets, turn by turn: " billing</s>\n" and " account</s>\n" as continuations.
  std::vector<int32_t> targets;
  for (size_t i = 0; i < ex.tokens.size(); ++i) {
    if (ex.loss_mask[i]) targets.push_back(ex.tokens[i]);
  }
  std::vector<int32_t> expected = t.encode(" billing</s>\n", false, true, true);
  for (int32_t id : t.encode(" account</s>\n", false, true, true)) expected.push_back(id);
  EXPECT_EQ(targets, expected);
  // Decoded after the prompt, as the server streams it: one space, the template's.
  TextStream stream(t, /*at_text_start=*/false);
  std::string text;
  for (int32_t id : t.encode(" billing", false, false, true)) text += stream.push(id);
  EXPECT_EQ(text + stream.flush(), " billing");
  // And the prompt before each turn is the template's text, encoded as the server encodes it.
  const std::vector<int32_t> prompt = t.encode("<s>Classify.\nQuestion: I was charged twice\nAnswer:", false, true);
  ASSERT_GE(ex.tokens.size(), prompt.size());
  EXPECT_EQ(std::vector<int32_t>(ex.tokens.begin(), ex.tokens.begin() + static_cast<long>(prompt.size())), prompt);
}

}  // namespace
}  // namespace rpu
