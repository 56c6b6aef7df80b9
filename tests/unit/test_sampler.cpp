// Sampler behaviour against closed-form expectations: argmax, truncation sets, the
// softmax distribution at a temperature, penalties, and seed reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "decode/sampler.h"

namespace rpu {
namespace {

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::map<int32_t, int> histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::map<int32_t, int> counts;
  for (int i = 0; i < draws; ++i) ++counts[sampler.sample(logits)];
  return counts;
}

TEST(SamplerTest, GreedyPicksArgmaxAndLowestIdOnTies) {
  Sampler sampler(plain(0.0f));
  EXPECT_EQ(sampler.sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f}), 1);
  EXPECT_EQ(sampler.sample(std::vector<float>{5.0f, 1.0f, 5.0f}), 0);
}

// OpenAI's logit_bias is added to the logit: draws follow softmax(logits + bias), greedy
// picks the biased argmax, and -100 in effect bans a token.
TEST(SamplerTest, LogitBiasShiftsTheDistribution) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f};
  SamplingParams greedy = plain(0.0f);
  greedy.logit_bias = {{0, 1.5f}};
  EXPECT_EQ(Sampler(greedy).sample(logits), 0);
  greedy.logit_bias = {{1, -100.0f}, {7, 50.0f}};  // ids past the logits are ignored here
  EXPECT_EQ(Sampler(greedy).sample(logits), 0);
  SamplingParams params = plain(1.0f);
  params.seed = 99;
  params.logit_bias = {{2, 1.0f}};
  Sampler sampler(params);
  const int draws = 40000;
  const auto counts = histogram(sampler, logits, draws);
  const std::vector<double> shifted = {1.0, 2.0, 1.5};
  double total = 0;
  for (double l : shifted) total += std::exp(l);
  for (size_t i = 0; i < shifted.size(); ++i) {
    const double p = std::exp(shifted[i]) / total;
    const auto it = counts.find(static_cast<int32_t>(i));
    EXPECT_NEAR(it == counts.end() ? 0 : it->second, draws * p, 5 * std::sqrt(draws * p * (1 - p)) + 1) << i;
  }
  SamplingParams bad = plain(1.0f);
  bad.logit_bias = {{-1, 1.0f}};
  EXPECT_THROW(bad.validate(), Error);
  bad.logit_bias = {{1, 101.0f}};
  EXPECT_THROW(bad.validate(), Error);
}

// Frequencies at temperature T follow softmax(logits / T): each count is within 5 standard
// deviations of its binomial expectation (a fixed seed makes the test deterministic).
TEST(SamplerTest, DrawsFollowTemperedSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
  for (float temperature : {0.5f, 1.0f, 2.0f}) {
    SamplingParams params = plain(temperature);
    params.seed = 1234;
    Sampler sampler(params);
    const int draws = 40000;
    const auto counts = histogram(sampler, logits, draws);
    double total = 0;
    std::vector<double> p;
    for (float l : logits) total += std::exp(l / temperature);
    for (float l : logits) p.push_back(std::exp(l / temperature) / total);
    for (size_t i = 0; i < logits.size(); ++i) {
      const double expected = draws * p[i];
      const double sd = std::sqrt(draws * p[i] * (1 - p[i]));
      const auto it = counts.find(static_cast<int32_t>(i));
      const double got = it == counts.end() ? 0 : it->second;
      EXPECT_NEAR(got, expected, 5 * sd + 1) << "token " << i << " at temperature " << temperature;
    }
  }
}

TEST(SamplerTest, TopKKeepsOnlyTheKBest) {
  SamplingParams params = plain(1.0f);
  params.top_k = 2;
  Sampler sampler(params);
  const auto counts = histogram(sampler, {0.0f, 3.0f, 1.0f, 2.9f, -5.0f}, 2000);
  for (const auto& [id, n] : counts) EXPECT_TRUE(id == 1 || id == 3) << "token " << id << " drawn " << n;
  EXPECT_EQ(counts.size(), 2u);
}

