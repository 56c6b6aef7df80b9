// The gateway's decisions, each against a hand-built oracle: which route a call takes, when
// the cascade escalates, client keys and their token buckets, and what a call's record holds.
#include <gtest/gtest.h>

#include <cmath>

#include "gateway/call_logger.h"
#include "gateway/call_trace.h"
#include "gateway/cascade.h"
#include "gateway/client_keys.h"
#include "gateway/router.h"

namespace rpu::gateway {
namespace {

nlohmann::ordered_json messages(const std::string& system, const std::string& user) {
  nlohmann::ordered_json m = nlohmann::ordered_json::array();
  if (!system.empty()) m.push_back({{"role", "system"}, {"content", system}});
  m.push_back({{"role", "user"}, {"content", "an earlier question"}});
  m.push_back({{"role", "assistant"}, {"content", "an earlier answer"}});
  m.push_back({{"role", "user"}, {"content", user}});
  return m;
}

ChatRequest request(const std::string& model, const std::string& system, const std::string& user) {
  ChatRequest r;
  r.model = model;
  r.messages = messages(system, user);
  return r;
}

std::vector<RouteConfig> routes() {
  std::vector<RouteConfig> rs(4);
  rs[0].name = "tools";
  rs[0].match.has_tools = true;
  rs[1].name = "arithmetic";
  rs[1].aliases = {"gpt-4o-mini"};
  rs[1].match.system_regex = "(?i)arithmetic";
  rs[1].match.user_regex = "\\d";
  rs[2].name = "extract";
  rs[2].match.task = "extract";
  rs[3].name = "general";
  return rs;
}

TEST(GatewayRouter, PicksByAliasThenRulesThenClassifierThenDefault) {
  const auto rs = routes();
  Router router(rs, "general");
  EXPECT_EQ(router.pick(request("gpt-4o-mini", "", "hi")).route, 1u);  // alias, whatever the rules say
  EXPECT_STREQ(router.pick(request("gpt-4o-mini", "", "hi")).by, "model");
  EXPECT_EQ(router.pick(request("general", "", "hi")).route, 3u);      // a route's own name
  // Rules: the system prompt and the *last* user message both have to match.
  EXPECT_EQ(router.pick(request("gpt-4o", "You solve Arithmetic problems.", "What is 3 + 4?")).route, 1u);
  EXPECT_EQ(router.pick(request("gpt-4o", "You solve Arithmetic problems.", "no digits here")).route, 3u);
  EXPECT_EQ(router.pick(request("gpt-4o", "You are helpful.", "What is 3 + 4?")).route, 3u);
  ChatRequest with_tools = request("gpt-4o", "You solve arithmetic problems.", "3 + 4");
  with_tools.tools = nlohmann::ordered_json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}});
  EXPECT_EQ(router.pick(with_tools).route, 0u);  // first matching route in config order
  ChatRequest tagged = request("gpt-4o", "", "anything");
  tagged.task = "extract";
  EXPECT_EQ(router.pick(tagged).route, 2u);
  EXPECT_STREQ(router.pick(tagged).by, "rule");
  router.set_classifier([](const ChatRequest& r) -> std::optional<std::string> {
    if (last_user_text(r.messages) == "classify me") return "extract";
    return std::nullopt;
  });
  EXPECT_EQ(router.pick(request("gpt-4o", "", "classify me")).route, 2u);
  EXPECT_STREQ(router.pick(request("gpt-4o", "", "classify me")).by, "classifier");
  EXPECT_STREQ(router.pick(request("gpt-4o", "", "other")).by, "default");
}

TEST(GatewayRouter, WithoutADefaultAnUnclaimedModelIsA404NamingIt) {
  const auto rs = routes();
  Router router(rs, "");
  try {
    router.pick(request("gpt-5", "", "hello"));
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 404);
    EXPECT_EQ(e.param, "model");
    EXPECT_NE(std::string(e.what()).find("'gpt-5'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'gpt-4o-mini'"), std::string::npos);
  }
  EXPECT_THROW(router.pick_by_model("gpt-5"), ApiError);
  EXPECT_EQ(router.pick_by_model("gpt-4o-mini").route, 1u);
}

