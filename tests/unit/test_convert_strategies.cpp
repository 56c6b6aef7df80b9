// S4 with reasoning strategies (src/convert/strategies.h, select.h): the strategy table's rows
// per cluster shape, each accepted by the reasoning layer's own parser (what the gateway will
// send); the pick rule (score, then samples per call, then p50) on hand-made results; and the
// built-in model evaluated on a handful of logged arithmetic calls greedily, with
// self-consistency and with best-of-N: each pair's samples per call is its strategy's n, its
// confidences are the strategy's (vote shares: multiples of 1/5), every call's score is the
// metric applied to the answer it returned, and the best pair is the one the rule picks. On a
// cluster of labels the built-in model answers nothing right, so no strategy is tried there.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "convert/select.h"
#include "convert/strategies.h"
#include "core/error.h"
#include "reasoning/spec.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

std::vector<std::string> names_of(const std::vector<StrategyChoice>& choices) {
  std::vector<std::string> names;
  for (const auto& c : choices) names.push_back(c.name);
  return names;
}

TEST(ConvertStrategiesTest, TheTableFitsTheClusterAndEveryRowParses) {
  const auto numeric = strategies_for(MetricKind::kFinalNumber);
  EXPECT_EQ(names_of(numeric), (std::vector<std::string>{"greedy", "sc5", "bon5", "bon16"}));
  EXPECT_TRUE(numeric[0].reasoning.is_null());
  EXPECT_EQ(numeric[1].reasoning["strategy"], "self_consistency");
  EXPECT_EQ(numeric[1].reasoning["n"], 5);
  EXPECT_FALSE(numeric[1].reasoning.contains("extract")) << "numbers vote on their last number (the default)";
  EXPECT_EQ(numeric[2].reasoning["strategy"], "best_of_n");
  EXPECT_EQ(numeric[2].reasoning["verifier"], (json{{"type", "arithmetic"}, {"grounded", true}}));
  EXPECT_EQ(numeric[3].reasoning["verifier"], (json{{"type", "arithmetic"}, {"grounded", true}, {"complete", true}}));
  EXPECT_EQ(describe_strategy(numeric[3].reasoning), "best-of-16, grounded and complete arithmetic verifier");

  for (MetricKind kind : {MetricKind::kExact, MetricKind::kJsonFields, MetricKind::kToolCall}) {
    const auto rows = strategies_for(kind);
    EXPECT_EQ(names_of(rows), (std::vector<std::string>{"greedy", "sc5"})) << metric_name(kind);
    EXPECT_EQ(rows[1].reasoning["extract"], (json{{"type", "text"}})) << "whole answers vote";
  }
  // Every row is a request the reasoning layer accepts, with the n the table says.
  for (MetricKind kind : {MetricKind::kExact, MetricKind::kFinalNumber}) {
    for (const auto& row : strategies_for(kind)) {
      if (row.reasoning.is_null()) continue;
      const reasoning::ReasoningSpec spec = reasoning::parse_reasoning_spec(row.reasoning);
      EXPECT_EQ(spec.n, row.name == "bon16" ? 16 : 5) << row.name;
    }
  }
  EXPECT_EQ(names_of(strategies_for(MetricKind::kFinalNumber, {"bon5"})), (std::vector<std::string>{"greedy", "bon5"}));
  EXPECT_EQ(names_of(strategies_for(MetricKind::kExact, {"bon5"})), std::vector<std::string>{"greedy"})
      << "best-of-N with the arithmetic verifier is for numeric clusters only";
  try {
    strategies_for(MetricKind::kExact, {"sc9"});
    FAIL() << "an unknown strategy was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown strategy 'sc9' (one of: greedy, sc5, bon5, bon16)"), std::string::npos) << e.what();
  }
}

TEST(ConvertStrategiesTest, DominantMetricIsTheMostCommonAnswerShape) {
  std::vector<LoggedCall> calls(5);
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i].answer = {{"role", "assistant"}, {"content", i < 3 ? "3 + 4 = 7. The answer is 7." : "billing"}};
  }
  std::vector<const LoggedCall*> all;
  for (const auto& c : calls) all.push_back(&c);
  EXPECT_EQ(dominant_metric(all), MetricKind::kFinalNumber);
  all.resize(1);
  all.push_back(&calls[3]);
  all.push_back(&calls[4]);
  EXPECT_EQ(dominant_metric(all), MetricKind::kExact);
  EXPECT_EQ(dominant_metric({}), MetricKind::kExact);
}

CandidateResult result(const std::string& strategy, double score, double samples, double p50) {
  CandidateResult r;
  r.name = "m";
  r.strategy = strategy;
  r.evaluation.mean_score = score;
  r.evaluation.samples_per_call = samples;
  r.evaluation.latency_p50_ms = p50;
  return r;
}

