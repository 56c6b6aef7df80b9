// rpu gateway end to end, upstream faults: a fault-injecting proxy (tests/support/fault_proxy.h)
// stands between the gateway and its upstream (an `rpu serve` of the stories260K stand-in) and
// answers 5xx, garbage, nothing, too late, or resets a stream half-way. The client always gets
// a well-formed answer (an OpenAI error body, the fallback's answer, or a stream that ends),
// and the gateway keeps serving. Retries (backoff, Retry-After) and the circuit breaker are
// tested when `rpu gateway` reports its upstream requests in /metrics (ResilientBackend).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "fault_proxy.h"
#include "gateway_util.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using nlohmann::json;

constexpr const char* kQuestion = "Mia has 12 apples. She buys 7 more. How many apples does Mia have now?";

class GatewayFaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    upstream_ = new test::ServerProcess(test::story_upstream_args());
    proxy_ = new test::FaultProxy(upstream_->port());
    breaker_proxy_ = new test::FaultProxy(upstream_->port());
    const std::string up = proxy_->url() + "/v1", breaker_up = breaker_proxy_->url() + "/v1";
    // big: no retries, so each fault reaches the client as it is; big-retry: retries (once
    // they exist) with short delays; big-breaker: its own proxy, so its open circuit
    // disturbs no other test (the others' breakers never open).
    const std::string config = R"(
models:
  arith: {local: builtin, parallel: 2, threads: 1}
upstreams:
  big:
    url: )" + up + R"(
    model: big
    timeouts: {connect: 2, first_token: 1.5, total: 30}
    retry: {attempts: 1}
    breaker: {failures: 100}
  big-retry:
    url: )" + up + R"(
    model: big
    timeouts: {connect: 2, first_token: 10, total: 30}
    retry: {attempts: 3, base_delay: 0.05, max_delay: 0.2, max_retry_after: 5}
    breaker: {failures: 100}
  big-breaker:
    url: )" + breaker_up + R"(
    model: big
    timeouts: {connect: 2, first_token: 10, total: 30}
    retry: {attempts: 1}
    breaker: {failures: 3, open_seconds: 60}
routes:
  - name: plain
    target: big
  - name: with-fallback
    target: big
    fallback: arith
  - name: retrying
    target: big-retry
  - name: breaker
    target: big-breaker
  - name: cascade
    target: arith
    cascade: {upstream: big, min_confidence: 1.0}
)";
    gateway_ = test::start_gateway(test::write_config("gateway-faults.yaml", config)).release();
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete breaker_proxy_;
    delete proxy_;
    delete upstream_;
  }
  void SetUp() override {
    if (gateway_ == nullptr) GTEST_FAIL() << "the suite's processes did not start";
    proxy_->clear_faults();
    proxy_->reset_counts();
  }
  void TearDown() override {
    if (gateway_ == nullptr) return;
    EXPECT_TRUE(gateway_->running()) << gateway_->log();
    proxy_->clear_faults();
  }
  static std::string url() { return gateway_->url(); }
  // A call that reaches the upstream untouched: the gateway still serves.
  static void expect_serving(const std::string& route) {
    const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body(route, "Once upon a time", 16));
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string target = route == "breaker" ? "big-breaker" : route == "retrying" ? "big-retry" : "big";
    EXPECT_EQ(r.gateway().value("answered_by", ""), target) << r.body;
  }
  // Retries and the circuit breaker (ResilientBackend) count upstream requests in /metrics.
  static bool retries_available() {
    return test::http_get(url(), "/metrics").body.find("rpu_upstream_requests_total") != std::string::npos;
  }

  static test::ServerProcess* upstream_;
  static test::FaultProxy* proxy_;
  static test::FaultProxy* breaker_proxy_;
  static test::ServerProcess* gateway_;
};
test::ServerProcess* GatewayFaultTest::upstream_ = nullptr;
test::FaultProxy* GatewayFaultTest::proxy_ = nullptr;
test::FaultProxy* GatewayFaultTest::breaker_proxy_ = nullptr;
test::ServerProcess* GatewayFaultTest::gateway_ = nullptr;

