// Reasoning strategies through `rpu serve` on the built-in model, driven by the official OpenAI
// client (tests/peers/server/reasoning.mjs): the request extension and the model-name form.
#include <gtest/gtest.h>

#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

TEST(ReasoningServerTest, StrategiesThroughTheOpenAIClient) {
  if (!test::node_peers_installed()) GTEST_SKIP() << "tests/peers/node_modules missing (run scripts/install-deps.sh)";
  test::ServerProcess server({"--parallel", "8", "--threads", "2"});
  const test::NodeResult r = test::run_node("reasoning.mjs", {server.url(), "rpu-arith"});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- server log ---\n" << server.log();
  EXPECT_TRUE(server.running()) << server.log();
}

// rpu serve --judge: the judge verifier reaches the second model (here the built-in model's
// own file: this checks the wiring, not the judge's accuracy).
TEST(ReasoningServerTest, JudgeVerifierWithServeJudge) {
  if (!test::node_peers_installed()) GTEST_SKIP() << "tests/peers/node_modules missing (run scripts/install-deps.sh)";
  test::ServerProcess server(
      {"--parallel", "4", "--threads", "2", "--judge", std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf"});
  const test::NodeResult r = test::run_node("reasoning.mjs", {server.url(), "rpu-arith", "judge"});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- server log ---\n" << server.log();
  EXPECT_TRUE(server.running()) << server.log();
}

}  // namespace
}  // namespace rpu
