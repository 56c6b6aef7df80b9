// rpu gateway end to end, the cascade: an upstream answer arrives exactly when the arithmetic
// specialist's confidence is below the route's threshold or it refuses.
//
// Oracle: the built-in model asked directly (its own `rpu serve`, temperature 0, logprobs) for
// a dozen prompts (word problems, reworded ones, off-domain ones); the test computes
// exp(mean token log-probability) itself and whether the text matches the refusal pattern,
// and picks the route's min_confidence in the widest gap between the observed confidences,
// so that answers on both sides occur. Then the same prompts go through the gateway: every
// prompt the oracle predicts to escalate is answered by the upstream (the stories260K
// stand-in, whose story text is asked for directly too), every other by the specialist,
// word for word.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <regex>

#include "gateway_util.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using nlohmann::json;

const char* const kPrompts[] = {
    // In-domain, in the training data's phrasing.
    "Mia has 12 apples. She buys 7 more. How many apples does Mia have now?",
    "Tom has 30 cards. He loses 4. How many cards does Tom have now?",
    "Leo has 45 coins. He loses 18. How many coins does Leo have now?",
    "Ana has 9 pens. She finds 3 more. How many pens does Ana have now?",
    // Reworded (specialist/reworded.jsonl and alike).
    "Priya baked 24 muffins for the bake sale and sold 17 of them. How many muffins did she have left?",
    "A bakery made 350 loaves of bread in the morning. By noon it had sold 128. How many loaves were still on "
    "the shelves?",
    "Jamal had 15 marbles. His cousin gave him 9 and then he lost 6 at school. How many marbles does Jamal have "
    "now?",
    "The school bus picked up 23 children at its first stop and 18 more at its second stop. How many children "
    "were on the bus?",
    "Rosa's garden had 42 tulips. Rabbits ate 11 of them, and she planted 25 new ones. How many tulips are in "
    "the garden now?",
    "If a library lends out 64 books on Monday and gets 29 back on Tuesday, how many are still out?",
    // Off-domain.
    "Hello, who are you?",
    "What is the capital of Australia?",
    "Can you write me a poem about the sea?",
};
constexpr int kMaxTokens = 60;

struct Prediction {
  std::string text;        // the specialist's answer
  double confidence = -1;  // exp(mean token logprob), computed here
  bool refusal = false;
  bool escalate = false;
  std::string upstream_text;  // what the upstream says to the same request
};

json request_for(const std::string& prompt, const std::string& model) {
  return test::chat_body(model, prompt, kMaxTokens);
}

class GatewayCascadeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    predictions_ = new std::vector<Prediction>;
    upstream_ = new test::ServerProcess(test::story_upstream_args());
    {
      test::ServerProcess oracle({"--alias", "arith", "--parallel", "1", "--threads", "1"});
      const std::regex refusal(test::kRefusalRegex);
      for (const char* p : kPrompts) {
        json body = request_for(p, "arith");
        body["logprobs"] = true;
        const auto r = test::http_post(oracle.url(), "/v1/chat/completions", body);
        ASSERT_EQ(r.status, 200) << r.body;
        Prediction pred;
        pred.text = r.content();
        double sum = 0;
        const json& tokens = r.json["choices"][0]["logprobs"]["content"];
        ASSERT_FALSE(tokens.empty()) << r.body;
        for (const json& t : tokens) sum += t["logprob"].get<double>();
        pred.confidence = std::exp(sum / static_cast<double>(tokens.size()));
        pred.refusal = std::regex_search(pred.text, refusal);
        const auto up = test::http_post(upstream_->url(), "/v1/chat/completions", request_for(p, "big"));
        ASSERT_EQ(up.status, 200) << up.body;
        pred.upstream_text = up.content();
        predictions_->push_back(pred);
      }
    }
    // The threshold: the middle of the widest gap between the confidences of the answers that
    // are not refusals, with at least two answers on each side.
    std::vector<double> c;
    for (const Prediction& p : *predictions_) {
      if (!p.refusal) c.push_back(p.confidence);
    }
    std::sort(c.begin(), c.end());
    ASSERT_GE(c.size(), 4u);
    size_t widest = 2;  // c[widest - 1] < threshold < c[widest]
    for (size_t i = 3; i + 2 <= c.size(); ++i) {
      if (c[i] - c[i - 1] > c[widest] - c[widest - 1]) widest = i;
    }
    gap_ = c[widest] - c[widest - 1];
    threshold_ = (c[widest] + c[widest - 1]) / 2;
    for (Prediction& p : *predictions_) p.escalate = p.refusal || p.confidence < threshold_;

    const std::string config = R"(
