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
  const auto r = test::run_rpu({"run", "-p", "Question: Mia has 12 apples. She buys 7 more. How many apples does Mia have now?\nAnswer:",
                                "-n", "160", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("The answer is"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("12 + 7 = 19."), std::string::npos) << r.out;
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
