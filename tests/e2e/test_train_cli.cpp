// rpu train / rpu finetune end to end: loss falls on held-out data, a tiny model memorises a
// small set, LoRA changes the fixture model's behaviour on the trained pattern and its adapter
// equals the merged export, checkpoints resume, distillation runs with a teacher.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "test_util.h"
#include "train/gemm.h"

namespace rpu {
namespace {

std::string stories() { return test::fixture("stories260K/stories260K.gguf"); }

std::string write_lines(const std::string& name, const std::vector<std::string>& lines) {
  const std::string path = test::temp_path(name);
  std::ofstream out(path);
  for (const auto& l : lines) out << l << "\n";
  return path;
}

// Arithmetic sentences: a pattern the held-out split shares with the training split.
std::string arithmetic_data(int n) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    const int a = i % 17, b = (i * 7) % 13;
    lines.push_back("{\"text\": \"Tom has " + std::to_string(a) + " apples and buys " + std::to_string(b) +
                    " more. Now he has " + std::to_string(a + b) + " apples.\"}");
  }
  return write_lines("arith.jsonl", lines);
}

// Last line of stderr: "rpu: N steps, ... loss A -> B; held-out C -> D; wrote PATH".
std::vector<double> losses(const std::string& err) {
  std::vector<double> out;
  const size_t at = err.rfind("loss ");
  std::istringstream in(err.substr(at));
  std::string word;
  while (in >> word) {
    try {
      size_t used = 0;
      const double v = std::stod(word, &used);
      if (used > 0) out.push_back(v);
    } catch (...) {
    }
  }
  return out;  // train first, train last, held-out first, held-out last
}