TEST_F(GatewayFaultTest, TheProxyForwardsUntouchedRequestsAndCountsThem) {
  const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body("plain", "Once upon a time", 16));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(test::is_arithmetic_answer(r.content())) << r.content();
  EXPECT_EQ(proxy_->posts(), 1);
  ASSERT_EQ(proxy_->seen().size(), 1u);
  EXPECT_EQ(proxy_->seen()[0].path, "/v1/chat/completions");
  EXPECT_EQ(json::parse(proxy_->seen()[0].body).value("model", ""), "big");
}

TEST_F(GatewayFaultTest, TheProxyAnswersEachScriptedFaultInTurn) {
  // The harness itself, asked directly: each POST takes the next fault; GETs pass through.
  const json body = test::chat_body("big", "Once upon a time", 8);
  proxy_->push(test::Fault::error(503));
  proxy_->push(test::Fault::rate_limited(7));
  proxy_->push(test::Fault::garbage());
  proxy_->push(test::Fault::drop());
  proxy_->push(test::Fault::delay(300));
  EXPECT_EQ(proxy_->pending_faults(), 5u);
  EXPECT_EQ(test::http_get(proxy_->url(), "/health").status, 200);
  const auto error = test::http_post(proxy_->url(), "/v1/chat/completions", body);
  EXPECT_EQ(error.status, 503);
  EXPECT_TRUE(test::is_openai_error(error.json)) << error.body;
  const auto limited = test::http_post(proxy_->url(), "/v1/chat/completions", body);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.header("Retry-After"), "7");
  EXPECT_EQ(limited.json["error"].value("type", ""), "rate_limit_error") << limited.body;
  const auto garbage = test::http_post(proxy_->url(), "/v1/chat/completions", body);
  EXPECT_EQ(garbage.status, 200);
  EXPECT_TRUE(garbage.json.is_null()) << garbage.body;
  EXPECT_EQ(garbage.body.find("data: {"), std::string::npos) << garbage.body;
  EXPECT_EQ(test::http_post(proxy_->url(), "/v1/chat/completions", body).status, 0) << "dropped: no answer";
  const auto late = test::http_post(proxy_->url(), "/v1/chat/completions", body);
  EXPECT_EQ(late.status, 200) << late.body;
  EXPECT_GE(late.seconds, 0.3);
  EXPECT_EQ(late.json["choices"][0]["message"]["role"], "assistant") << late.body;
  EXPECT_EQ(proxy_->pending_faults(), 0u);
  EXPECT_EQ(proxy_->posts(), 5);
  EXPECT_EQ(proxy_->requests(), 6);
  // A reset after 100 bytes of a streamed body: the client has those bytes and then an error.
  proxy_->push(test::Fault::reset_after(100));
  const auto cut = test::http_stream_chat(proxy_->url(), body);
  EXPECT_EQ(cut.status, 200);
  EXPECT_FALSE(cut.done);
}

TEST_F(GatewayFaultTest, Upstream5xxIsAnOpenAIErrorAndTheGatewayKeepsServing) {
  for (int status : {500, 503}) {
    proxy_->push(test::Fault::error(status));
    const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body("plain", "Once upon a time", 16));
    EXPECT_GE(r.status, 500) << r.body;
    EXPECT_LE(r.status, 599) << r.body;
    EXPECT_TRUE(test::is_openai_error(r.json)) << r.body;
    EXPECT_NE(r.body.find("fault proxy answered HTTP " + std::to_string(status)), std::string::npos) << r.body;
  }
  EXPECT_EQ(proxy_->posts(), 2) << "no retries on this upstream";
  expect_serving("plain");
  const std::string metrics = test::http_get(url(), "/metrics").body;
  EXPECT_GE(test::metric_value(metrics, "rpu_gateway_call_errors_total", {{"route", "plain"}}), 2) << metrics;
}

TEST_F(GatewayFaultTest, GarbageFromTheUpstreamIsA502) {
  proxy_->push(test::Fault::garbage());
  const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body("plain", "Once upon a time", 16));
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_TRUE(test::is_openai_error(r.json)) << r.body;
  proxy_->push(test::Fault::garbage());
  const auto s = test::http_stream_chat(url(), test::chat_body("plain", "Once upon a time", 16));
  EXPECT_EQ(s.status, 502);
  EXPECT_EQ(proxy_->posts(), 2);
  expect_serving("plain");
}

