// The built-in specialist (models/rpu-arith.gguf, embedded in the binary): `rpu run` and
// `rpu serve` work with no model argument, and the model answers in its trained format.
#include <gtest/gtest.h>

#include <filesystem>

#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

bool built_in() { return std::filesystem::exists(std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf"); }

TEST(BuiltinModelTest, RunWithoutAModelAnswersAnArithmeticQuestion) {
  if (!built_in()) GTEST_SKIP() << "no models/rpu-arith.gguf in this checkout";
  // The README's first command: its documented answer.
  const auto r = test::run_rpu({"run", "-p",
                                "Question: Leo has 45 coins. He loses 18. He finds 26 more. How many coins does Leo have now?\nAnswer:",
                                "-n", "160", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("45 - 18 = 27. 27 + 26 = 53. The answer is 53."), std::string::npos) << r.out;
}

TEST(BuiltinModelTest, ServeWithoutAModelUsesIt) {
  if (!built_in() || !test::node_peers_installed()) GTEST_SKIP() << "no built-in model or no node peers";
  test::ServerProcess server({"--parallel", "2", "--threads", "2"});
  const auto r = test::run_node("chat_once.mjs", {server.url(), "rpu-arith", "Leo has 30 coins. He loses 8. How many coins does Leo have now?"});
  ASSERT_EQ(r.exit_code, 0) << r.output << server.log();
  EXPECT_NE(r.output.find("The answer is"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace rpu