models:
  arith: {local: builtin, parallel: 2, threads: 1}
upstreams:
  big:
    url: )" + upstream_->url() + R"(/v1
    model: big
routes:
  - name: arithmetic
    aliases: [arith]
    match: {task: arithmetic}
    target: arith
    cascade:
      upstream: big
      min_confidence: )" + std::to_string(threshold_) + R"(
      refusal: ")" + test::kRefusalRegex + R"("
  - name: general
    target: big
default_route: general
)";
    gateway_ = test::start_gateway(test::write_config("gateway-cascade.yaml", config)).release();
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete upstream_;
    delete predictions_;
  }
  void SetUp() override {
    if (gateway_ == nullptr) GTEST_FAIL() << "the suite's processes did not start";
  }
  void TearDown() override {
    if (gateway_ != nullptr) {
      EXPECT_TRUE(gateway_->running()) << gateway_->log();
    }
  }

  static std::vector<Prediction>* predictions_;
  static double threshold_, gap_;
  static test::ServerProcess* upstream_;
  static test::ServerProcess* gateway_;
};
std::vector<Prediction>* GatewayCascadeTest::predictions_ = nullptr;
double GatewayCascadeTest::threshold_ = 0;
double GatewayCascadeTest::gap_ = 0;
test::ServerProcess* GatewayCascadeTest::upstream_ = nullptr;
test::ServerProcess* GatewayCascadeTest::gateway_ = nullptr;

TEST_F(GatewayCascadeTest, TheOracleSeesBothSidesOfTheThreshold) {
  int refusals = 0, below = 0, kept = 0;
  std::string table;
  for (size_t i = 0; i < predictions_->size(); ++i) {
    const Prediction& p = (*predictions_)[i];
    refusals += p.refusal;
    below += !p.refusal && p.escalate;
    kept += !p.escalate;
    table += "  " + std::to_string(p.confidence) + (p.refusal ? " refusal   " : p.escalate ? " escalate  " : " keep      ") +
             kPrompts[i] + "\n";
  }
  std::printf("[ oracle   ] min_confidence %.4f (gap %.4f):\n%s", threshold_, gap_, table.c_str());
  EXPECT_GE(refusals, 2) << table;
  EXPECT_GE(below, 2) << table;
  EXPECT_GE(kept, 2) << table;
  // Far enough from every confidence that the specialist's own run (another process, other
  // batch neighbours) lands on the same side.
  EXPECT_GT(gap_, 0.004) << "threshold " << threshold_ << "\n" << table;
  for (const Prediction& p : *predictions_) {
    if (p.refusal) continue;
    EXPECT_TRUE(test::is_arithmetic_answer(p.text)) << p.text;
  }
  for (const Prediction& p : *predictions_) {
    EXPECT_FALSE(test::is_arithmetic_answer(p.upstream_text) || test::is_arithmetic_refusal(p.upstream_text))
        << "the upstream's text is told apart from the specialist's: " << p.upstream_text;
  }
}