TEST(ConvertStrategiesTest, PickBestChargesSamplesOnlyBetweenEqualScores) {
  EXPECT_EQ(pick_best({}), -1);
  // A higher score wins whatever it costs.
  EXPECT_EQ(pick_best({result("greedy", 0.4, 1, 10), result("bon5", 0.8, 5, 90)}), 1);
  // Equal scores: fewer samples per call wins, even when slower.
  EXPECT_EQ(pick_best({result("sc5", 0.6, 5, 10), result("greedy", 0.6, 1, 50)}), 1);
  // Equal scores and samples: the faster p50; then the earlier.
  EXPECT_EQ(pick_best({result("sc5", 0.6, 5, 80), result("bon5", 0.6, 5, 70)}), 1);
  EXPECT_EQ(pick_best({result("sc5", 0.6, 5, 70), result("bon5", 0.6, 5, 70)}), 0);
}

TEST(ConvertStrategiesTest, StrategyReasonComparesWithTheSameModelsGreedyAnswers) {
  json entries = json::array();
  for (const auto& r : {result("greedy", 0.4, 1, 20), result("sc5", 0.5, 5, 60), result("bon5", 0.8, 5, 70)}) {
    entries.push_back(candidate_json(r));
  }
  entries[2]["reasoning"] = strategies_for(MetricKind::kFinalNumber)[2].reasoning;
  const std::string why = strategy_reason(entries, entries[2]);
  EXPECT_NE(why.find("m with bon5 (best-of-5, grounded arithmetic verifier): 0.800 vs 0.400 greedy"), std::string::npos) << why;
  EXPECT_NE(why.find("5.0 samples"), std::string::npos) << why;
  // Greedy chosen over higher-scoring strategies (its route kept more calls local) says so.
  const std::string greedy = strategy_reason(entries, entries[0]);
  EXPECT_NE(greedy.find("m greedy 0.400: other strategies (sc5 0.500 at 5.0 samples per call, bon5 0.800"),
            std::string::npos)
      << greedy;
  entries[0]["score"] = 0.9;
  const std::string best = strategy_reason(entries, entries[0]);
  EXPECT_NE(best.find("m greedy 0.900: no strategy scored higher (sc5 0.500"), std::string::npos) << best;
}

// Logged arithmetic calls in the built-in model's own answer format (as tests/e2e's tiny log).
std::vector<LoggedCall> arithmetic_calls(int n) {
  std::mt19937 rng(11);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<LoggedCall> calls;
  for (int i = 0; i < n; ++i) {
    const int a = pick(10, 50), b = pick(1, 30);
    LoggedCall c;
    c.id = i + 1;
    c.messages = json::array({{{"role", "user"},
                               {"content", "Mia has " + std::to_string(a) + " apples. She buys " + std::to_string(b) +
                                               " more. How many apples does Mia have now?"}}});
    c.answer = {{"role", "assistant"},
                {"content", std::to_string(a) + " + " + std::to_string(b) + " = " + std::to_string(a + b) +
                                ". The answer is " + std::to_string(a + b) + "."}};
    c.from_teacher = true;
    calls.push_back(c);
  }
  return calls;
}

// x is k / n for a whole k.
bool multiple_of(double x, double n) { return std::abs(n * x - std::round(n * x)) < 1e-9; }