TEST_F(GatewayFaultTest, UpstreamDownFallsBackToTheLocalModel) {
  proxy_->push(test::Fault::drop());
  const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body("with-fallback", kQuestion, 48));
  ASSERT_EQ(r.status, 200) << r.body;
  const json g = r.gateway();
  EXPECT_EQ(g.value("route", ""), "with-fallback") << r.body;
  EXPECT_EQ(g.value("answered_by", ""), "arith") << r.body;
  EXPECT_FALSE(g.value("escalated", true));
  EXPECT_EQ(g.value("reason", "").rfind("fallback: ", 0), 0u) << r.body;
  EXPECT_TRUE(test::is_arithmetic_answer(r.content())) << r.content();
  EXPECT_EQ(proxy_->posts(), 1);
  // A 200 that is no event stream is the upstream failing too.
  proxy_->push(test::Fault::garbage());
  const auto garbage = test::http_post(url(), "/v1/chat/completions", test::chat_body("with-fallback", kQuestion, 48));
  EXPECT_EQ(garbage.status, 200) << garbage.body;
  EXPECT_EQ(garbage.gateway().value("answered_by", ""), "arith") << garbage.body;
  EXPECT_EQ(garbage.content(), r.content());
  // Streamed, the fallback's answer arrives as a stream.
  proxy_->push(test::Fault::error(503));
  const auto s = test::http_stream_chat(url(), test::chat_body("with-fallback", kQuestion, 48));
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, r.content());
  EXPECT_EQ(s.rpu["gateway"].value("answered_by", ""), "arith") << s.rpu.dump();
  // Without a fallback the same fault is the client's 5xx. (RemoteBackend reports a connection
  // closed without an answer as 504 "timed out: Read": httplib says "Read" for both.)
  proxy_->push(test::Fault::drop());
  const auto plain = test::http_post(url(), "/v1/chat/completions", test::chat_body("plain", kQuestion, 48));
  EXPECT_GE(plain.status, 502) << plain.body;
  EXPECT_LE(plain.status, 504) << plain.body;
  EXPECT_TRUE(test::is_openai_error(plain.json)) << plain.body;
  const std::string metrics = test::http_get(url(), "/metrics").body;
  EXPECT_EQ(test::metric_value(metrics, "rpu_gateway_fallbacks_total", {{"route", "with-fallback"}}), 3) << metrics;
  expect_serving("with-fallback");
}

TEST_F(GatewayFaultTest, ACascadeWhoseUpstreamFailsReturnsTheSmallModelsAnswer) {
  // min_confidence 1: every answer escalates. With the upstream failing (5xx, garbage, a
  // connection closed), the small model's answer is returned after all, marked not escalated.
  const auto escalated = test::http_post(url(), "/v1/chat/completions", test::chat_body("cascade", kQuestion, 48));
  ASSERT_EQ(escalated.status, 200) << escalated.body;
  EXPECT_TRUE(escalated.gateway().value("escalated", false)) << escalated.body;
  EXPECT_EQ(escalated.gateway().value("answered_by", ""), "big") << escalated.body;
  std::string local;
  for (const test::Fault& fault : {test::Fault::error(503), test::Fault::garbage(), test::Fault::drop()}) {
    proxy_->push(fault);
    const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body("cascade", kQuestion, 48));
    ASSERT_EQ(r.status, 200) << r.body;
    const json g = r.gateway();
    EXPECT_FALSE(g.value("escalated", true)) << r.body;
    EXPECT_EQ(g.value("answered_by", ""), "arith") << r.body;
    EXPECT_NE(g.value("reason", "").find("confidence; upstream failed: "), std::string::npos) << r.body;
    EXPECT_TRUE(test::is_arithmetic_answer(r.content())) << r.content();
    if (local.empty()) local = r.content();
    EXPECT_EQ(r.content(), local);
  }
  EXPECT_EQ(proxy_->posts(), 4);
}