TEST_F(GatewayCascadeTest, TheUpstreamAnswersExactlyWhenTheOraclePredictsEscalation) {
  int escalations_by_refusal = 0, escalations_by_confidence = 0;
  for (size_t i = 0; i < predictions_->size(); ++i) {
    const Prediction& p = (*predictions_)[i];
    SCOPED_TRACE(std::string(kPrompts[i]) + " (oracle confidence " + std::to_string(p.confidence) +
                 ", threshold " + std::to_string(threshold_) + ")");
    const auto r = test::http_post(gateway_->url(), "/v1/chat/completions", request_for(kPrompts[i], "arith"));
    ASSERT_EQ(r.status, 200) << r.body;
    const json g = r.gateway();
    EXPECT_EQ(g.value("route", ""), "arithmetic") << r.body;
    EXPECT_EQ(g.value("escalated", !p.escalate), p.escalate) << r.body;
    EXPECT_NEAR(g.value("confidence", -1.0), p.confidence, 1e-3) << r.body;
    if (p.escalate) {
      EXPECT_EQ(g.value("answered_by", ""), "big") << r.body;
      EXPECT_EQ(g.value("reason", ""), p.refusal ? "refusal" : "confidence") << r.body;
      EXPECT_EQ(r.content(), p.upstream_text) << "the upstream's story text";
      (p.refusal ? escalations_by_refusal : escalations_by_confidence)++;
    } else {
      EXPECT_EQ(g.value("answered_by", ""), "arith") << r.body;
      EXPECT_EQ(r.content(), p.text) << "the specialist's own answer";
      EXPECT_FALSE(g.contains("reason")) << r.body;
    }
    EXPECT_EQ(r.json.value("model", ""), "arith") << "the client's model name comes back";
  }
  const std::string metrics = test::http_get(gateway_->url(), "/metrics").body;
  EXPECT_EQ(test::metric_value(metrics, "rpu_gateway_escalations_total", {{"route", "arithmetic"}, {"reason", "refusal"}}),
            escalations_by_refusal)
      << metrics;
  EXPECT_EQ(test::metric_value(metrics, "rpu_gateway_escalations_total", {{"route", "arithmetic"}, {"reason", "confidence"}}),
            escalations_by_confidence)
      << metrics;
}

TEST_F(GatewayCascadeTest, StreamedCallsCascadeTheSameWay) {
  // The first prompt the specialist keeps and the first it passes on, streamed: the same text
  // as the oracle predicts, the gateway's annotation on the finish chunk.
  for (bool escalate : {false, true}) {
    size_t i = 0;
    while (i < predictions_->size() && (*predictions_)[i].escalate != escalate) ++i;
    ASSERT_LT(i, predictions_->size());
    const Prediction& p = (*predictions_)[i];
    const auto s = test::http_stream_chat(gateway_->url(), request_for(kPrompts[i], "arith"));
    ASSERT_EQ(s.status, 200);
    EXPECT_TRUE(s.done);
    EXPECT_EQ(s.text, escalate ? p.upstream_text : p.text);
    EXPECT_EQ(s.rpu["gateway"].value("escalated", !escalate), escalate) << s.rpu.dump();
    EXPECT_EQ(s.rpu["gateway"].value("answered_by", ""), escalate ? "big" : "arith") << s.rpu.dump();
  }
}