TEST(SamplerTest, TopPKeepsTheSmallestNucleus) {
  // Probabilities 0.5, 0.3, 0.2: top-p 0.7 needs the first two (0.5 < 0.7 <= 0.8).
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingParams params = plain(1.0f);
  params.top_p = 0.7f;
  Sampler sampler(params);
  const auto counts = histogram(sampler, logits, 3000);
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_EQ(counts.size(), 2u);
  // The survivors are renormalised: 0.5/0.8 and 0.3/0.8.
  EXPECT_NEAR(counts.at(0) / 3000.0, 0.625, 0.05);
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheBest) {
  // Probabilities 0.5, 0.3, 0.15, 0.05; min-p 0.25 keeps p >= 0.125: tokens 0, 1, 2.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams params = plain(1.0f);
  params.min_p = 0.25f;
  Sampler sampler(params);
  const auto counts = histogram(sampler, logits, 4000);
  EXPECT_EQ(counts.count(3), 0u);
  EXPECT_EQ(counts.size(), 3u);
}

// Large vocabularies take a partial-sort path: its nucleus must be the one a full sort gives,
// both when the nucleus is small and when it is wider than the first partial sort (flat logits).
TEST(SamplerTest, TopPAndMinPOnLargeVocabulariesMatchAFullSort) {
  for (const float spread : {40.0f, 0.05f}) {
    std::vector<float> logits(3000);
    uint64_t state = 99;
    for (float& l : logits) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      l = spread * static_cast<float>((state >> 33) % 100000) / 100000.0f;
    }
    // The nucleus by full sort: the smallest prefix whose probability reaches top_p.
    std::vector<int32_t> order(logits.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] || (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
    });
    double total = 0;
    for (float l : logits) total += std::exp(static_cast<double>(l - logits[static_cast<size_t>(order[0])]));
    const float top_p = 0.6f;
    std::set<int32_t> nucleus;
    double cumulative = 0;
    for (int32_t id : order) {
      nucleus.insert(id);
      cumulative += std::exp(static_cast<double>(logits[static_cast<size_t>(id)] - logits[static_cast<size_t>(order[0])])) / total;
      if (cumulative >= top_p) break;
    }
    SamplingParams params = plain(1.0f);
    params.top_p = top_p;
    params.seed = 5;
    Sampler sampler(params);
    const auto counts = histogram(sampler, logits, 4000);
    for (const auto& [id, n] : counts) EXPECT_TRUE(nucleus.count(id)) << "token " << id << " is outside the nucleus";
    if (spread > 1.0f) {
      EXPECT_LT(nucleus.size(), 512u);
    } else {
      EXPECT_GT(nucleus.size(), 512u);  // the partial sort had to grow
      EXPECT_GT(counts.size(), nucleus.size() / 2);
    }
    // min-p alone: kept tokens have p >= min_p * p_max.
    SamplingParams mp = plain(1.0f);
    mp.min_p = 0.5f;
    Sampler min_p_sampler(mp);
    const float best = logits[static_cast<size_t>(order[0])];
    for (const auto& [id, n] : histogram(min_p_sampler, logits, 1000)) {
      EXPECT_GE(std::exp(logits[static_cast<size_t>(id)] - best), 0.5f - 1e-6f) << "token " << id;
    }
  }
}

// Top-k (the default sampler: k 40, top-p 0.95, min-p 0.05) on a 49k vocabulary with many tied
// logits, against a full sort by (logit desc, id asc): the same tokens in the same order with
// the tempered softmax of the kept ones. The oracle is built here, not by the sampler.
TEST(SamplerTest, TopKOnALargeVocabularyWithTiesMatchesAFullSort) {
  std::vector<float> logits(49152);
  uint64_t state = 7;
  for (float& l : logits) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    l = static_cast<float>((state >> 33) % 300) / 20.0f;  // 300 distinct values: ties everywhere
  }
  for (int top_k : {1, 40, 1000}) {
    SamplingParams params = plain(0.7f);
    params.top_k = top_k;
    std::vector<int32_t> order(logits.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
    });
    order.resize(static_cast<size_t>(top_k));
    double total = 0;
    std::vector<double> expected;
    for (int32_t id : order) {
      expected.push_back(std::exp((logits[static_cast<size_t>(id)] - logits[static_cast<size_t>(order[0])]) / 0.7));
      total += expected.back();
    }
    Sampler sampler(params);
    std::vector<TokenProb> got;
    sampler.distribution(logits, got);
    ASSERT_EQ(got.size(), order.size()) << "top_k " << top_k;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].id, order[i]) << "top_k " << top_k << " rank " << i;
      EXPECT_NEAR(got[i].prob, expected[i] / total, 1e-6) << "top_k " << top_k << " rank " << i;
    }
  }
}

