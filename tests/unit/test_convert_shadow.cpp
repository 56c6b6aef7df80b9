// S6's shadow check (src/convert/shadow_check.h): primary and shadow rows of the same route and
// request are paired (the nearest in time when a request repeats), scored with the teacher
// answer's metric, and a route is below the target only with enough pairs.
#include <gtest/gtest.h>

#include "convert/shadow_check.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

LoggedCall row(const std::string& route, const std::string& kind, const std::string& user, const std::string& answer,
               int64_t time_ms) {
  LoggedCall c;
  c.route = route;
  c.kind = kind;
  c.time_ms = time_ms;
  c.messages = json::array({{{"role", "user"}, {"content", user}}});
  c.answer = {{"role", "assistant"}, {"content", answer}};
  return c;
}

TEST(ConvertShadow, PairsByRouteAndRequestAndScoresWithTheTeachersMetric) {
  std::vector<LoggedCall> rows;
  // Route a: 10 shadowed calls, 8 answered like the teacher -> 0.8.
  for (int i = 0; i < 10; ++i) {
    const std::string q = "ticket " + std::to_string(i);
    rows.push_back(row("a", "primary", q, i < 8 ? "billing" : "sales", 1000 + i));
    rows.push_back(row("a", "shadow", q, "billing", 1001 + i));
  }
  // Route b: a JSON answer with one of two fields right -> wrong (as S6 calibrates: every field
  // right or wrong), and a shadow row whose request has no primary row.
  rows.push_back(row("b", "primary", "x", R"({"name":"<PERSON_1>","order":"AB-1"})", 5000));
  rows.push_back(row("b", "shadow", "x", R"({"name":"<PERSON_1>","order":"AB-2"})", 5001));
  rows.push_back(row("b", "shadow", "never answered", "y", 5002));
  // A primary row of route a with the same request as route b's: not paired across routes.
  rows.push_back(row("a", "primary", "x", R"({"name":"<PERSON_1>","order":"AB-2"})", 5000));

  ShadowCheckOptions o;
  o.min_pairs = 5;
  o.target = 0.95;
  const auto scores = shadow_scores(rows, {}, o);
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scores[0].route, "a");
  EXPECT_EQ(scores[0].pairs, 10);
  EXPECT_DOUBLE_EQ(scores[0].mean_score, 0.8);
  EXPECT_TRUE(scores[0].below_target);
  EXPECT_EQ(scores[1].route, "b");
  EXPECT_EQ(scores[1].pairs, 1);
  EXPECT_EQ(scores[1].unmatched, 1);
  EXPECT_DOUBLE_EQ(scores[1].mean_score, 0.0);
  EXPECT_FALSE(scores[1].below_target) << "one pair is no verdict";
}

TEST(ConvertShadow, ARepeatedRequestPairsWithTheNearestPrimaryAndOldRowsAreIgnored) {
  std::vector<LoggedCall> rows = {
      row("a", "primary", "q", "wrong", 100),  row("a", "shadow", "q", "right", 101),
      row("a", "primary", "q", "right", 900),  row("a", "shadow", "q", "right", 902),
      row("a", "shadow", "q", "right", 5),  // before since_ms
  };
  ShadowCheckOptions o;
  o.min_pairs = 1;
  o.since_ms = 50;
  auto scores = shadow_scores(rows, {"a", "quiet"}, o);
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scores[0].pairs, 2);
  EXPECT_DOUBLE_EQ(scores[0].mean_score, 0.5);  // 101 pairs with 100 (wrong), 902 with 900 (right)
  EXPECT_EQ(scores[1].route, "quiet");
  EXPECT_EQ(scores[1].pairs, 0);
  EXPECT_FALSE(scores[1].below_target);
}

// A route is rolled back when its pairs show it under the target beyond chance, not on one
// disagreement in a handful of pairs: the Wilson bound against values computed by hand.
TEST(ConvertShadow, OnlyAMeanSurelyUnderTheTargetRollsBack) {
  EXPECT_NEAR(wilson_upper_bound(18.0 / 19, 19), 0.9882, 5e-4);
  EXPECT_NEAR(wilson_upper_bound(0.5, 30), 0.6438, 5e-4);
  EXPECT_DOUBLE_EQ(wilson_upper_bound(1.0, 5), 1.0);
  EXPECT_DOUBLE_EQ(wilson_upper_bound(0.0, 0), 1.0);
  auto route_with = [](int pairs, int wrong) {
    std::vector<LoggedCall> rows;
    for (int i = 0; i < pairs; ++i) {
      const std::string q = "ticket " + std::to_string(i);
      rows.push_back(row("r", "primary", q, i < wrong ? "sales" : "billing", 10 * i));
      rows.push_back(row("r", "shadow", q, "billing", 10 * i + 1));
    }
    ShadowCheckOptions o;
    o.min_pairs = 10;
    return shadow_scores(rows, {"r"}, o).front();
  };
  const ShadowScore one_in_19 = route_with(19, 1);
  EXPECT_NEAR(one_in_19.mean_score, 0.947, 1e-3);
  EXPECT_FALSE(one_in_19.below_target) << "under 0.95, but a route at the teacher's level shows that";
  const ShadowScore six_in_40 = route_with(40, 6);
  EXPECT_LT(six_in_40.upper_bound, 0.95);
  EXPECT_TRUE(six_in_40.below_target);
  EXPECT_FALSE(route_with(8, 8).below_target) << "fewer than min_pairs: no verdict";
}

}  // namespace
}  // namespace rpu::convert
