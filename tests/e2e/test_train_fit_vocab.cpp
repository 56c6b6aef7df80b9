// rpu train --fit-vocab N: a from-scratch model reads its data in a vocabulary fitted to that
// data. Oracles: the model file's pieces are exactly what the library's fitter
// (tokenizer/vocab_trainer.h) gives for the same text (the conversations rendered with the same
// template), the engine's tokenizer read back from the model round-trips any text, --resume on
// other data keeps the checkpoint's pieces, and the combinations that cannot work are errors
// naming the flag.
#include <gtest/gtest.h>

#include <algorithm>

#include "io/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_trainer.h"
#include "train/trainer.h"

namespace rpu {
namespace {

const char* kTemplate =
    "{{- bos_token }}{%- for message in messages %}{%- if message['role'] == 'user' %}{{- 'Question: ' + "
    "message['content'] + '\\n' }}{%- elif message['role'] == 'assistant' %}{{- 'Answer: ' + message['content'] + "
    "eos_token + '\\n' }}{%- elif message['role'] == 'system' %}{{- message['content'] + '\\n' }}{%- endif %}{%- endfor "
    "%}{%- if add_generation_prompt %}{{- 'Answer:' }}{%- endif %}";

std::string write(const std::string& name, const std::string& text) {
  const std::string path = test::temp_path(name);
  test::write_file(path, text);
  return path;
}

// Reader-shaped conversations: a numbered source, a question about its term, the definition.
std::string glossary_data(const std::string& name, int n, int offset) {
  const std::vector<std::string> terms = {"lamp", "river", "kettle", "violin", "harbour", "meadow", "lantern", "compass"};
  const std::vector<std::string> defs = {"a device that gives light", "a large natural stream of water",
                                         "a pot for boiling water", "a bowed string instrument",
                                         "a sheltered port for ships", "a field of grass and flowers",
                                         "a portable case for a light", "an instrument that shows north"};
  std::string lines;
  for (int i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(i + offset) % terms.size();
    const std::string source = "Answer from the numbered sources below.\\n\\n[1] Glossary > " + terms[k] + "\\n" +
                               terms[k] + ": " + defs[k] + " (entry " + std::to_string(i) + ").";
    lines += "{\"messages\": [{\"role\": \"system\", \"content\": \"" + source + "\"}, {\"role\": \"user\", \"content\": " +
             "\"What is " + terms[k] + "?\"}, {\"role\": \"assistant\", \"content\": \"" + defs[k] + " [1]\"}]}\n";
  }
  return write(name, lines);
}

std::vector<std::string> train_args(const std::string& data, const std::string& tmpl, const std::string& out) {
  return {"train", "--fit-vocab", "320", "--chat-template", tmpl, "--data", data, "-o", out, "--embd", "32", "--layers",
          "1", "--heads", "2", "--kv-heads", "2", "--ff", "64", "--seq-len", "128", "--batch", "4", "--steps", "4",
          "--threads", "2"};
}

std::vector<std::string> pieces_of(const std::string& gguf) {
  return Tokenizer::from_gguf(GgufFile::open(gguf))->vocab().pieces;
}

TEST(TrainFitVocabTest, TheModelReadsWithTheVocabularyFittedToItsData) {
  const std::string tmpl = write("fit.jinja", kTemplate), data = glossary_data("fit.jsonl", 200, 0);
  const std::string out = test::temp_path("fit-run");
  const auto r = test::run_rpu(train_args(data, tmpl, out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("320-piece vocabulary"), std::string::npos) << r.err;

  // Oracle: the library's fitter over the same rendered conversations.
  VocabFitOptions fit;
  fit.size = 320;
  const FittedVocab expected = fit_spm_vocab(train::training_texts({data}, kTemplate), fit);
  ASSERT_EQ(expected.pieces.size(), 320u);
  const GgufFile model = GgufFile::open(out + "/model.gguf");
  const auto tok = Tokenizer::from_gguf(model);
  EXPECT_EQ(tok->vocab().pieces, expected.pieces);
  EXPECT_EQ(tok->vocab().size(), 320);
  EXPECT_EQ(model.get_string("tokenizer.chat_template"), kTemplate);
  EXPECT_EQ(pieces_of(out + "/tokenizer.gguf"), expected.pieces);  // kept for --resume

  // Lossless on the corpus and on text it never saw (byte fallback), and shorter than characters.
  for (const std::string text : {"What is kettle?", "a sheltered port for ships [1]", "Unseen: naïve café \xF0\x9F\x98\x80 42"}) {
    const auto ids = tok->encode(text, /*add_special=*/false);
    EXPECT_EQ(tok->decode(ids), text);
  }
  // 320 pieces leave ~30 merges after the bytes and characters: the most frequent ones.
  const std::string frequent = "a sheltered port for ships";
  EXPECT_LT(tok->encode(frequent, false).size(), frequent.size());

  // The engine loads and runs it.
  const auto run = test::run_rpu({"run", out + "/model.gguf", "-p", "What is lamp?", "-n", "4", "--temp", "0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST(TrainFitVocabTest, ResumeOnOtherDataKeepsTheCheckpointsPieces) {
  const std::string tmpl = write("resume.jinja", kTemplate), out = test::temp_path("fit-resume");
  const auto first = test::run_rpu(train_args(glossary_data("stage1.jsonl", 200, 0), tmpl, out));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto stage1 = pieces_of(out + "/model.gguf");
  // A second stage on other text (fewer terms): refitting would give other pieces.
  const std::string other = glossary_data("stage2.jsonl", 60, 3);
  auto args = train_args(other, tmpl, out);
  *(std::find(args.begin(), args.end(), "--steps") + 1) = "8";
  args.insert(args.end(), {"--epochs", "8", "--resume"});
  const auto second = test::run_rpu(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("reading the fitted vocabulary"), std::string::npos) << second.err;
  EXPECT_EQ(pieces_of(out + "/model.gguf"), stage1);
  VocabFitOptions fit;
  fit.size = 320;
  EXPECT_NE(fit_spm_vocab(train::training_texts({other}, kTemplate), fit).pieces, stage1)
      << "the second stage's data fits the same pieces: the test does not show the vocabulary was kept";

  // Resuming that run with another vocabulary is refused before any step.
  const auto copied = test::run_rpu({"train", "--tokenizer-from", test::fixture("stories260K/stories260K.gguf"),
                                     "--chat-template", tmpl, "--data", other, "-o", out, "--resume"});
  EXPECT_EQ(copied.exit_code, 1);
  EXPECT_NE(copied.err.find("resume it with --fit-vocab"), std::string::npos) << copied.err;
}

TEST(TrainFitVocabTest, CombinationsThatCannotWorkAreClearErrors) {
  const std::string tmpl = write("err.jinja", kTemplate), data = glossary_data("err.jsonl", 20, 0);
  const auto none = test::run_rpu({"train", "--data", data, "-o", test::temp_path("err-none")});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("--tokenizer-from GGUF"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("--fit-vocab N"), std::string::npos) << none.err;

  auto small = train_args(data, tmpl, test::temp_path("err-small"));
  small[2] = "100";
  const auto too_small = test::run_rpu(small);
  EXPECT_EQ(too_small.exit_code, 1);
  EXPECT_NE(too_small.err.find("--fit-vocab 100: a fitted vocabulary has 259 to 65536 pieces"), std::string::npos)
      << too_small.err;

  // Chat data needs a template to render it (and to fit the vocabulary to the rendered text).
  const auto no_template = test::run_rpu({"train", "--fit-vocab", "300", "--data", data, "-o", test::temp_path("err-tmpl")});
  EXPECT_EQ(no_template.exit_code, 1);
  EXPECT_NE(no_template.err.find("chat template"), std::string::npos) << no_template.err;

  // finetune keeps its base model's vocabulary: the option does not exist there.
  const auto finetune = test::run_rpu({"finetune", test::fixture("stories260K/stories260K.gguf"), "--fit-vocab", "300",
                                       "--data", data, "-o", test::temp_path("err-ft")});
  EXPECT_NE(finetune.exit_code, 0);
  EXPECT_NE(finetune.err.find("--fit-vocab"), std::string::npos) << finetune.err;

  // A checkpoint trained with a copied vocabulary is not resumed with a fitted one.
  const std::string copied = test::temp_path("err-copied");
  const auto base = test::run_rpu({"train", "--tokenizer-from", test::fixture("stories260K/stories260K.gguf"),
                                   "--chat-template", tmpl, "--data", data, "-o", copied, "--embd", "32", "--layers", "1",
                                   "--heads", "2", "--kv-heads", "2", "--ff", "64", "--seq-len", "128", "--steps", "2"});
  ASSERT_EQ(base.exit_code, 0) << base.err;
  auto resume = train_args(data, tmpl, copied);
  resume.push_back("--resume");
  const auto mixed = test::run_rpu(resume);
  EXPECT_EQ(mixed.exit_code, 1);
  EXPECT_NE(mixed.err.find("no fitted vocabulary"), std::string::npos) << mixed.err;
}

}  // namespace
}  // namespace rpu