TEST(ConvertStrategiesTest, BuiltinModelEvaluatedWithEachStrategyOnArithmeticCalls) {
  const auto calls = arithmetic_calls(6);
  std::vector<const LoggedCall*> held_out;
  for (const auto& c : calls) held_out.push_back(&c);
  auto builtin = open_local_model(Model::load(std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf"), "builtin", 2, 2);
  SelectOptions so;
  so.evaluate.max_tokens = 64;
  so.strategies = strategies_for(dominant_metric(held_out));
  const Selection s = select_model(held_out, {{"builtin", builtin->backend.get(), 2}}, so);
  ASSERT_EQ(s.candidates.size(), 4u);
  EXPECT_TRUE(s.not_tried.empty());
  for (size_t i = 0; i < s.candidates.size(); ++i) {
    const CandidateResult& r = s.candidates[i];
    const double n = i == 0 ? 1.0 : r.strategy == "bon16" ? 16.0 : 5.0;
    EXPECT_EQ(r.strategy, so.strategies[i].name);
    EXPECT_EQ(r.reasoning, so.strategies[i].reasoning);
    EXPECT_DOUBLE_EQ(r.evaluation.samples_per_call, n) << r.strategy;
    double mean = 0;
    for (const CallScore& c : r.evaluation.calls) {
      EXPECT_TRUE(c.error.empty()) << r.strategy << ": " << c.error;
      EXPECT_EQ(c.metric, "final_number");
      // The score is the metric applied to the answer the pair returned.
      const AnswerScore again = score_answer(MetricKind::kFinalNumber, calls[static_cast<size_t>(c.id - 1)].answer,
                                             {{"role", "assistant"}, {"content", c.answer}});
      EXPECT_DOUBLE_EQ(c.score, again.value) << r.strategy << " on call " << c.id;
      EXPECT_GE(c.confidence, 0.0);
      EXPECT_LE(c.confidence, 1.0);
      // Greedy: a token probability; strategies: a share of their n samples.
      if (i > 0) {
        EXPECT_TRUE(multiple_of(c.confidence, n)) << r.strategy << " confidence " << c.confidence;
      }
      EXPECT_GT(c.completion_tokens, 0);
      mean += c.score;
    }
    EXPECT_NEAR(r.evaluation.mean_score, mean / static_cast<double>(calls.size()), 1e-12);
    std::printf("builtin %-6s score %.3f, %.1f samples and %.0f tokens per call, p50 %.0f ms\n", r.strategy.c_str(),
                r.evaluation.mean_score, r.evaluation.samples_per_call, r.evaluation.completion_tokens_per_call,
                r.evaluation.latency_p50_ms);
  }
  // Five samples cost more tokens than one answer.
  EXPECT_GT(s.candidates[1].evaluation.completion_tokens_per_call, s.candidates[0].evaluation.completion_tokens_per_call);
  EXPECT_GT(s.candidates[0].evaluation.mean_score, 0) << "the built-in model answers easy sums";
  EXPECT_EQ(s.best, pick_best(s.candidates));
  const json j = selection_json(s);
  EXPECT_EQ(j["best_strategy"], s.candidates[static_cast<size_t>(s.best)].strategy);
  EXPECT_FALSE(j["strategy_reason"].get<std::string>().empty());

  // Labels the built-in model never gives: its greedy answers score 0, no strategy is tried.
  std::vector<LoggedCall> labels(3);
  std::vector<const LoggedCall*> label_calls;
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i].id = static_cast<int64_t>(i + 1);
    labels[i].messages = json::array({{{"role", "user"}, {"content", "Classify: my invoice is wrong. One label."}}});
    labels[i].answer = {{"role", "assistant"}, {"content", "billing_dispute"}};
    label_calls.push_back(&labels[i]);
  }
  so.strategies = strategies_for(dominant_metric(label_calls));
  const Selection none = select_model(label_calls, {{"builtin", builtin->backend.get(), 2}}, so);
  ASSERT_EQ(none.candidates.size(), 1u);
  EXPECT_EQ(none.candidates[0].strategy, "greedy");
  EXPECT_EQ(none.candidates[0].evaluation.mean_score, 0);
  ASSERT_EQ(none.not_tried.size(), 1u);
  EXPECT_NE(none.not_tried[0].find("builtin: sc5"), std::string::npos) << none.not_tried[0];
}

}  // namespace
}  // namespace rpu::convert

namespace rpu::convert {
namespace {

// S5's start: the generalist unless another model's best entry (any strategy) scored higher.
TEST(ConvertFineTuneStart, TheBestScoringModelUnderAnyStrategyTiesKeepThePreferred) {
  const json entries = json::parse(R"([
    {"name": "builtin", "model": "builtin", "strategy": "greedy", "score": 0.40},
    {"name": "builtin", "model": "builtin", "strategy": "bon16", "score": 0.70},
    {"name": "generalist", "model": "/w/generalist/model.gguf", "strategy": "greedy", "score": 0.45},
    {"name": "generalist", "model": "/w/generalist/model.gguf", "strategy": "bon16", "score": 0.65}])");
  const auto start = fine_tune_start(entries, "generalist", "/w/generalist/model.gguf");
  EXPECT_EQ(start.first, "builtin");
  EXPECT_EQ(start.second, "builtin");
  json tie = entries;
  tie[3]["score"] = 0.70;
  EXPECT_EQ(fine_tune_start(tie, "generalist", "/w/generalist/model.gguf").first, "generalist");
  EXPECT_EQ(fine_tune_start(json::array(), "generalist", "/g.gguf").second, "/g.gguf");
  // A candidate file that beats both.
  json file = entries;
  file.push_back({{"name", "qwen.gguf"}, {"model", "/m/qwen.gguf"}, {"strategy", "greedy"}, {"score", 0.9}});
  EXPECT_EQ(fine_tune_start(file, "generalist", "/w/generalist/model.gguf").second, "/m/qwen.gguf");
}

}  // namespace
}  // namespace rpu::convert
