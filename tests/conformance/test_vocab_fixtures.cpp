// llama.cpp's tokenizer conformance vectors (../shared/fixtures/vocab): for each vocab-only
// GGUF, every test string must encode (no BOS/EOS, special tokens as plain text) to exactly
// the ids the reference tokenizer produced. Every mismatching case is reported.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <sstream>

#include "io/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

std::vector<std::string> split_cases(const std::string& inp) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t start = 0;
  for (size_t pos; (pos = inp.find(sep, start)) != std::string::npos; start = pos + sep.size()) {
    cases.push_back(inp.substr(start, pos - start));
  }
  return cases;  // the file ends with a separator, so nothing follows the last case
}

std::vector<std::vector<int32_t>> parse_ids(const std::string& out) {
  std::vector<std::vector<int32_t>> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<int32_t> ids;
    for (int32_t id; words >> id;) ids.push_back(id);
    lines.push_back(ids);
  }
  return lines;
}

std::string show(const std::vector<int32_t>& ids) { return fmt::format("[{}]", fmt::join(ids, " ")); }

class VocabFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabFixture, EveryCaseMatchesReferenceIds) {
  const std::string base = test::fixture("vocab/ggml-vocab-" + GetParam() + ".gguf");
  const auto cases = split_cases(test::read_file(base + ".inp"));
  const auto expected = parse_ids(test::read_file(base + ".out"));
  ASSERT_GE(cases.size(), 40u);
  ASSERT_EQ(cases.size(), expected.size()) << "test strings vs expected lines";

  const GgufFile file = GgufFile::open(base);
  const auto tokenizer = Tokenizer::from_gguf(file);
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto ids = tokenizer->encode(cases[i], /*add_special=*/false, /*parse_special=*/false);
    if (ids == expected[i]) {
      ++passed;
    } else {
      ADD_FAILURE() << GetParam() << " case " << i << " text '" << cases[i] << "'\n  expected " << show(expected[i])
                    << "\n  got      " << show(ids);
    }
  }
  std::printf("[ vocab    ] %s: %zu/%zu cases exact\n", GetParam().c_str(), passed, cases.size());
}

INSTANTIATE_TEST_SUITE_P(Gguf, VocabFixture,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "falcon", "mpt", "starcoder", "refact",
                                           "deepseek-coder", "deepseek-llm", "dbrx", "bert-bge"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

}  // namespace
}  // namespace rpu
