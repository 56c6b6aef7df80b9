// The reasoning request extension and the model-name form: defaults, limits, and a 400 that
// names the offending field for every bad input.
#include <gtest/gtest.h>

#include "pipeline/call.h"
#include "reasoning/spec.h"

namespace rpu::reasoning {
namespace {

using json = nlohmann::ordered_json;

std::string param_of(const json& spec) {
  try {
    parse_reasoning_spec(spec);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    return e.param;
  }
  return "(accepted)";
}

TEST(ReasoningSpec, DefaultsAreSelfConsistencyOfEightOnTheLastNumber) {
  const ReasoningSpec s = parse_reasoning_spec(json::object());
  EXPECT_EQ(s.strategy, Strategy::kSelfConsistency);
  EXPECT_EQ(s.n, 8);
  EXPECT_DOUBLE_EQ(s.temperature, 0.7);
  EXPECT_EQ(s.extract.kind, ExtractSpec::Kind::kLastNumber);
  EXPECT_FALSE(s.weighted);
}

TEST(ReasoningSpec, BestOfNWithoutAVerifierScoresByLogprob) {
  const ReasoningSpec s = parse_reasoning_spec({{"strategy", "best_of_n"}, {"n", 4}});
  EXPECT_EQ(s.strategy, Strategy::kBestOfN);
  EXPECT_EQ(s.verifier.value("type", ""), "logprob");
}

TEST(ReasoningSpec, BadFieldsAreNamed) {
  EXPECT_EQ(param_of({{"strategy", "tree"}}), "reasoning.strategy");
  EXPECT_EQ(param_of({{"strategy", 3}}), "reasoning.strategy");
  EXPECT_EQ(param_of({{"n", 0}}), "reasoning.n");
  EXPECT_EQ(param_of({{"n", 65}}), "reasoning.n");
  EXPECT_EQ(param_of({{"n", "8"}}), "reasoning.n");
  EXPECT_EQ(param_of({{"n", 2.5}}), "reasoning.n");
  EXPECT_EQ(param_of({{"n", 8.0}}), "(accepted)");  // a whole number written as a float (Python clients)
  EXPECT_EQ(param_of({{"verifier", {{"type", "command"}, {"command", {"/bin/true"}}, {"timeout_ms", 500.0}}}}),
            "(accepted)");
  EXPECT_EQ(param_of({{"verifier", {{"type", "command"}, {"command", {"/bin/true"}}, {"timeout_ms", 0.5}}}}),
            "reasoning.verifier");
  EXPECT_EQ(param_of({{"temperature", -1}}), "reasoning.temperature");
  EXPECT_EQ(param_of({{"threshold", 2}}), "reasoning.threshold");
  EXPECT_EQ(param_of({{"weighted", "yes"}}), "reasoning.weighted");
  EXPECT_EQ(param_of({{"extract", {{"type", "regex"}, {"pattern", "("}}}}), "reasoning.extract");
  EXPECT_EQ(param_of({{"extract", {{"type", "nope"}}}}), "reasoning.extract");
  EXPECT_EQ(param_of({{"verifier", {{"type", "nope"}}}}), "reasoning.verifier");
  EXPECT_EQ(param_of({{"verifier", {{"type", "command"}, {"command", {"/no/such/program"}}}}}), "reasoning.verifier");
  EXPECT_EQ(param_of({{"verifier", "arithmetic"}}), "reasoning.verifier");
  EXPECT_EQ(param_of({{"verifier", {{"type", "arithmetic"}, {"complete", true}}}}), "reasoning.verifier");  // needs grounded
  EXPECT_EQ(param_of({{"verifier", {{"type", "arithmetic"}, {"grounded", true}, {"complete", 1}}}}), "reasoning.verifier");
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"verifier", {{"type", "arithmetic"}, {"grounded", true}, {"complete", true}}}}),
            "(accepted)");
  EXPECT_EQ(param_of({{"strategy", "step_search"}, {"n", 16}, {"expand", 16}}), "reasoning.expand");
  EXPECT_EQ(param_of({{"step_delimiter", ""}}), "reasoning.step_delimiter");
  EXPECT_EQ(param_of({{"sampels", 8}}), "reasoning.sampels");
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"select", "majority"}}), "reasoning.select");
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"select", true}}), "reasoning.select");
  EXPECT_EQ(param_of({{"strategy", "self_consistency"}, {"select", "vote"}}), "reasoning.select");
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"select", "vote"}}), "(accepted)");
  EXPECT_EQ(param_of(json::array()), "reasoning");
  // A judge's "after" is a rule verifier; only a judge has one.
  const json grounded = {{"type", "arithmetic"}, {"grounded", true}};
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"verifier", {{"type", "judge"}, {"after", grounded}}}}), "(accepted)");
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"verifier", {{"type", "arithmetic"}, {"after", grounded}}}}),
            "reasoning.verifier");
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"verifier", {{"type", "judge"}, {"after", {{"type", "judge"}}}}}}),
            "reasoning.verifier");
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"verifier", {{"type", "judge"}, {"after", {{"type", "nope"}}}}}}),
            "reasoning.verifier");
  EXPECT_EQ(param_of({{"strategy", "best_of_n"}, {"verifier", {{"type", "judge"}, {"after", "arithmetic"}}}}),
            "reasoning.verifier");
}

