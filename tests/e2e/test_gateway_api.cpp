// rpu gateway end to end, the OpenAI API: a gateway with the built-in model as local target
// "arith" and an upstream that is a second `rpu serve` (the stories260K stand-in for a hosted
// large model, reached through the fault proxy so that the test sees what the upstream was
// sent), driven by the official `openai` client (tests/peers/gateway/scenarios.mjs): chat
// streamed and not, tools passed through, completions, embeddings, /v1/models; /health and
// /metrics over plain HTTP.
#include <gtest/gtest.h>

#include <memory>

#include "fault_proxy.h"
#include "gateway_util.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using nlohmann::json;

class GatewayApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    upstream_ = new test::ServerProcess(test::story_upstream_args());
    proxy_ = new test::FaultProxy(upstream_->port());
    const std::string config = R"(
models:
  arith: {local: builtin, parallel: 2, threads: 1}
upstreams:
  big:
    url: )" + proxy_->url() + R"(/v1
    model: big
routes:
  - name: arithmetic
    aliases: [gpt-4o-mini, arith]
    match: {system: "(?i)word problems"}
    target: arith
  - name: general
    aliases: [gpt-4o]
    target: big
default_route: general
)";
    gateway_ = test::start_gateway(test::write_config("gateway-api.yaml", config)).release();
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete proxy_;
    delete upstream_;
  }
  void SetUp() override {
    if (gateway_ == nullptr) GTEST_FAIL() << "the suite's processes did not start";
  }
  void TearDown() override {
    if (gateway_ != nullptr) EXPECT_TRUE(gateway_->running()) << gateway_->log();
  }
  static void run(const std::string& scenario) {
    if (!test::node_peers_installed()) GTEST_SKIP() << "tests/peers/node_modules missing (run scripts/install-deps.sh)";
    const test::NodeResult r = test::run_node("gateway/scenarios.mjs", {scenario, gateway_->url(), "none"});
    EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- gateway log ---\n" << gateway_->log();
  }

  static test::ServerProcess* upstream_;
  static test::FaultProxy* proxy_;
  static test::ServerProcess* gateway_;
};
test::ServerProcess* GatewayApiTest::upstream_ = nullptr;
test::FaultProxy* GatewayApiTest::proxy_ = nullptr;
test::ServerProcess* GatewayApiTest::gateway_ = nullptr;

TEST_F(GatewayApiTest, ModelsListsRoutesAndAliases) { run("models"); }
TEST_F(GatewayApiTest, AnAgentsSystemPromptAndHistoryReachTheRuleMatchedRoute) { run("agent"); }
TEST_F(GatewayApiTest, ChatStreamedAndNotByAliasAndByDefaultRoute) { run("chat"); }
TEST_F(GatewayApiTest, CompletionsStreamedAndNot) { run("completions"); }
TEST_F(GatewayApiTest, EmbeddingsFromEachRoutesTarget) { run("embeddings"); }
TEST_F(GatewayApiTest, BadRequestsGetOpenAIErrors) { run("errors"); }

TEST_F(GatewayApiTest, ToolsPassThroughToTheUpstream) {
  proxy_->reset_counts();
  run("tools");
  if (IsSkipped()) return;  // run() skips without the openai npm package
  // What the upstream was sent: the client's tools and tool_choice, under the upstream's model name.
  int with_tools = 0;
  for (const test::ProxiedRequest& r : proxy_->seen()) {
    const json body = json::parse(r.body);
    EXPECT_EQ(body.value("model", ""), "big");
    if (!body.contains("tools")) continue;
    ++with_tools;
    EXPECT_EQ(body["tools"][0]["function"]["name"], "get_weather") << r.body;
    EXPECT_EQ(body["tools"][0]["function"]["parameters"]["required"], json::array({"city"})) << r.body;
    EXPECT_EQ(body.value("tool_choice", ""), "required") << r.body;
  }
  EXPECT_EQ(with_tools, 2) << "the call and its streamed twin";
}

TEST_F(GatewayApiTest, HealthNeedsNoModelWork) {
  const auto r = test::http_get(gateway_->url(), "/health");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.value("status", ""), "ok") << r.body;
}

TEST_F(GatewayApiTest, MetricsCountCallsByRouteKeyAndTarget) {
  const std::string before = test::http_get(gateway_->url(), "/metrics").body;
  auto calls = [](const std::string& text, const std::string& route, const std::string& by) {
    return test::metric_value(text, "rpu_gateway_calls_total", {{"route", route}, {"key", "-"}, {"answered_by", by}});
  };
  for (const char* model : {"arith", "gpt-4o-mini", "gpt-4o"}) {
    const auto r = test::http_post(gateway_->url(), "/v1/chat/completions", test::chat_body(model, "Once upon a time", 8));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  const auto c = test::http_post(gateway_->url(), "/v1/completions",
                                 {{"model", "gpt-4o"}, {"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(c.status, 200) << c.body;
  const auto e = test::http_post(gateway_->url(), "/v1/embeddings", {{"model", "arith"}, {"input", "twelve apples"}});
  ASSERT_EQ(e.status, 200) << e.body;
  const auto metrics = test::http_get(gateway_->url(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  const std::string& after = metrics.body;
  EXPECT_NE(after.find("# TYPE rpu_gateway_calls_total counter"), std::string::npos) << after;
  EXPECT_EQ(calls(after, "arithmetic", "arith") - calls(before, "arithmetic", "arith"), 3) << after;
  EXPECT_EQ(calls(after, "general", "big") - calls(before, "general", "big"), 2) << after;
  const double completion_tokens = test::metric_value(after, "rpu_gateway_tokens_total",
                                                      {{"route", "general"}, {"kind", "completion"}}) -
                                   test::metric_value(before, "rpu_gateway_tokens_total",
                                                      {{"route", "general"}, {"kind", "completion"}});
  EXPECT_EQ(completion_tokens, 16) << after;
  EXPECT_EQ(test::metric_value(after, "rpu_gateway_call_errors_total"),
            test::metric_value(before, "rpu_gateway_call_errors_total"))
      << after;
  // The server's own metrics are there too.
  EXPECT_NE(after.find("rpu_requests_total"), std::string::npos) << after;
}

}  // namespace
}  // namespace rpu
