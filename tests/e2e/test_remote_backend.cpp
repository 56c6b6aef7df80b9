// RemoteBackend against a real `rpu serve` process over HTTP: the same calls through the
// remote and through an in-process LocalBackend on the same model file give the same
// results (text, finish reasons, usage, log-probabilities, tool calls, embeddings, the
// reasoning extension), streams arrive as events, and upstream faults become ApiErrors.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "engine/scheduler.h"
#include "model/model.h"
#include "pipeline/local_backend.h"
#include "pipeline/remote_backend.h"
#include "server_process.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

const std::string kModel = std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf";

class RemoteBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new test::ServerProcess({kModel, "--alias", "arith", "--parallel", "4", "--threads", "1", "--strict-model"});
    model_ = Model::load(kModel).release();
    tokenizer_ = Tokenizer::from_gguf(model_->file()).release();
    SchedulerOptions options;
    options.n_seq = 4;
    options.n_ctx = model_->config().n_ctx_train;
    scheduler_ = new Scheduler(*model_, *tokenizer_, options, nullptr);
    local_ = new LocalBackend(*model_, *tokenizer_, *scheduler_, {"arith", ""});
  }
  static void TearDownTestSuite() {
    delete local_;
    delete scheduler_;
    delete tokenizer_;
    delete model_;
    delete server_;
  }
  static RemoteBackend remote(double first_byte_timeout = 60) {
    RemoteBackendOptions o;
    o.base_url = server_->url() + "/v1";
    o.model = "arith";
    o.first_byte_timeout_s = first_byte_timeout;
    return RemoteBackend(o);
  }
  static ChatRequest question(const std::string& text) {
    ChatRequest r;
    r.model = "arith";
    r.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}});
    r.max_tokens = 60;
    r.sampling.temperature = 0;
    r.sampling.top_k = 0;
    r.sampling.min_p = 0;
    r.sampling.top_p = 1;
    r.has_seed = true;
    return r;
  }
  static test::ServerProcess* server_;
  static Model* model_;
  static Tokenizer* tokenizer_;
  static Scheduler* scheduler_;
  static LocalBackend* local_;
};
test::ServerProcess* RemoteBackendTest::server_ = nullptr;
Model* RemoteBackendTest::model_ = nullptr;
Tokenizer* RemoteBackendTest::tokenizer_ = nullptr;
Scheduler* RemoteBackendTest::scheduler_ = nullptr;
LocalBackend* RemoteBackendTest::local_ = nullptr;

TEST_F(RemoteBackendTest, GreedyChatEqualsTheLocalBackendAndStreams) {
  RemoteBackend rb = remote();
  const ChatRequest r = question("Mia has 12 apples. She buys 7 more. How many apples does Mia have now?");
  int events = 0;
  const CallResult far = run_chat(rb, r, [&](const ChatEvent&) { ++events; });
  const CallResult near = run_chat(*local_, r);
  ASSERT_EQ(far.choices.size(), 1u);
  EXPECT_EQ(far.choices[0].text, near.choices[0].text);
  EXPECT_EQ(far.choices[0].finish_reason, near.choices[0].finish_reason);
  EXPECT_EQ(far.usage.prompt_tokens, near.usage.prompt_tokens);
  EXPECT_EQ(far.usage.completion_tokens, near.usage.completion_tokens);
  EXPECT_GT(events, 3) << "the answer arrives as a stream of events";
}

TEST_F(RemoteBackendTest, SeededSamplesAndLogprobsEqualTheLocalBackend) {
  RemoteBackend rb = remote();
  ChatRequest r = question("Tom has 30 cards. He loses 4. How many cards does Tom have now?");
  r.n = 3;
  r.sampling.temperature = 0.9f;
  r.sampling.seed = 42;
  r.logprobs = true;
  r.top_logprobs = 2;
  const CallResult far = run_chat(rb, r);
  const CallResult near = run_chat(*local_, r);
  ASSERT_EQ(far.choices.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(far.choices[i].text, near.choices[i].text) << i;
    ASSERT_EQ(far.choices[i].logprobs.size(), near.choices[i].logprobs.size()) << i;
    for (size_t t = 0; t < near.choices[i].logprobs.size(); ++t) {
      EXPECT_EQ(far.choices[i].logprobs[t].chosen.bytes, near.choices[i].logprobs[t].chosen.bytes);
      EXPECT_NEAR(far.choices[i].logprobs[t].chosen.logprob, near.choices[i].logprobs[t].chosen.logprob, 1e-4);
      EXPECT_EQ(far.choices[i].logprobs[t].top.size(), 2u);
    }
  }
}

