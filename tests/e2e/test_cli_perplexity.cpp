// rpu perplexity on the stories260K fixture: llama-perplexity's output shape, a saved base and
// the KL divergence report against it, and one clear line with a non-zero exit for bad input.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/logprob_file.h"
#include "test_util.h"

namespace rpu {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");
const std::string kText = std::string(RPU_SOURCE_DIR) + "/tests/data/perplexity/stories.txt";

double final_ppl(const std::string& out) {
  const std::string marker = "Final estimate: PPL = ";
  const size_t at = out.find(marker);
  return at == std::string::npos ? -1.0 : std::stod(out.substr(at + marker.size()));
}

TEST(CliPerplexityTest, PrintsRunningEstimatesAndTheFinalPpl) {
  const auto r = test::run_rpu({"perplexity", kModel, "-f", kText, "-c", "128", "--chunks", "3", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("[1]", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(",[3]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[4]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" +/- "), std::string::npos) << r.out;
  const double ppl = final_ppl(r.out);
  EXPECT_GT(ppl, 1.0) << r.out;
  EXPECT_LT(ppl, 20.0) << r.out;
  EXPECT_NE(r.err.find("3 chunks of 128, scoring the last 63 tokens of each"), std::string::npos) << r.err;
}

TEST(CliPerplexityTest, SavesABaseAndReportsKlDivergenceAgainstIt) {
  const std::string base = test::temp_path("cli.logprobs");
  const auto saved = test::run_rpu({"perplexity", kModel, "-f", kText, "-c", "128", "--chunks", "2", "--kl-divergence-base", base});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  ASSERT_TRUE(std::filesystem::exists(base));
  EXPECT_EQ(std::filesystem::file_size(base), 48u + 2u * (63u * (8u + 2u * 512u) + 8u));
  const auto kl = test::run_rpu({"perplexity", kModel, "-f", kText, "--kl-divergence-base", base, "--kl-divergence"});
  ASSERT_EQ(kl.exit_code, 0) << kl.err;
  for (const char* line : {"chunk             PPL", "Mean PPL(Q)", "Mean PPL(base)", "Mean ln(PPL(Q)/PPL(base))", "Mean    KLD:",
                           "99.0%   KLD:", "Median  KLD:", "RMS Δp", "Same top p: 100.000"}) {
    EXPECT_NE(kl.out.find(line), std::string::npos) << line << "\n" << kl.out;
  }
}

struct BadCase {
  std::vector<std::string> args;
  std::string needle;
};

TEST(CliPerplexityTest, BadInputsGiveOneClearLine) {
  const std::string short_text = test::temp_path("short.txt");
  test::write_file(short_text, "Once upon a time there was a cat.\n");
  const std::string good_base = test::temp_path("good.logprobs");
  ASSERT_EQ(test::run_rpu({"perplexity", kModel, "-f", kText, "-c", "64", "--chunks", "2", "--kl-divergence-base", good_base}).exit_code, 0);
  const std::string bytes = test::read_file(good_base);
  const std::string truncated = test::temp_path("truncated.logprobs");
  test::write_file(truncated, bytes.substr(0, bytes.size() - 100));
  const std::string corrupt = test::temp_path("corrupt.logprobs");
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  test::write_file(corrupt, flipped);
  const std::string other_text = test::temp_path("other.txt");
  test::write_file(other_text, test::read_file(kText) + "The end.\n");
  const std::string other_vocab = test::temp_path("vocab1000.logprobs");
  {
    std::vector<int32_t> tokens(200, 5);
    LogProbWriter writer(other_vocab, {1000, 64, 1, tokens.size(), hash_tokens(tokens)});
    writer.append_chunk(std::vector<uint8_t>(31 * (8 + 2000)));
    writer.finish();
  }
  const std::vector<BadCase> cases = {
      {{"-f", test::temp_path("missing.txt")}, "cannot read the text file"},
      {{"-f", test::temp_path("")}, "cannot read the text file"},  // a directory
      {{"-f", short_text}, "needs at least 1024"},
      {{"-f", kText, "-c", "4096"}, "larger than the model's context (2048)"},
      {{"-f", kText, "--kl-divergence"}, "--kl-divergence needs --kl-divergence-base"},
      {{"-f", kText, "--kl-divergence", "--kl-divergence-base", test::temp_path("none.logprobs")}, "none.logprobs"},
      {{"-f", kText, "--kl-divergence", "--kl-divergence-base", truncated}, "truncated"},
      {{"-f", kText, "--kl-divergence", "--kl-divergence-base", corrupt}, "corrupt"},
      {{"-f", other_text, "--kl-divergence", "--kl-divergence-base", good_base}, "different text"},
      {{"-f", kText, "--kl-divergence", "--kl-divergence-base", other_vocab}, "vocabulary of 1000 tokens"},
      {{"-f", kText, "--kl-divergence", "--kl-divergence-base", good_base, "-c", "128"}, "context of 64 tokens, not 128"},
      {{"-f", kText, "--kl-divergence", "--kl-divergence-base", kModel}, "not an rpu base"},
  };
  for (const BadCase& c : cases) {
    std::vector<std::string> args = {"perplexity", kModel};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = test::run_rpu(args);
    EXPECT_NE(r.exit_code, 0) << c.needle;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.needle << ": " << r.err;
    EXPECT_EQ(r.err.find("rpu: error: "), 0u) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }
}

}  // namespace
}  // namespace rpu