TEST(GatewayRouter, TextOfArrayContentAndSystemMessages) {
  nlohmann::ordered_json m = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "A"}, {"role": "developer", "content": [{"type": "text", "text": "B"}]},
    {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "u"}},
                                 {"type": "text", "text": "y"}]}])");
  EXPECT_EQ(system_text(m), "A\nB");
  EXPECT_EQ(last_user_text(m), "x\ny");
}

ChoiceResult choice(const std::string& text, std::vector<float> logprobs) {
  ChoiceResult c;
  c.text = text;
  c.finish_reason = "stop";
  for (float lp : logprobs) {
    TokenLogprob t;
    t.chosen.logprob = lp;
    c.logprobs.push_back(t);
  }
  return c;
}

CallResult answer(std::vector<ChoiceResult> choices) {
  CallResult r;
  r.choices = std::move(choices);
  return r;
}

TEST(GatewayCascade, ConfidenceIsTheGeometricMeanOfTokenProbabilities) {
  const ChoiceResult c = choice("x", {std::log(0.9f), std::log(0.4f)});
  EXPECT_NEAR(mean_token_probability(c), std::sqrt(0.9 * 0.4), 1e-6);
  EXPECT_EQ(mean_token_probability(choice("x", {})), -1);
}

// A tool call with one unsure value among sure markup tokens: the mean barely moves, the
// answer's probability is the product.
TEST(GatewayCascade, TheAnswerMeasureIsTheWholeAnswersProbability) {
  std::vector<float> logprobs(29, std::log(0.999f));
  logprobs.push_back(std::log(0.3f));
  const ChoiceResult c = choice("{\"party_size\": 7}", logprobs);
  EXPECT_NEAR(answer_probability(c), 0.3 * std::pow(0.999, 29), 1e-5);
  EXPECT_EQ(answer_probability(choice("x", {})), -1);
  CascadeConfig config;
  config.upstream = "big";
  config.min_confidence = 0.9;
  EXPECT_FALSE(CascadeJudge(config).judge(answer({c})).escalate) << "mean token probability about 0.96";
  config.confidence = ConfidenceMeasure::kAnswer;
  const CascadeDecision d = CascadeJudge(config).judge(answer({c}));
  EXPECT_TRUE(d.escalate);
  EXPECT_EQ(d.reason, "confidence");
  EXPECT_NEAR(d.confidence, answer_probability(c), 1e-9);
  // A reasoning strategy's confidence is used whatever the measure.
  ChoiceResult voted = c;
  voted.extension = {{"confidence", 0.95}};
  EXPECT_DOUBLE_EQ(CascadeJudge(config).judge(answer({voted})).confidence, 0.95);
}

// A specialist's working (a reasoning span, partly written by the calculator) is not the answer:
// both measures read the tokens after it; a choice that is all reasoning reads all of them.
TEST(GatewayCascade, ConfidenceReadsTheAnswerAfterTheReasoningSpan) {
  ChoiceResult worked = choice("100.74 km", {std::log(0.2f), std::log(0.3f), std::log(0.9f), std::log(0.8f)});
  worked.reasoning = "62.6 * 1.609344 = 100.74";
  worked.reasoning_tokens = 2;
  EXPECT_NEAR(mean_token_probability(worked), std::sqrt(0.9 * 0.8), 1e-6);
  EXPECT_NEAR(answer_probability(worked), 0.9 * 0.8, 1e-6);
  worked.reasoning_tokens = 4;  // nothing after the span
  EXPECT_NEAR(mean_token_probability(worked), std::pow(0.2 * 0.3 * 0.9 * 0.8, 0.25), 1e-6);
  worked.reasoning_tokens = 0;
  EXPECT_NEAR(mean_token_probability(worked), std::pow(0.2 * 0.3 * 0.9 * 0.8, 0.25), 1e-6);
}