TEST_F(RemoteBackendTest, CompletionsEchoAndForcedToolCallsMatch) {
  RemoteBackend rb = remote();
  CompletionRequest c;
  c.model = "arith";
  c.prompts.push_back({"Question: Ana has 9 pens. She finds 3 more. How many pens does Ana have now?\nAnswer:", {}, false});
  c.max_tokens = 40;
  c.sampling.temperature = 0;
  c.has_seed = true;
  c.echo = true;
  c.logprobs = 1;  // the prompt scored too: its entries lead the choice's, and are no completion tokens
  c.n = 2;
  const CallResult far = run_completion(rb, c);
  const CallResult near = run_completion(*local_, c);
  ASSERT_EQ(far.choices.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(far.choices.at(i).text, near.choices.at(i).text);
    EXPECT_EQ(far.choices[i].text.rfind("Question: Ana", 0), 0u) << "echo";
    EXPECT_EQ(far.choices[i].logprobs.size(), near.choices[i].logprobs.size());
  }
  // Greedy: the two choices are the same text, so each gets half of the call's completion tokens
  // (the usage chunk only settles the total: counting the prompt's entries gave the first choice
  // them all and left the last with none).
  EXPECT_EQ(far.choices[0].completion_tokens, far.choices[1].completion_tokens);
  EXPECT_EQ(far.choices[0].completion_tokens + far.choices[1].completion_tokens, near.usage.completion_tokens);
  EXPECT_EQ(far.usage.completion_tokens, near.usage.completion_tokens);

  ChatRequest r = question("Find the weather in Paris.");
  r.tools = nlohmann::ordered_json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12}},"required":["city"]}}}])");
  r.tool_choice = "required";
  r.max_tokens = 400;  // a 512-token vocabulary spells the call out in short pieces
  const CallResult far_tools = run_chat(rb, r);
  const CallResult near_tools = run_chat(*local_, r);
  // Whether the call completes within the context depends on the model; remote and local agree.
  EXPECT_EQ(far_tools.choices.at(0).finish_reason, near_tools.choices.at(0).finish_reason);
  EXPECT_EQ(far_tools.choices[0].text, near_tools.choices[0].text);
  ASSERT_EQ(far_tools.choices[0].tool_calls.is_array(), near_tools.choices[0].tool_calls.is_array());
  if (near_tools.choices[0].tool_calls.is_array()) {
    ASSERT_EQ(far_tools.choices[0].tool_calls.size(), near_tools.choices[0].tool_calls.size());
    EXPECT_EQ(far_tools.choices[0].tool_calls[0]["function"], near_tools.choices[0].tool_calls[0]["function"]);
  }
}

TEST_F(RemoteBackendTest, EmbeddingsAndReasoningExtensionComeThrough) {
  RemoteBackend rb = remote();
  EmbeddingRequest e;
  e.model = "arith";
  e.inputs.push_back({"twelve apples", {}, false});
  const EmbeddingResult far = rb.embed(e);
  const EmbeddingResult near = local_->embed(e);
  ASSERT_EQ(far.embeddings.size(), 1u);
  ASSERT_EQ(far.embeddings[0].size(), near.embeddings[0].size());
  for (size_t i = 0; i < near.embeddings[0].size(); ++i) EXPECT_NEAR(far.embeddings[0][i], near.embeddings[0][i], 1e-5);
  EXPECT_EQ(far.prompt_tokens, near.prompt_tokens);

  ChatRequest r = question("Leo has 45 coins. He loses 18. How many coins does Leo have now?");
  r.reasoning = {{"strategy", "self_consistency"}, {"n", 3}};
  const CallResult reasoned = run_chat(rb, r);
  ASSERT_EQ(reasoned.choices.size(), 1u);
  EXPECT_EQ(reasoned.choices[0].extension.value("samples", 0), 3) << reasoned.choices[0].extension.dump();
  EXPECT_GT(reasoned.usage.completion_tokens, 0);
}

TEST_F(RemoteBackendTest, UpstreamRefusalsKeepTheirStatusAndParam) {
  RemoteBackend rb = remote();
  ChatRequest r = question("hi");
  r.sampling.temperature = 7;  // out of range upstream
  try {
    run_chat(rb, r);
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "temperature") << e.what();
  }
  RemoteBackendOptions o;
  o.base_url = server_->url() + "/v1";
  o.model = "no-such-model";
  RemoteBackend wrong(o);
  try {
    run_chat(wrong, question("hi"));
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 404);
    EXPECT_EQ(e.code, "model_not_found");
  }
  EXPECT_THROW(RemoteBackend(RemoteBackendOptions{"ftp://example", "", "", "", 1, 1, 1}), Error);
}

TEST_F(RemoteBackendTest, UnreachableAndSilentUpstreamsFailWithinTheirTimeouts) {
  // A port nobody listens on: 502.
  const int closed = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(closed, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(closed, reinterpret_cast<sockaddr*>(&addr), &len);
  const int closed_port = ntohs(addr.sin_port);
  close(closed);
  RemoteBackendOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1";
  o.model = "x";
  RemoteBackend unreachable(o);
  try {
    run_chat(unreachable, question("hi"));
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 502) << e.what();
  }
  // A server that accepts the connection and never answers: 504 after the first-byte timeout.
  const int silent = socket(AF_INET, SOCK_STREAM, 0);
  addr.sin_port = 0;
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(silent, 4), 0);
  len = sizeof addr;
  getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len);
  o.base_url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1";
  o.first_byte_timeout_s = 0.5;
  RemoteBackend quiet(o);
  try {
    run_chat(quiet, question("hi"));
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 504) << e.what();
  }
  close(silent);
}

}  // namespace
}  // namespace rpu
