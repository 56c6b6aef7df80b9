// rpu run / rpu chat --reason on the built-in model: the strategy's answer on stdout, its votes
// and confidence on stderr, the judge verifier with a second model, and one clear line for
// every bad value.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace rpu {
namespace {

const std::string kPrompt =
    "Question: Leo has 45 coins. He loses 18. He finds 26 more. How many coins does Leo have now?\nAnswer:";
const std::string kModel = std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf";

// The JSON after "reasoning: " on stderr.
nlohmann::json reasoning_of(const std::string& err) {
  const size_t at = err.find("reasoning: ");
  if (at == std::string::npos) return nullptr;
  const size_t end = err.find_first_of(";\n", at);
  return nlohmann::json::parse(err.substr(at + 11, end - at - 11));
}

TEST(CliReasonTest, RunPrintsTheChosenAnswerAndItsVotes) {
  const auto r = test::run_rpu({"run", "-p", kPrompt, "-n", "160", "--reason", "sc:4", "--seed", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = reasoning_of(r.err);
  ASSERT_TRUE(info.is_object()) << r.err;
  EXPECT_EQ(info["strategy"], "self_consistency");
  EXPECT_EQ(info["samples"], 4);
  const std::string answer = info["answer"];
  EXPECT_NE(r.out.find("The answer is " + answer), std::string::npos) << r.out;
  EXPECT_DOUBLE_EQ(info["confidence"].get<double>(), info["votes"][answer].get<double>() / 4);
  // The same seed gives the same samples, so the same votes.
  const auto again = test::run_rpu({"run", "-p", kPrompt, "-n", "160", "--reason", "sc:4", "--seed", "3"});
  EXPECT_EQ(reasoning_of(again.err)["votes"], info["votes"]);
}

TEST(CliReasonTest, AdaptiveAtTemperatureZeroStopsAfterOneRound) {
  const auto r = test::run_rpu(
      {"run", "-p", kPrompt, "-n", "160", "--reason", R"({"strategy":"adaptive","n":12,"round":3,"temperature":0})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = reasoning_of(r.err);
  EXPECT_EQ(info["samples"], 3) << r.err;
  EXPECT_EQ(info["confidence"], 1.0);
  const auto greedy = test::run_rpu({"run", "-p", kPrompt, "-n", "160", "--temp", "0"});
  EXPECT_NE(greedy.out.find(r.out.substr(0, r.out.size() - 1)), std::string::npos) << greedy.out << "\n" << r.out;
}

TEST(CliReasonTest, JudgeVerifierScoresWithASecondModel) {
  const std::string spec = R"({"strategy":"best_of_n","n":2,"verifier":{"type":"judge"}})";
  const auto r = test::run_rpu({"run", "-p", kPrompt, "-n", "160", "--reason", spec, "--judge", kModel});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = reasoning_of(r.err);
  EXPECT_EQ(info["verifier"], "judge") << r.err;
  EXPECT_GE(info["score"].get<double>(), 0.0);
  EXPECT_LE(info["score"].get<double>(), 1.0);
  const auto without = test::run_rpu({"run", "-p", kPrompt, "--reason", spec});
  EXPECT_EQ(without.exit_code, 1);
  EXPECT_NE(without.err.find("needs a judge model"), std::string::npos) << without.err;
}

// A judge that cannot answer a chat (an encoder) is refused when it is loaded, naming --judge,
// by run, chat and serve alike: a server never starts with a judge every request would fail on.
TEST(CliReasonTest, AnEmbeddingModelAsTheJudgeIsRefusedAtStartUp) {
  const std::string encoder = test::temp_path("judge_encoder") + ".gguf";
  ASSERT_EQ(test::run_rpu({"synth", encoder, "--like", "bge-tiny", "--type", "F32"}).exit_code, 0);
  const std::string spec = R"({"strategy":"best_of_n","n":2,"verifier":{"type":"judge"}})";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "-p", kPrompt, "--reason", spec, "--judge", encoder},
        std::vector<std::string>{"chat", "--reason", spec, "--judge", encoder},
        std::vector<std::string>{"serve", "--port", "0", "--judge", encoder}}) {
    const auto r = test::run_rpu(args, "", "Leo has 45 coins. How many?\n");
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("--judge " + encoder + ": "), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("is an embedding model (bert); the judge must answer chats"), std::string::npos)
        << args[0] << ": " << r.err;
  }
  std::remove(encoder.c_str());
}

TEST(CliReasonTest, ChatAnswersEachTurnWithTheStrategy) {
  const auto r = test::run_rpu({"chat", "--reason", "asc:8", "-n", "80"}, "",
                               "Mia has 12 apples. She buys 7 more. How many apples does Mia have now?\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = reasoning_of(r.err);
  ASSERT_TRUE(info.is_object()) << r.err;
  EXPECT_EQ(info["strategy"], "adaptive");
  EXPECT_LE(info["samples"].get<int>(), 8);
}

TEST(CliReasonTest, BadValuesAreOneClearLine) {
  for (const char* bad : {"foo", "sc:1000", R"({"strategy":"tree"})", "{not json",
                                 R"({"strategy":"best_of_n","verifier":{"type":"command","command":["/no/such"]}})"}) {
    const auto r = test::run_rpu({"run", "-p", kPrompt, "--reason", bad});
    EXPECT_EQ(r.exit_code, 1) << bad;
    EXPECT_EQ(r.err.rfind("rpu: error: --reason", 0), 0u) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace rpu