TEST(TrainCliTest, FromScratchHeldOutLossFallsAndTheModelRuns) {
  const std::string out = test::temp_path("scratch");
  const auto r = test::run_rpu({"train", "--tokenizer-from", stories(), "--data", arithmetic_data(400), "-o", out, "--embd",
                                "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ff", "128", "--seq-len", "64",
                                "--batch", "8", "--epochs", "4", "--lr", "3e-3", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto l = losses(r.err);
  ASSERT_EQ(l.size(), 4u) << r.err;
  EXPECT_LT(l[1], 0.5 * l[0]);
  EXPECT_LT(l[3], 0.5 * l[2]) << "held-out loss did not fall";
  const auto run = test::run_rpu({"run", out + "/model.gguf", "-p", "Tom has 3 apples and buys", "-n", "60", "--temp", "0"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("apples."), std::string::npos) << run.out;  // it learned the sentence shape
  // The loss curve: a CSV row per step and an SVG with a polyline.
  EXPECT_NE(test::read_file(out + "/loss.svg").find("<polyline"), std::string::npos);
  const std::string csv = test::read_file(out + "/loss.csv");
  EXPECT_GT(std::count(csv.begin(), csv.end(), '\n'), 50);
}

TEST(TrainCliTest, TinyModelMemorisesASmallSet) {
  std::vector<std::string> lines;
  for (int i = 0; i < 4; ++i) lines.push_back("{\"text\": \"The cat number " + std::to_string(i) + " sat on the red mat.\"}");
  const std::string out = test::temp_path("memorise");
  const auto r = test::run_rpu({"train", "--tokenizer-from", stories(), "--data", write_lines("tiny.jsonl", lines), "-o", out,
                                "--embd", "64", "--layers", "2", "--heads", "4", "--ff", "128", "--seq-len", "32", "--batch",
                                "4", "--epochs", "300", "--lr", "5e-3", "--validation", "0", "--warmup", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(losses(r.err)[1], 0.1) << r.err;
}

TEST(TrainCliTest, LoraChangesTheFixtureModelAndEqualsTheMergedExport) {
  // Teach stories260K that Lily always goes to the moon.
  std::vector<std::string> lines;
  for (int i = 0; i < 64; ++i) lines.push_back("{\"text\": \"Lily went to the moon. The moon was big and white.\"}");
  const std::string data = write_lines("moon.jsonl", lines), out = test::temp_path("lora");
  const auto r = test::run_rpu({"finetune", stories(), "--data", data, "-o", out, "--lora-rank", "8", "--lora-alpha", "16",
                                "--lora-targets", "q,k,v,o,gate,up,down", "--seq-len", "64", "--batch", "8", "--epochs", "6",
                                "--lr", "1e-2", "--validation", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string adapter = out + "/adapter.gguf";
  const auto base = test::run_rpu({"run", stories(), "-p", "Lily went to the", "-n", "24", "--temp", "0"});
  const auto tuned = test::run_rpu({"run", stories(), "--lora", adapter, "-p", "Lily went to the", "-n", "24", "--temp", "0"});
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  EXPECT_EQ(base.out.find("moon"), std::string::npos) << base.out;
  EXPECT_NE(tuned.out.find("Lily went to the moon"), std::string::npos) << tuned.out;
  const std::string merged = out + "/merged.gguf";
  const auto exported = test::run_rpu({"export", stories(), merged, "--merge", adapter});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const auto from_merged = test::run_rpu({"run", merged, "-p", "Lily went to the", "-n", "24", "--temp", "0"});
  EXPECT_EQ(from_merged.out, tuned.out);
}

TEST(TrainCliTest, ResumesFromItsCheckpointAndDistillsFromATeacher) {
  const std::string data = arithmetic_data(64), out = test::temp_path("resume");
  const std::vector<std::string> common = {"finetune", stories(), "--data", data, "-o", out, "--seq-len", "64",
                                           "--batch", "4", "--teacher", stories(), "--distill-weight", "0.5"};
  auto first = common;
  first.insert(first.end(), {"--steps", "3"});
  const auto a = test::run_rpu(first);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto second = common;
  second.insert(second.end(), {"--steps", "6", "--resume"});
  const auto b = test::run_rpu(second);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.err.find(" 3 steps"), std::string::npos) << b.err;  // steps 4..6 only
  // The CSV keeps the first run's rows and appends the second's.
  const std::string csv = test::read_file(out + "/loss.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 7) << csv;
}

// A run stopped by --minutes checkpoints the step it reached, so --resume with the same flags
// goes on from there (here: one step a run, the budget being far less than a step); a finished
// run resumed with the same flags is a clear error, not a silent rewrite of its model.
TEST(TrainCliTest, ResumeGoesOnAfterATimeLimitAndRefusesAFinishedRun) {
  const std::string data = arithmetic_data(64), out = test::temp_path("resume-minutes");
  const std::vector<std::string> common = {"finetune", stories(), "--data", data, "-o", out, "--seq-len", "64",
                                           "--batch", "4", "--validation", "0", "--steps", "5"};
  auto timed = common;
  timed.insert(timed.end(), {"--minutes", "0.000001"});
  const auto a = test::run_rpu(timed);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  timed.push_back("--resume");
  const auto b = test::run_rpu(timed);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  std::string csv = test::read_file(out + "/loss.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3) << csv;  // header, step 1, step 2
  EXPECT_NE(csv.find("\n2,"), std::string::npos) << csv;
  auto finish = common;
  finish.push_back("--resume");
  const auto c = test::run_rpu(finish);  // steps 3..5
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const std::string adapter = test::read_file(out + "/adapter.gguf");
  const auto again = test::run_rpu(finish);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("nothing left to train (raise --steps or --epochs"), std::string::npos) << again.err;
  EXPECT_EQ(test::read_file(out + "/adapter.gguf"), adapter);  // untouched
}

// The products' precision: --precision wins over RPU_TRAIN_GEMM, the start-up line names the
// one used, bad values of either are clear errors before any work, and bf16 (where the CPU has
// AVX512-BF16; refused with a clear error where not) lands near f32's loss.
TEST(TrainCliTest, PrecisionFlagAndEnvironment) {
  const std::string data = arithmetic_data(200);
  auto args = [&](const std::string& out, const std::string& precision) {
    std::vector<std::string> a = {"train", "--tokenizer-from", stories(), "--data", data, "-o", test::temp_path(out),
                                  "--embd", "32", "--layers", "1", "--heads", "2", "--kv-heads", "2", "--ff", "64",
                                  "--seq-len", "64", "--batch", "4", "--steps", "30", "--lr", "3e-3", "--threads", "2"};
    if (!precision.empty()) a.insert(a.end(), {"--precision", precision});
    return a;
  };
  const auto bad_flag = test::run_rpu(args("p-bad", "fp8"));
  EXPECT_EQ(bad_flag.exit_code, 1);
  EXPECT_NE(bad_flag.err.find("--precision: unknown training precision 'fp8'"), std::string::npos) << bad_flag.err;
  const auto bad_env = test::run_rpu(args("p-env", ""), "RPU_TRAIN_GEMM=half");
  EXPECT_EQ(bad_env.exit_code, 1);
  EXPECT_NE(bad_env.err.find("RPU_TRAIN_GEMM: unknown training precision 'half'"), std::string::npos) << bad_env.err;
  const auto f32 = test::run_rpu(args("p-f32", "f32"), "RPU_TRAIN_GEMM=bf16");  // the flag wins
  ASSERT_EQ(f32.exit_code, 0) << f32.err;
  EXPECT_NE(f32.err.find("f32 products"), std::string::npos) << f32.err;
  const auto bf16 = test::run_rpu(args("p-bf16", "bf16"));
  if (!train::bf16_gemm_supported()) {
    EXPECT_EQ(bf16.exit_code, 1);
    EXPECT_NE(bf16.err.find("AVX512-BF16"), std::string::npos) << bf16.err;
    return;
  }
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  EXPECT_NE(bf16.err.find("bf16 products"), std::string::npos) << bf16.err;
  const auto l32 = losses(f32.err), l16 = losses(bf16.err);
  ASSERT_EQ(l32.size(), 4u) << f32.err;
  ASSERT_EQ(l16.size(), 4u) << bf16.err;
  EXPECT_LT(l16[3], 0.7 * l16[2]) << "bf16 held-out loss did not fall";
  EXPECT_NEAR(l16[3], l32[3], 0.05 * l32[3]) << "held-out loss f32 " << l32[3] << ", bf16 " << l16[3];
}

TEST(TrainCliTest, BadDataIsAClearError) {
  const std::string bad = write_lines("bad.jsonl", {"{\"text\": \"fine\"}", "{not json"});
  const auto r = test::run_rpu({"train", "--tokenizer-from", stories(), "--data", bad, "-o", test::temp_path("bad")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
  const auto chat = test::run_rpu({"train", "--tokenizer-from", stories(), "--data",
                                   write_lines("chat.jsonl", {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"}),
                                   "-o", test::temp_path("chat")});
  EXPECT_EQ(chat.exit_code, 1);
  EXPECT_NE(chat.err.find("chat template"), std::string::npos) << chat.err;
}

}  // namespace
}  // namespace rpu
