// The rpu binary as a user runs it: golden output, and one clear line plus a non-zero exit
// for every kind of bad input.
#include <gtest/gtest.h>

#include "model/synth.h"
#include "test_util.h"

namespace rpu {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");

TEST(CliTest, RunPrintsTheReferenceText) {
  const auto r = test::run_rpu({"run", kModel, "-p", "Once upon a time", "--steps", "64", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, test::read_file(test::fixture("stories260K/golden/greedy_onceuponatime_n64.txt")));
  EXPECT_NE(r.err.find("generated: 60 tokens"), std::string::npos) << r.err;
}

TEST(CliTest, ReferenceKernelsCanBeForcedAndUnknownOnesAreRejected) {
  const auto forced = test::run_rpu({"run", kModel, "--steps", "256", "--temp", "0", "-t", "2"}, "RPU_KERNELS=ref");
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(forced.out, test::read_file(test::fixture("stories260K/golden/greedy_noprompt_n256.txt")));
  const auto unknown = test::run_rpu({"run", kModel, "-n", "8"}, "RPU_KERNELS=nosuch");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("kernel set 'nosuch'"), std::string::npos) << unknown.err;
}

// A compact KV cache reproduces the reference text too (its 64 tokens are far from any
// near-tie); a cache type rpu does not have is one clear line and exit code 1 or 2 (CLI11's
// validation), on every command that takes the flag.
TEST(CliTest, CacheTypesRunAndUnknownOnesAreRejected) {
  for (const char* type : {"f16", "q8_0"}) {
    const auto r = test::run_rpu({"run", kModel, "-p", "Once upon a time", "--steps", "64", "--temp", "0", "--cache-type", type});
    ASSERT_EQ(r.exit_code, 0) << type << r.err;
    EXPECT_EQ(r.out, test::read_file(test::fixture("stories260K/golden/greedy_onceuponatime_n64.txt"))) << type;
  }
  const std::vector<std::vector<std::string>> bad = {
      {"run", kModel, "-n", "4", "--cache-type", "q4_0"},
      {"chat", kModel, "--cache-type-k", "int8"},
      {"bench", kModel, "-p", "8", "-n", "8", "--cache-type-v", "f64"},
      {"perplexity", kModel, "-f", kModel, "--cache-type", "Q8_0"},
  };
  for (const auto& args : bad) {
    const auto r = test::run_rpu(args);
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_NE(r.err.find("--cache-type"), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("f32"), std::string::npos) << args[0] << ": " << r.err;  // names the choices
  }
}

TEST(CliTest, SeededSamplingReproduces) {
  const std::vector<std::string> args = {"run", kModel, "-p", "Lily", "-n", "40", "--temp", "1.0", "--seed", "42"};
  const auto a = test::run_rpu(args);
  const auto b = test::run_rpu(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  auto other = args;
  other.back() = "43";
  EXPECT_NE(test::run_rpu(other).out, a.out);
}

TEST(CliTest, InfoPrintsMetadataAndTensors) {
  const auto r = test::run_rpu({"info", kModel});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GGUF version: 3"), std::string::npos);
  EXPECT_NE(r.out.find("llama.embedding_length"), std::string::npos);
  EXPECT_NE(r.out.find("blk.4.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.out.find("heads 8 (kv 4)"), std::string::npos) << r.out;
}

void expect_clean_failure(const std::vector<std::string>& args, int code, const std::string& needle) {
  const auto r = test::run_rpu(args);
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  // One line, no stack trace or abort noise.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CliTest, BadFlagsGiveOneClearLine) {
  expect_clean_failure({"run", kModel, "--temp", "-1"}, 2, "--temp");
  expect_clean_failure({"run", kModel, "--top-p", "1.5"}, 2, "--top-p");
  expect_clean_failure({"run", kModel, "-n", "many"}, 2, "--n-predict");
  expect_clean_failure({"run", kModel, "--steps", "many"}, 2, "--steps");
  expect_clean_failure({"run", kModel, "-n", "4", "--steps", "8"}, 1, "-n and --steps");
  expect_clean_failure({"run", kModel, "-p", "x", "--system", "be brief"}, 1, "--system needs a chat template");
  expect_clean_failure({"run", kModel, "--threads", "0"}, 2, "--threads");
  expect_clean_failure({"run", kModel, "--no-such-flag"}, 2, "no-such-flag");
  expect_clean_failure({"info"}, 2, "model");  // (run without a model uses the built-in one)
  expect_clean_failure({"frobnicate"}, 2, "unknown command 'frobnicate'");
  expect_clean_failure({}, 2, "subcommand is required");
}

TEST(CliTest, BadFilesGiveOneClearLine) {
  expect_clean_failure({"run", "/nonexistent/model.gguf"}, 2, "/nonexistent/model.gguf");
  const std::string garbage = test::temp_path("garbage.gguf");
  test::write_file(garbage, "this is not a model");
  expect_clean_failure({"run", garbage}, 1, "not a GGUF file");
  expect_clean_failure({"info", garbage}, 1, "not a GGUF file");
  const std::string truncated = test::temp_path("truncated.gguf");
  test::write_file(truncated, test::read_file(kModel).substr(0, 5000));
  expect_clean_failure({"run", truncated}, 1, "truncated");
  expect_clean_failure({"run", test::fixture("vocab/ggml-vocab-llama-spm.gguf")}, 1, "tensor 'token_embd.weight' is missing");
}

TEST(CliTest, UnsupportedArchitectureIsNamed) {
  SynthSpec spec;
  GgufWriter writer = synth_model(spec);
  writer.set("general.architecture", GgufValue::str("mamba"));
  const std::string path = test::temp_path("mamba.gguf");
  writer.write(path);
  expect_clean_failure({"run", path}, 1, "architecture 'mamba' is not supported");
}

TEST(CliTest, PromptLongerThanContextIsAnError) {
  expect_clean_failure({"run", kModel, "-p", "Once upon a time there was a dog", "-c", "4"}, 1, "context");
  // Even when nothing is to be generated (llama2.c steps shorter than the prompt): never a silent
  // zero-token run with exit 0.
  expect_clean_failure({"run", kModel, "-p", "Once upon a time there was a dog", "-c", "4", "--steps", "2"}, 1,
                       "context");
}

// -n counts generated tokens, as in llama.cpp: the same text as the llama2.c-style --steps run
// of prompt + n positions, which the golden file holds.
TEST(CliTest, NCountsGeneratedTokens) {
  const auto r = test::run_rpu({"run", kModel, "-p", "Once upon a time", "-n", "60", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, test::read_file(test::fixture("stories260K/golden/greedy_onceuponatime_n64.txt")));
  EXPECT_NE(r.err.find("generated: 60 tokens"), std::string::npos) << r.err;
  // Without -n, generation runs to the end of the context (stories260K has no end token in practice).
  const auto open = test::run_rpu({"run", kModel, "-p", "Once upon a time", "-c", "40", "--temp", "0"});
  ASSERT_EQ(open.exit_code, 0) << open.err;
  EXPECT_NE(open.err.find("stop: length"), std::string::npos) << open.err;
}

}  // namespace
}  // namespace rpu