TEST(SamplerTest, SameSeedSameStreamDifferentSeedDifferentStream) {
  const std::vector<float> logits(50, 0.0f);  // uniform: every draw is pure randomness
  auto stream = [&](uint64_t seed) {
    SamplingParams params = plain(1.0f);
    params.seed = seed;
    Sampler sampler(params);
    std::vector<int32_t> ids;
    for (int i = 0; i < 64; ++i) ids.push_back(sampler.sample(logits));
    return ids;
  };
  EXPECT_EQ(stream(7), stream(7));
  EXPECT_NE(stream(7), stream(8));
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingParams params = plain(0.0f);
  params.repeat_penalty = 2.0f;
  Sampler sampler(params);
  // Token 0 (logit 3) is penalised to 1.5 < 2: token 1 wins.
  sampler.accept(0);
  EXPECT_EQ(sampler.sample(std::vector<float>{3.0f, 2.0f}), 1);
  // Negative logits get more negative: -1 -> -2 loses against -1.5.
  Sampler negative(params);
  negative.accept(0);
  EXPECT_EQ(negative.sample(std::vector<float>{-1.0f, -1.5f}), 1);
}

TEST(SamplerTest, PenaltiesOnlySeeTheLastNTokens) {
  SamplingParams params = plain(0.0f);
  params.repeat_penalty = 10.0f;
  params.repeat_last_n = 2;
  Sampler sampler(params);
  sampler.accept(0);
  sampler.accept(1);
  sampler.accept(1);  // token 0 has left the window
  EXPECT_EQ(sampler.sample(std::vector<float>{3.0f, 2.9f}), 0);
}

TEST(SamplerTest, FrequencyAndPresencePenaltiesFollowOpenAIFormula) {
  // logit - count * frequency - presence: token 0 seen 3 times: 5 - 3*1 - 0.5 = 1.5 < 1.6.
  SamplingParams params = plain(0.0f);
  params.frequency_penalty = 1.0f;
  params.presence_penalty = 0.5f;
  Sampler sampler(params);
  for (int i = 0; i < 3; ++i) sampler.accept(0);
  EXPECT_EQ(sampler.sample(std::vector<float>{5.0f, 1.6f}), 1);
  Sampler less(params);
  for (int i = 0; i < 3; ++i) less.accept(0);
  EXPECT_EQ(less.sample(std::vector<float>{5.0f, 1.4f}), 0);
}

TEST(SamplerTest, InvalidParametersAreRejected) {
  auto bad = [](auto tweak) {
    SamplingParams p;
    tweak(p);
    EXPECT_THROW(Sampler{p}, Error);
  };
  bad([](SamplingParams& p) { p.temperature = -0.1f; });
  bad([](SamplingParams& p) { p.temperature = NAN; });
  bad([](SamplingParams& p) { p.top_p = 0.0f; });
  bad([](SamplingParams& p) { p.top_p = 1.5f; });
  bad([](SamplingParams& p) { p.min_p = -0.1f; });
  bad([](SamplingParams& p) { p.repeat_penalty = 0.0f; });
  bad([](SamplingParams& p) { p.repeat_last_n = -1; });
  bad([](SamplingParams& p) { p.frequency_penalty = 3.0f; });
  bad([](SamplingParams& p) { p.presence_penalty = -2.5f; });
  Sampler ok{SamplingParams{}};
  EXPECT_THROW(ok.sample(std::vector<float>{}), Error);
}

}  // namespace
}  // namespace rpu
