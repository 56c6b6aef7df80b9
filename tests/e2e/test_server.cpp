// rpu serve end to end: a real server process on a free port, driven by the official OpenAI
// client and raw HTTP (tests/peers/server/scenarios.mjs). The model is the `tiny` synth preset:
// random weights with SmolLM2's real tokenizer and chat template.
#include <gtest/gtest.h>

#include <memory>

#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

constexpr const char* kApiKey = "test-key";

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_path_ = new std::string(test::temp_path("tiny-server.gguf"));
    const auto synth = test::run_rpu({"synth", *model_path_, "--like", "tiny", "--type", "Q8_0", "--seed", "5"});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
    server_ = new test::ServerProcess({*model_path_, "--alias", "tiny", "--parallel", "8", "--ctx", "1024", "--threads",
                                       "2", "--api-key", kApiKey, "--max-body", "1048576", "--strict-model"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete model_path_;
  }
  void run(const std::string& scenario, const test::ServerProcess& server) {
    if (!test::node_peers_installed()) GTEST_SKIP() << "tests/peers/node_modules missing (run scripts/install-deps.sh)";
    const test::NodeResult r = test::run_node("scenarios.mjs", {scenario, server.url(), kApiKey, "tiny"});
    EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- server log ---\n" << server.log();
    EXPECT_TRUE(server.running()) << server.log();
  }
  static std::string* model_path_;
  static test::ServerProcess* server_;
};
std::string* ServerTest::model_path_ = nullptr;
test::ServerProcess* ServerTest::server_ = nullptr;

TEST_F(ServerTest, ListsItsModel) { run("models", *server_); }
TEST_F(ServerTest, ChatCompletionsStreamedAndNot) { run("chat", *server_); }
TEST_F(ServerTest, CompletionsStreamedEchoedAndWithLogprobs) { run("completions", *server_); }
TEST_F(ServerTest, SeveralSamplesShareOnePrompt) { run("samples", *server_); }
TEST_F(ServerTest, ChatLogprobs) { run("logprobs", *server_); }
TEST_F(ServerTest, JsonSchemaOutputParsesAndValidates) { run("jsonSchema", *server_); }
TEST_F(ServerTest, ToolCallRoundTripWithAGenericTemplate) { run("tools", *server_); }
TEST_F(ServerTest, Embeddings) { run("embeddings", *server_); }
TEST_F(ServerTest, TokenizeDetokenizeAndApplyTemplateAsLlamaServer) { run("tokenize", *server_); }
TEST_F(ServerTest, ThirtyTwoConcurrentClientsMatchRequestsServedAlone) { run("concurrency", *server_); }
TEST_F(ServerTest, DisconnectedClientsFreeTheirSequences) { run("disconnect", *server_); }
TEST_F(ServerTest, BadRequestsGetOpenAIErrorsAndTheServerKeepsServing) { run("errors", *server_); }
TEST_F(ServerTest, OpenAICompatibilityOfRolesPartsSamplingFieldsAndErrorCodes) { run("compat", *server_); }

TEST_F(ServerTest, ToolCallRoundTripWithQwenTemplate) {
  // The model's own tool-call format (Hermes <tool_call> blocks) from a real template.
  test::ServerProcess qwen({*model_path_, "--alias", "tiny", "--parallel", "2", "--ctx", "1024", "--threads", "2",
                            "--api-key", kApiKey, "--chat-template",
                            test::fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja")});
  run("tools", qwen);
}

TEST_F(ServerTest, WithoutStrictModelOtherModelNamesAreAnswered) {
  test::ServerProcess lenient({*model_path_, "--alias", "tiny", "--parallel", "2", "--ctx", "1024", "--threads", "2",
                               "--api-key", kApiKey});
  run("anyModelName", lenient);
}

TEST_F(ServerTest, FullQueueAnswers429) {
  test::ServerProcess small({*model_path_, "--alias", "tiny", "--parallel", "1", "--queue", "1", "--ctx", "512",
                             "--threads", "2", "--api-key", kApiKey});
  run("queueFull", small);
}

TEST(ServeCommandTest, RefusesBadStartupArguments) {
  const auto missing = test::run_rpu({"serve", "/nonexistent/model.gguf"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("model.gguf"), std::string::npos) << missing.err;
  const auto bad_port = test::run_rpu({"serve", test::fixture("stories260K/stories260K.gguf"), "--port", "70000"});
  EXPECT_EQ(bad_port.exit_code, 2) << bad_port.err;
}

}  // namespace
}  // namespace rpu
