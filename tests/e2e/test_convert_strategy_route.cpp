// A route S6 deploys with S4's strategy, served by `rpu gateway`: the conversion loop's
// routes-file writer (src/convert/routing_table.h, as `rpu convert run` calls it) deploys the
// built-in model twice with the strategy table's best-of-5 (grounded arithmetic verifier) as
// the route's `reasoning:` and a cascade to a teacher (the stories260K stand-in), once with
// min_confidence 0 (never escalated for confidence) and once with 1 (escalated unless all five
// samples pass and agree). Through the gateway:
//   - the first route's answers carry the reasoning info (rpu.strategy best_of_n, 5 samples,
//     the arithmetic verifier), the answer the strategy extracted is the content's last number,
//     usage counts the tokens of every sample, and the cascade's confidence
//     (rpu.gateway.confidence) is the strategy's (a share of the 5 samples), not a token
//     probability;
//   - the second route escalates exactly the calls whose strategy confidence is below 1, and
//     answers the others itself.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <regex>

#include "convert/routing_table.h"
#include "convert/strategies.h"
#include "gateway_util.h"
#include "test_util.h"

namespace rpu {
namespace {

using nlohmann::json;

const char* const kPrompts[] = {
    "Mia has 12 apples. She buys 7 more. How many apples does Mia have now?",
    "Tom has 30 cards. He loses 4. How many cards does Tom have now?",
    "Leo has 45 coins. He loses 18. How many coins does Leo have now?",
    "Priya baked 24 muffins for the bake sale and sold 17 of them. How many muffins did she have left?",
    "Jamal had 15 marbles. His cousin gave him 9 and then he lost 6 at school. How many marbles does Jamal have now?",
};

bool share_of_five(double x) { return x >= 0 && x <= 1 && std::abs(5 * x - std::round(5 * x)) < 1e-9; }

std::string last_number(const std::string& text) {
  static const std::regex number(R"(-?\d+(\.\d+)?)");
  std::string last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it) last = it->str();
  return last;
}

convert::SpecialistRoute route_with_strategy(const std::string& name, const std::string& alias, double min_confidence) {
  convert::SpecialistRoute r;
  r.name = name;
  r.aliases = {alias};
  r.model_path = "builtin";
  r.parallel = 2;
  r.reasoning = convert::strategies_for(convert::MetricKind::kFinalNumber, {"bon5"}).back().reasoning;
  r.teacher = "teacher";
  r.min_confidence = min_confidence;
  return r;
}

TEST(ConvertStrategyRouteE2E, TheGatewayServesTheRoutesStrategyAndEscalatesOnItsConfidence) {
  test::ServerProcess teacher(test::story_upstream_args("big"));
  const std::string dir = test::temp_path("convert_strategy_route");
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/gateway.yaml", routes = dir + "/routes.yaml";
  test::write_file(config, "upstreams:\n  teacher:\n    url: " + teacher.url() + "/v1\n    model: big\n"
                           "routes:\n  - name: general\n    target: teacher\n"
                           "default_route: general\nroutes_file: " + routes + "\n");
  const auto relaxed = route_with_strategy("convert-cluster-0", "sums", 0.0);
  ASSERT_EQ(relaxed.reasoning["strategy"], "best_of_n");
  convert::deploy_route(routes, relaxed, config);  // checked against the gateway's config first
  convert::deploy_route(routes, route_with_strategy("convert-cluster-1", "sums-strict", 1.0), config);
  auto gateway = test::start_gateway(config);

  int kept = 0, escalated = 0;
  for (const char* prompt : kPrompts) {
    SCOPED_TRACE(prompt);
    const auto r = test::http_post(gateway->url(), "/v1/chat/completions", test::chat_body("sums", prompt, 64));
    ASSERT_EQ(r.status, 200) << r.body;
    const json rpu = r.json.value("rpu", json());
    ASSERT_TRUE(rpu.is_object()) << r.body;
    EXPECT_EQ(rpu.value("strategy", ""), "best_of_n") << r.body;
    EXPECT_EQ(rpu.value("samples", 0), 5) << r.body;
    EXPECT_EQ(rpu.value("verifier", "").rfind("arithmetic", 0), 0u) << r.body;
    EXPECT_TRUE(share_of_five(rpu.value("confidence", -1.0))) << r.body;
    if (rpu.contains("answer")) {
      EXPECT_EQ(rpu["answer"].get<std::string>(), last_number(r.content())) << r.body;
    }
    const json g = r.gateway();
    EXPECT_EQ(g.value("route", ""), "convert-cluster-0");
    EXPECT_FALSE(g.value("escalated", true)) << "min_confidence 0 never escalates for confidence: " << r.body;
    EXPECT_EQ(g.value("confidence", -1.0), rpu.value("confidence", -2.0)) << "the cascade judged the strategy's confidence";
    // Five samples of up to 64 tokens: more tokens than the one answer returned.
    EXPECT_GT(r.json["usage"]["completion_tokens"].get<int>(), 0);

    const auto strict = test::http_post(gateway->url(), "/v1/chat/completions", test::chat_body("sums-strict", prompt, 64));
    ASSERT_EQ(strict.status, 200) << strict.body;
    const json sg = strict.gateway();
    EXPECT_EQ(sg.value("route", ""), "convert-cluster-1");
    const double confidence = sg.value("confidence", -1.0);
    EXPECT_TRUE(share_of_five(confidence)) << strict.body;
    if (confidence < 1.0) {
      ++escalated;
      EXPECT_TRUE(sg.value("escalated", false)) << strict.body;
      EXPECT_EQ(sg.value("answered_by", ""), "teacher") << strict.body;
      EXPECT_EQ(sg.value("reason", ""), "confidence") << strict.body;
    } else {
      ++kept;
      EXPECT_FALSE(sg.value("escalated", true)) << strict.body;
      EXPECT_EQ(strict.json["rpu"].value("strategy", ""), "best_of_n") << strict.body;
    }
  }
  std::printf("min_confidence 1 over the strategy's confidence: %d kept, %d escalated\n", kept, escalated);
  EXPECT_TRUE(gateway->running()) << gateway->log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rpu