TEST_F(GatewayCascadeTest, AnOffDomainQuestionOnTheArithmeticRouteEndsAtTheUpstream) {
  // Chosen by the route's rule (the X-Rpu-Task header) rather than by model name. (Not by a
  // system-prompt rule: the stand-in upstream's Gemma template refuses system messages.)
  const auto r = test::http_post(gateway_->url(), "/v1/chat/completions",
                                 test::chat_body("any-model", "Hello, who are you?", kMaxTokens), "", 60,
                                 {{"X-Rpu-Task", "arithmetic"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json g = r.gateway();
  EXPECT_EQ(g.value("route", ""), "arithmetic") << r.body;
  EXPECT_TRUE(g.value("escalated", false)) << r.body;
  EXPECT_EQ(g.value("reason", ""), "refusal") << r.body;
  EXPECT_EQ(g.value("answered_by", ""), "big") << r.body;
  EXPECT_FALSE(test::is_arithmetic_refusal(r.content()) || test::is_arithmetic_answer(r.content())) << r.content();
  // Without the header no rule claims it: the default route's upstream answers it
  // directly, nothing escalated.
  const auto general = test::http_post(gateway_->url(), "/v1/chat/completions",
                                       test::chat_body("any-model", "Hello, who are you?", kMaxTokens));
  ASSERT_EQ(general.status, 200) << general.body;
  EXPECT_EQ(general.gateway().value("route", ""), "general") << general.body;
  EXPECT_FALSE(general.gateway().value("escalated", true)) << general.body;
  EXPECT_EQ(general.gateway().value("answered_by", ""), "big") << general.body;
}

// A scrub_input route (the conversion loop's specialists are served the call scrubbed, and
// their answers get the values back): an answer holding a placeholder the call did not have
// (a specialist trained on "<PHONE_3>" in a scrubbed log) cannot be restored, so the cascade
// sends the call upstream (reason "placeholder") instead of giving the client "<PHONE_3>". The
// client's JSON schema makes the built-in model write either placeholder (and the upstream, a
// small stand-in bound by the same schema, too: only who answered is checked).
TEST(GatewayCascadeScrub, AnAnswerWithAMadeUpPlaceholderGoesUpstream) {
  test::ServerProcess upstream(test::story_upstream_args());
  const std::string config = R"(
models:
  arith: {local: builtin, parallel: 1, threads: 1}
upstreams:
  big:
    url: )" + upstream.url() + R"(/v1
    model: big
log: {path: )" + test::temp_path("scrub-cascade.db") + R"(, scrub: true}
routes:
  - name: spec
    aliases: [spec]
    target: arith
    scrub_input: true
    cascade: {upstream: big, min_confidence: 0}
default_route: spec
)";
  const auto gateway = test::start_gateway(test::write_config("gateway-scrub-cascade.yaml", config));
  auto ask = [&](const std::string& phone, const std::string& message = "Please call Maria Garcia at maria.garcia@example.com.") {
    json body = test::chat_body("spec", message, 40);
    json schema = json::parse(R"({"type": "object", "properties": {"who": {}}, "required": ["who"]})");
    schema["properties"]["who"]["const"] = phone;
    body["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "call"}, {"schema", schema}}}};
    return test::http_post(gateway->url(), "/v1/chat/completions", body);
  };
  const auto known = ask("<PERSON_1>");  // the call's own placeholder: restored
  ASSERT_EQ(known.status, 200) << known.body;
  EXPECT_FALSE(known.gateway().value("escalated", true)) << known.body;
  EXPECT_EQ(json::parse(known.content()), (json{{"who", "Maria Garcia"}})) << known.body;
  const auto made_up = ask("<PHONE_3>");
  ASSERT_EQ(made_up.status, 200) << made_up.body;
  EXPECT_TRUE(made_up.gateway().value("escalated", false)) << made_up.body;
  EXPECT_EQ(made_up.gateway().value("reason", ""), "placeholder") << made_up.body;
  EXPECT_EQ(made_up.gateway().value("answered_by", ""), "big") << made_up.body;
  // The call's phone written again in E.164, as the conversion loop's tool specialists learn it
  // from a log where the teacher's "+14155550134" became <PHONE_E164_1> (derived from the
  // request's <PHONE_1>): computed back from the caller's number, not escalated.
  const auto e164 = ask("<PHONE_E164_1>", "Please call Maria Garcia on +1 415 555 0134.");
  ASSERT_EQ(e164.status, 200) << e164.body;
  EXPECT_FALSE(e164.gateway().value("escalated", true)) << e164.body;
  EXPECT_EQ(json::parse(e164.content()), (json{{"who", "+14155550134"}})) << e164.body;
  EXPECT_TRUE(gateway->running()) << gateway->log();
}

}  // namespace
}  // namespace rpu