TEST_F(GatewayFaultTest, ResetMidStreamEndsTheStreamWithoutARetry) {
  // The reset comes after the first content chunks reached the gateway (and its client): the
  // answer is partly given, so no retry may start it again, even on the retrying upstream.
  const auto whole = test::http_stream_chat(url(), test::chat_body("retrying", "Once upon a time", 40));
  ASSERT_EQ(whole.status, 200);
  ASSERT_GT(whole.events.size(), 6u);
  proxy_->reset_counts();
  proxy_->push(test::Fault::reset_after(900));
  const auto s = test::http_stream_chat(url(), test::chat_body("retrying", "Once upon a time", 40));
  EXPECT_EQ(s.status, 200);
  EXPECT_FALSE(s.text.empty()) << "the first bytes reached the client";
  EXPECT_LT(s.text.size(), whole.text.size());
  EXPECT_EQ(whole.text.rfind(s.text, 0), 0u) << "what arrived is the start of the answer: " << s.text;
  EXPECT_TRUE(s.done) << "the stream ends well-formed";
  EXPECT_EQ(s.finish_reason, "error");
  EXPECT_LT(s.seconds, 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(proxy_->posts(), 1) << "no retry after the answer began";
  expect_serving("retrying");
}

TEST_F(GatewayFaultTest, AnUpstreamSlowerThanTheFirstTokenTimeoutIsA504) {
  proxy_->push(test::Fault::delay(4000));  // first_token: 1.5 s
  const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body("plain", "Once upon a time", 16));
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_TRUE(test::is_openai_error(r.json)) << r.body;
  EXPECT_GE(r.seconds, 1.4);
  EXPECT_LT(r.seconds, 3.5);
  EXPECT_EQ(proxy_->posts(), 1);
  expect_serving("plain");
}

TEST_F(GatewayFaultTest, A429WithRetryAfterIsRetriedOnceAndSucceeds) {
  if (!retries_available()) GTEST_SKIP() << "rpu gateway reports no rpu_upstream_requests_total: no retries";
  const std::string before = test::http_get(url(), "/metrics").body;
  proxy_->push(test::Fault::rate_limited(1));
  const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body("retrying", "Once upon a time", 16));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.gateway().value("answered_by", ""), "big-retry") << r.body;
  EXPECT_EQ(proxy_->posts(), 2);
  EXPECT_GE(r.seconds, 0.9) << "Retry-After: 1 was honoured";
  const std::string after = test::http_get(url(), "/metrics").body;
  auto delta = [&](const std::string& name) {
    return test::metric_value(after, name, {{"upstream", "big-retry"}}) -
           test::metric_value(before, name, {{"upstream", "big-retry"}});
  };
  EXPECT_EQ(delta("rpu_upstream_requests_total"), 1) << after;
  EXPECT_EQ(delta("rpu_upstream_attempts_total"), 2) << after;
  EXPECT_EQ(delta("rpu_upstream_retries_total"), 1) << after;
}

TEST_F(GatewayFaultTest, FailuresInARowOpenTheCircuitAndTheNextCallFailsFast) {
  if (!retries_available()) GTEST_SKIP() << "rpu gateway reports no rpu_upstream_requests_total: no circuit breaker";
  breaker_proxy_->reset_counts();
  breaker_proxy_->push(test::Fault::error(503), 3);  // breaker: {failures: 3}
  for (int i = 0; i < 3; ++i) {
    const auto r = test::http_post(url(), "/v1/chat/completions", test::chat_body("breaker", "Once upon a time", 16));
    EXPECT_GE(r.status, 500) << r.body;
  }
  EXPECT_EQ(breaker_proxy_->posts(), 3);
  const auto fast = test::http_post(url(), "/v1/chat/completions", test::chat_body("breaker", "Once upon a time", 16));
  EXPECT_GE(fast.status, 500) << fast.body;
  EXPECT_TRUE(test::is_openai_error(fast.json)) << fast.body;
  EXPECT_LT(fast.seconds, 0.5) << "an open circuit fails at once";
  EXPECT_EQ(breaker_proxy_->posts(), 3) << "the call did not reach the upstream";
  const std::string metrics = test::http_get(url(), "/metrics").body;
  EXPECT_EQ(test::metric_value(metrics, "rpu_upstream_circuit_open", {{"upstream", "big-breaker"}}), 1) << metrics;
  EXPECT_EQ(test::metric_value(metrics, "rpu_upstream_requests_total",
                               {{"upstream", "big-breaker"}, {"outcome", "rejected_open"}}),
            1)
      << metrics;
}

}  // namespace
}  // namespace rpu