// Under a constraint a token is measured among the tokens it allowed, and a forced one (a digit
// the calculator computed, a brace the schema required) is not the model's choice: the mean
// skips it, and it adds nothing to the answer's log-probability.
TEST(GatewayCascade, ConfidenceReadsTokensUnderTheirConstraint) {
  ChoiceResult c = choice("x = 15", {std::log(0.9f), std::log(0.05f), std::log(0.01f), std::log(0.8f)});
  c.logprobs[1].constrained_logprob = std::log(0.6f);  // allowed with others
  c.logprobs[2].constrained_logprob = 0.0f;            // the only token allowed
  c.logprobs[2].forced = true;
  c.logprobs[3].constrained_logprob = std::log(0.8f);
  EXPECT_NEAR(mean_token_probability(c), std::cbrt(0.9 * 0.6 * 0.8), 1e-6);
  EXPECT_NEAR(answer_probability(c), 0.9 * 0.6 * 0.8, 1e-6);
  // Every token forced: the constraint decided the whole answer.
  ChoiceResult all_forced = choice("{}", {std::log(0.1f), std::log(0.2f)});
  for (TokenLogprob& t : all_forced.logprobs) t.constrained_logprob = 0.0f, t.forced = true;
  EXPECT_DOUBLE_EQ(mean_token_probability(all_forced), 1.0);
  EXPECT_DOUBLE_EQ(answer_probability(all_forced), 1.0);
}

TEST(GatewayCascade, EscalatesOnLowConfidenceRefusalVerifierOrError) {
  CascadeConfig config;
  config.upstream = "big";
  config.min_confidence = 0.5;
  config.refusal_regex = "I can only help";
  config.verifier = {{"type", "arithmetic"}};
  const CascadeJudge judge(config);
  const float sure = std::log(0.95f), unsure = std::log(0.2f);

  CascadeDecision d = judge.judge(answer({choice("2 + 3 = 5. The answer is 5.", {sure, sure})}));
  EXPECT_FALSE(d.escalate);
  EXPECT_NEAR(d.confidence, 0.95, 1e-6);

  d = judge.judge(answer({choice("2 + 3 = 5. The answer is 5.", {unsure, unsure})}));
  EXPECT_TRUE(d.escalate);
  EXPECT_EQ(d.reason, "confidence");

  d = judge.judge(answer({choice("I can only help with arithmetic word problems.", {sure})}));
  EXPECT_EQ(d.reason, "refusal");  // confident, but not its business

  d = judge.judge(answer({choice("2 + 3 = 6. The answer is 6.", {sure})}));
  EXPECT_EQ(d.reason, "verifier");

  ChoiceResult broken = choice("2 +", {sure});
  broken.finish_reason = "error";
  EXPECT_EQ(judge.judge(answer({broken})).reason, "error");

  // Cut at max_tokens: escalated however sure its tokens were (and even with no threshold).
  ChoiceResult cut = choice("2 + 3 = 5. The ans", {sure, sure});
  cut.finish_reason = "length";
  d = judge.judge(answer({cut}));
  EXPECT_TRUE(d.escalate);
  EXPECT_EQ(d.reason, "length");
  CascadeConfig keep_all = config;
  keep_all.min_confidence = 0;
  EXPECT_EQ(CascadeJudge(keep_all).judge(answer({cut})).reason, "length");

  // A reasoning strategy's confidence (the vote share) is used instead of token probabilities.
  ChoiceResult voted = choice("The answer is 5.", {sure});
  voted.extension = {{"confidence", 0.375}};
  d = judge.judge(answer({voted}));
  EXPECT_EQ(d.reason, "confidence");
  EXPECT_DOUBLE_EQ(d.confidence, 0.375);

  // Several choices: the least confident decides.
  d = judge.judge(answer({choice("The answer is 5.", {sure}), choice("The answer is 5.", {unsure})}));
  EXPECT_TRUE(d.escalate);
  EXPECT_NEAR(d.confidence, 0.2, 1e-6);
}