TEST(ReasoningSpec, ModelNameSuffixes) {
  auto sc = parse_model_suffix("sc8");
  ASSERT_TRUE(sc);
  EXPECT_EQ(sc->strategy, Strategy::kSelfConsistency);
  EXPECT_EQ(sc->n, 8);
  EXPECT_FALSE(sc->weighted);
  auto wsc = parse_model_suffix("wsc5");
  ASSERT_TRUE(wsc);
  EXPECT_TRUE(wsc->weighted);
  EXPECT_EQ(wsc->n, 5);
  auto asc = parse_model_suffix("asc16");
  ASSERT_TRUE(asc);
  EXPECT_EQ(asc->strategy, Strategy::kAdaptive);
  auto bon = parse_model_suffix("bon8");
  ASSERT_TRUE(bon);
  EXPECT_EQ(bon->strategy, Strategy::kBestOfN);
  EXPECT_EQ(bon->verifier.value("type", ""), "arithmetic");
  auto bonlp = parse_model_suffix("bon4lp");
  ASSERT_TRUE(bonlp);
  EXPECT_EQ(bonlp->verifier.value("type", ""), "logprob");
  EXPECT_FALSE(bon->verified_vote);
  auto bonv = parse_model_suffix("bonv8");
  ASSERT_TRUE(bonv);
  EXPECT_EQ(bonv->strategy, Strategy::kBestOfN);
  EXPECT_TRUE(bonv->verified_vote);
  EXPECT_EQ(bonv->n, 8);
  EXPECT_TRUE(bonv->verifier.value("grounded", false));
  EXPECT_TRUE(bon->verifier.value("complete", false));
  EXPECT_TRUE(bonv->verifier.value("complete", false));
  auto step = parse_model_suffix("step3");
  ASSERT_TRUE(step);
  EXPECT_EQ(step->strategy, Strategy::kStepSearch);
  EXPECT_EQ(step->n, 3);
  EXPECT_TRUE(step->verifier.value("grounded", false));
  EXPECT_FALSE(step->verifier.contains("complete"));  // partial chains have not used every number yet
  for (const char* not_one : {"", "sc", "scx", "sc8x", "foo8", "sc-1", "q4_k_m", "bonv", "bonv8lp"}) {
    EXPECT_FALSE(parse_model_suffix(not_one)) << not_one;
  }
  EXPECT_THROW(parse_model_suffix("sc1000"), ApiError);
}

}  // namespace
}  // namespace rpu::reasoning
