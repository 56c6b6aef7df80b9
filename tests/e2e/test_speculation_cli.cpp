// Speculative decoding as a user runs it: `rpu run` and `rpu serve` with --lookup or --draft
// reproduce the reference implementation's golden text (greedy output is unchanged), report
// their guesses (stderr, /metrics), and refuse a draft model that cannot serve.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");
const std::string kGolden = "stories260K/golden/greedy_onceuponatime_n256.txt";

TEST(SpeculationCliTest, RunWithGuessesPrintsTheReferenceText) {
  const std::string golden = test::read_file(test::fixture(kGolden));
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"--lookup"}, {"--draft", kModel, "--draft-max", "5"}, {"--lookup", "--lookup-ngram-min", "1", "--model-draft", kModel}}) {
    std::vector<std::string> args{"run", kModel, "-p", "Once upon a time", "--steps", "256", "--temp", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto r = test::run_rpu(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, golden) << flags.front();
    EXPECT_NE(r.err.find("speculation: "), std::string::npos) << r.err;
  }
}

TEST(SpeculationCliTest, BadDraftsAreRefusedWithOneLine) {
  const auto missing = test::run_rpu({"run", kModel, "-n", "4", "--draft", "/nonexistent/draft.gguf"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("draft"), std::string::npos) << missing.err;
  const auto not_gguf =
      test::run_rpu({"run", kModel, "-n", "4", "--draft", test::fixture("stories260K/tok512.bin")});
  EXPECT_EQ(not_gguf.exit_code, 1) << not_gguf.err;
  const auto range = test::run_rpu({"run", kModel, "-n", "4", "--lookup", "--draft-max", "0"});
  EXPECT_NE(range.exit_code, 0) << range.err;
  const auto sizes =
      test::run_rpu({"run", kModel, "-n", "4", "--lookup", "--lookup-ngram-min", "5", "--lookup-ngram-max", "2"});
  EXPECT_NE(sizes.exit_code, 0);
  EXPECT_NE(sizes.err.find("n-gram"), std::string::npos) << sizes.err;
}

TEST(SpeculationCliTest, ServeWithGuessesAnswersAsWithoutAndCountsThem) {
  test::ServerProcess server({kModel, "--alias", "stories", "--parallel", "2", "--lookup", "--draft", kModel});
  httplib::Client client(server.url());
  client.set_read_timeout(120, 0);
  const nlohmann::json body = {{"model", "stories"}, {"prompt", "Once upon a time"}, {"temperature", 0},
                               {"max_tokens", 252}, {"echo", true}};
  const auto res = client.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>() + "\n", test::read_file(test::fixture(kGolden)));
  // A request with logprobs decodes one token a step, with the same text.
  nlohmann::json with_logprobs = body;
  with_logprobs["logprobs"] = 1;
  const auto lp = client.Post("/v1/completions", with_logprobs.dump(), "application/json");
  ASSERT_TRUE(lp);
  ASSERT_EQ(lp->status, 200) << lp->body;
  EXPECT_EQ(nlohmann::json::parse(lp->body)["choices"][0]["text"], j["choices"][0]["text"]);
  const auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  const auto value = [&](const std::string& name) {
    const size_t at = metrics->body.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(metrics->body.substr(at + name.size() + 2));
  };
  const double drafted = value("rpu_draft_tokens_total"), accepted = value("rpu_draft_tokens_accepted_total");
  EXPECT_GT(drafted, 0) << metrics->body;
  EXPECT_GT(accepted, 0) << metrics->body;
  EXPECT_LE(accepted, drafted);
}

}  // namespace
}  // namespace rpu