TEST(GatewayKeys, StoredDigestsAuthenticateAndBucketsLimit) {
  ClientKeyConfig a{"team-a", sha256_hex("secret-a"), 60, 2};  // 1 request/s, bursts of 2
  ClientKeyConfig b{"team-b", sha256_hex("secret-b"), 0, 0};   // unlimited
  EXPECT_EQ(sha256_hex("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");  // FIPS 180-2
  ClientKeys keys({a, b});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(keys.check("", t0).outcome, ClientKeys::Outcome::kDeny);
  EXPECT_EQ(keys.check("secret-c", t0).outcome, ClientKeys::Outcome::kDeny);
  EXPECT_EQ(keys.check("secret-a", t0).key_id, "team-a");
  EXPECT_EQ(keys.check("secret-a", t0).outcome, ClientKeys::Outcome::kAllow);
  const auto limited = keys.check("secret-a", t0);
  EXPECT_EQ(limited.outcome, ClientKeys::Outcome::kRateLimited);
  EXPECT_NEAR(limited.retry_after_seconds, 1.0, 1e-9);
  EXPECT_EQ(keys.check("secret-a", t0 + std::chrono::milliseconds(500)).outcome, ClientKeys::Outcome::kRateLimited);
  EXPECT_EQ(keys.check("secret-a", t0 + std::chrono::milliseconds(1600)).outcome, ClientKeys::Outcome::kAllow);
  // A /metrics scrape is authenticated but takes no token from the bucket.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(keys.check("secret-a", t0 + std::chrono::milliseconds(1600), false).outcome, ClientKeys::Outcome::kAllow);
  }
  EXPECT_EQ(keys.check("secret-a", t0 + std::chrono::milliseconds(1600), false).key_id, "team-a");
  EXPECT_EQ(keys.check("secret-x", t0, false).outcome, ClientKeys::Outcome::kDeny);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(keys.check("secret-b", t0).outcome, ClientKeys::Outcome::kAllow);
}

TEST(GatewayTrace, RecordsTheAnswerTokensAndGatewayExtension) {
  UsageRecord logged;
  int records = 0;
  auto trace = std::make_shared<CallTrace>(2, "team-a", R"({"messages":[]})", [&](UsageRecord r) {
    logged = std::move(r);
    ++records;
  });
  trace->info().route = "arithmetic";
  trace->info().answered_by = "arith";
  trace->info().confidence = 0.8;
  std::vector<ChatEvent> seen;
  ChatEventSink sink = trace->tap([&](const ChatEvent& e) { seen.push_back(e); });
  ChatEvent e;
  e.index = 1;
  e.text = "Hel";
  e.prompt_tokens = 10;
  e.completion_tokens = 1;
  sink(e);
  e.text = "lo";
  e.completion_tokens = 2;
  e.finish_reason = "stop";
  sink(e);
  EXPECT_EQ(records, 0);  // choice 0 is still running
  ChatEvent f;
  f.index = 0;
  f.finish_reason = "tool_calls";
  f.tool_calls = nlohmann::ordered_json::parse(R"([{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}])");
  f.prompt_tokens = 10;
  f.completion_tokens = 5;
  sink(f);
  ASSERT_EQ(records, 1);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].extension["gateway"]["route"], "arithmetic");
  EXPECT_EQ(seen[1].extension["gateway"]["answered_by"], "arith");
  EXPECT_TRUE(seen[0].extension.is_null());  // only a choice's last event is annotated
  EXPECT_EQ(logged.client_key_id, "team-a");
  EXPECT_EQ(logged.route, "arithmetic");
  EXPECT_EQ(logged.model, "arith");
  EXPECT_EQ(logged.prompt_tokens, 10);
  EXPECT_EQ(logged.completion_tokens, 7);
  EXPECT_DOUBLE_EQ(logged.confidence, 0.8);
  const auto response = nlohmann::json::parse(logged.response_json);
  ASSERT_EQ(response.size(), 2u);
  EXPECT_EQ(response[0]["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(response[1]["content"], "Hello");
  EXPECT_GE(logged.first_token_ms, 0);
  EXPECT_TRUE(logged.error.empty());
}

TEST(GatewayTrace, ScrubbedRecordsShareOnePlaceholderPerValue) {
  const Scrubber scrubber;
  UsageRecord raw;
  raw.request_json =
      R"({"messages":[{"role":"user","content":"Mail jane.doe@example.com or call +44 20 7946 0958"}],"tools":[{"type":"function","function":{"name":"send","description":"to jane.doe@example.com"}}]})";
  raw.response_json = R"([{"role":"assistant","content":"I will write to jane.doe@example.com."}])";
  raw.error = "upstream said: bad address jane.doe@example.com";
  const UsageRecord clean = scrub_record(scrubber, raw);
  for (const std::string* text : {&clean.request_json, &clean.response_json, &clean.error}) {
    EXPECT_EQ(text->find("jane.doe@example.com"), std::string::npos) << *text;
    EXPECT_NE(text->find("<EMAIL_1>"), std::string::npos) << *text;
  }
  EXPECT_EQ(clean.request_json.find("7946"), std::string::npos);
  EXPECT_NE(clean.request_json.find("<PHONE_1>"), std::string::npos);
}

}  // namespace
}  // namespace rpu::gateway
