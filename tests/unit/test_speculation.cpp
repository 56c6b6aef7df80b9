// Speculative decoding (engine/speculation.h) against oracles: prompt lookup by hand; the
// rejection rule's output distribution against the target's softmax (chi-square); greedy
// output through the scheduler byte-identical with and without guesses (prompt lookup, the
// model as its own draft, a Q8_0 copy as draft); sampled output's distribution of the first
// verified token against the exact marginal computed with the model.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>

#include "core/error.h"
#include "core/rng.h"
#include "engine/scheduler.h"
#include "engine/speculation.h"
#include "io/gguf.h"
#include "model/model.h"
#include "model/quant_plan.h"
#include "model/requantize.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

// Chi-square statistic of observed counts against expected probabilities, bins with an
// expected count under 5 pooled into one; dof = bins - 1.
struct ChiSquare {
  double statistic = 0;
  int dof = 0;
};
ChiSquare chi_square(const std::vector<int>& observed, const std::vector<double>& expected_p, int n) {
  ChiSquare result;
  double pooled_o = 0, pooled_e = 0;
  int bins = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    const double e = expected_p[i] * n;
    if (e < 5) {
      pooled_o += observed[i], pooled_e += e;
      continue;
    }
    result.statistic += (observed[i] - e) * (observed[i] - e) / e;
    ++bins;
  }
  if (pooled_e > 0) {
    result.statistic += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
    ++bins;
  }
  result.dof = bins - 1;
  return result;
}

// The chi-square value exceeded with probability about 1e-4 (Wilson-Hilferty approximation).
double critical_value(int dof) {
  const double k = dof, z = 3.72;
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

std::vector<double> softmax(const std::vector<float>& logits, float temperature) {
  double max_logit = -1e30, sum = 0;
  for (float l : logits) max_logit = std::max(max_logit, static_cast<double>(l));
  std::vector<double> p(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - max_logit) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

TEST(LookupDraft, ContinuesTheMostRecentLongestMatch) {
  // ... 5 6 7 8 | 9 ... 5 6 7 -> the continuation after the latest "5 6 7" is 8 9.
  const std::vector<int32_t> context{1, 5, 6, 7, 8, 9, 3, 5, 6, 7, 4, 2, 5, 6, 7};
  EXPECT_EQ(lookup_draft(context, 1, 3, 4), (std::vector<int32_t>{4, 2, 5, 6}));
  EXPECT_EQ(lookup_draft(context, 1, 3, 2), (std::vector<int32_t>{4, 2}));
  // A copy reaching the end of the context goes on with what it copied: the repeat repeats.
  const std::vector<int32_t> repeat{1, 2, 3, 1, 2};
  EXPECT_EQ(lookup_draft(repeat, 2, 2, 8), (std::vector<int32_t>{3, 1, 2, 3, 1, 2, 3, 1}));
  EXPECT_EQ(lookup_draft(std::vector<int32_t>{9, 7, 7}, 1, 1, 3), (std::vector<int32_t>{7, 7, 7}));
  // No earlier occurrence of the last n-gram (n >= 2): nothing to guess.
  EXPECT_TRUE(lookup_draft(std::vector<int32_t>{1, 2, 3, 4, 2}, 2, 4, 8).empty());
  // n = 1 matches the single last token.
  EXPECT_EQ(lookup_draft(std::vector<int32_t>{1, 2, 3, 4, 2}, 1, 4, 8), (std::vector<int32_t>{3, 4, 2, 3, 4, 2, 3, 4}));
}

// The guess budget: full draft_max at first; doubling after a step that kept every guess; one
// more than kept after a partial one; after a step that kept nothing, 1 guess and a pause of 1,
// 2, 4 ... steps (capped) while the misses go on; no news from a step that guessed nothing.
TEST(DraftBudget, FollowsHowTheGuessesFared) {
  DraftBudget b;
  EXPECT_EQ(b.next(8), 8);
  b.update(8, 3, 8);
  EXPECT_EQ(b.next(8), 4);
  b.update(4, 4, 8);
  EXPECT_EQ(b.next(8), 8);
  b.update(0, 0, 8);
  EXPECT_EQ(b.next(8), 8);
  for (int pause : {1, 2, 4, 8, 16, 32, 32}) {
    b.update(1, 0, 8);
    for (int step = 0; step < pause; ++step) ASSERT_EQ(b.next(8), 0) << "pause " << pause << " step " << step;
    ASSERT_EQ(b.next(8), 1) << "after a pause of " << pause;
  }
  b.update(1, 1, 8);  // a hit ends the run of misses
  EXPECT_EQ(b.next(8), 2);
  b.update(2, 0, 8);
  EXPECT_EQ(b.next(8), 0);
  EXPECT_EQ(b.next(8), 1);
  b.update(1, 1, 8);
  EXPECT_EQ(b.next(3), 2);
  b.update(2, 2, 3);
  EXPECT_EQ(b.next(3), 3);  // never past draft_max
}

TEST(VerifyDraft, GreedyAcceptsOnlyTheArgmax) {
  SamplingParams greedy;
  greedy.temperature = 0;
  Sampler sampler(greedy);
  const std::vector<float> logits{0.1f, 2.0f, 1.9f, -1.0f};
  std::vector<TokenProb> p;
  sampler.distribution(logits, p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].id, 1);
  DraftVerdict v = verify_draft({1, {}}, p, sampler);
  EXPECT_TRUE(v.accepted);
  EXPECT_EQ(v.token, 1);
  v = verify_draft({2, {}}, p, sampler);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.token, 1);  // the token greedy decoding would have chosen
}

// Many verifications of guesses drawn from q: the emitted token must follow p, whatever q is.
class VerifyDistribution : public ::testing::Test {
 protected:
  const std::vector<float> logits_{1.5f, 0.2f, -0.7f, 2.1f, 0.9f, -2.0f, 0.0f, 1.1f};
  static constexpr int kTrials = 40000;

  // Counts of the emitted token over kTrials, the guess drawn from q (a point mass on `fixed`
  // when fixed >= 0).
  std::vector<int> run(const SamplingParams& params, const std::vector<double>& q, int fixed) {
    Sampler sampler(params);
    Rng draft_rng(99);
    std::vector<TokenProb> p, q_probs;
    for (size_t i = 0; i < q.size(); ++i) q_probs.push_back({static_cast<int32_t>(i), static_cast<float>(q[i])});
    std::vector<int> counts(logits_.size(), 0);
    for (int t = 0; t < kTrials; ++t) {
      DraftToken draft;
      if (fixed >= 0) {
        draft.token = fixed;
      } else {
        double r = draft_rng.uniform();
        draft.token = static_cast<int32_t>(q.size() - 1);
        for (size_t i = 0; i < q.size(); ++i) {
          if ((r -= q[i]) < 0) {
            draft.token = static_cast<int32_t>(i);
            break;
          }
        }
        draft.q = q_probs;
      }
      sampler.distribution(logits_, p);
      ++counts[static_cast<size_t>(verify_draft(draft, p, sampler).token)];
    }
    return counts;
  }
};

TEST_F(VerifyDistribution, DraftModelGuessesKeepTheTargetDistribution) {
  SamplingParams params;
  params.temperature = 0.7f;
  params.top_k = 0, params.top_p = 1.0f, params.min_p = 0.0f;
  const std::vector<double> p = softmax(logits_, 0.7f);
  // A draft distribution unlike p: near-uniform with its mass on the target's unlikely tokens.
  const std::vector<double> q{0.05, 0.15, 0.2, 0.05, 0.1, 0.2, 0.15, 0.1};
  const std::vector<int> counts = run(params, q, -1);
  const ChiSquare x = chi_square(counts, p, kTrials);
  EXPECT_LT(x.statistic, critical_value(x.dof)) << "dof " << x.dof;
  // The test can fail: q's own draws (what accepting every guess would emit) are far from p.
  std::vector<int> q_counts(q.size());
  for (size_t i = 0; i < q.size(); ++i) q_counts[i] = static_cast<int>(q[i] * kTrials);
  EXPECT_GT(chi_square(q_counts, p, kTrials).statistic, 10 * critical_value(x.dof));
}

TEST_F(VerifyDistribution, LookupGuessesKeepTheTargetDistribution) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.top_k = 0, params.top_p = 1.0f, params.min_p = 0.0f;
  const std::vector<double> p = softmax(logits_, 1.0f);
  for (int fixed : {0, 3, 5}) {
    const std::vector<int> counts = run(params, {}, fixed);
    const ChiSquare x = chi_square(counts, p, kTrials);
    EXPECT_LT(x.statistic, critical_value(x.dof)) << "guess " << fixed;
  }
}

TEST_F(VerifyDistribution, TruncatedSamplingKeepsTheSamplersDistribution) {
  // top-k 4 at temperature 0.8: p is softmax over the four largest logits (ids 3, 0, 7, 4).
  SamplingParams params;
  params.temperature = 0.8f;
  params.top_k = 4, params.top_p = 1.0f, params.min_p = 0.0f;
  std::vector<float> kept(logits_.size(), -1e30f);
  for (int id : {3, 0, 7, 4}) kept[static_cast<size_t>(id)] = logits_[static_cast<size_t>(id)];
  const std::vector<double> p = softmax(kept, 0.8f);
  const std::vector<double> q{0.3, 0.3, 0.1, 0.05, 0.05, 0.1, 0.05, 0.05};
  const std::vector<int> counts = run(params, q, -1);
  EXPECT_EQ(counts[1] + counts[2] + counts[5] + counts[6], 0);  // never outside the top 4
  const ChiSquare x = chi_square(counts, p, kTrials);
  EXPECT_LT(x.statistic, critical_value(x.dof));
}

// Collects every sample's text and counters.
class Collector {
 public:
  struct Result {
    std::string text, finish_reason;
    int completion_tokens = 0, drafted = 0, accepted = 0;
  };
  EventCallback callback() {
    return [this](const GenerationEvent& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      Result& r = results_[e.index];
      r.text += e.text;
      r.completion_tokens = e.completion_tokens;
      r.drafted = e.drafted_tokens;
      r.accepted = e.accepted_tokens;
      if (!e.finish_reason.empty()) {
        r.finish_reason = e.finish_reason;
        ++finished_;
        done_.notify_all();
      }
    };
  }
  std::map<int, Result> wait_for(int samples) {
    std::unique_lock<std::mutex> lock(mutex_);
    EXPECT_TRUE(done_.wait_for(lock, std::chrono::seconds(120), [&] { return finished_ >= samples; }));
    return results_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::map<int, Result> results_;
  int finished_ = 0;
};

class SpeculativeScheduler : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = Model::load(test::fixture("stories260K/stories260K.gguf")).release();
    tokenizer_ = Tokenizer::from_gguf(model_->file()).release();
    const std::string q8 = test::temp_path("stories260K-q8_0.gguf");
    requantize(test::fixture("stories260K/stories260K.gguf"), q8, *find_quant_scheme("Q8_0"), nullptr);
    q8_ = Model::load(q8).release();
  }
  static void TearDownTestSuite() {
    delete q8_;
    delete tokenizer_;
    delete model_;
  }

  static std::map<int, Collector::Result> generate(const SpeculationOptions& spec, GenerationRequest request,
                                                   int n_seq = 2) {
    SchedulerOptions options;
    options.n_seq = n_seq;
    options.n_ctx = 512;
    options.speculation = spec;
    Scheduler scheduler(*model_, *tokenizer_, options, nullptr);
    Collector collector;
    const int n = request.n;
    scheduler.submit(std::move(request), collector.callback());
    return collector.wait_for(n);
  }
  static GenerationRequest greedy(const std::string& prompt, int max_tokens) {
    GenerationRequest r;
    r.prompt = tokenizer_->encode(prompt, true);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    return r;
  }
  static Model* model_;
  static Model* q8_;
  static Tokenizer* tokenizer_;
};
Model* SpeculativeScheduler::model_ = nullptr;
Model* SpeculativeScheduler::q8_ = nullptr;
Tokenizer* SpeculativeScheduler::tokenizer_ = nullptr;

const char* kRepetitive =
    "Lily went to the park. She saw a big dog. The dog was happy. Lily went to the park. She saw a big";

TEST_F(SpeculativeScheduler, GreedyOutputIsIdenticalWithEveryDrafter) {
  SpeculationOptions lookup;
  lookup.lookup = true;
  lookup.ngram_min = 1;
  SpeculationOptions self;
  self.draft_model = model_;
  SpeculationOptions quantized;
  quantized.draft_model = q8_;
  quantized.draft_max = 4;
  SpeculationOptions both = lookup;
  both.draft_model = q8_;
  for (const char* prompt : {kRepetitive, "Once upon a time"}) {
    const auto plain = generate({}, greedy(prompt, 120));
    ASSERT_EQ(plain.at(0).drafted, 0);
    for (const SpeculationOptions* spec : {&lookup, &self, &quantized, &both}) {
      const auto fast = generate(*spec, greedy(prompt, 120));
      EXPECT_EQ(fast.at(0).text, plain.at(0).text) << prompt;
      EXPECT_EQ(fast.at(0).finish_reason, plain.at(0).finish_reason);
      EXPECT_EQ(fast.at(0).completion_tokens, plain.at(0).completion_tokens);
      EXPECT_GT(fast.at(0).drafted, 0);
      EXPECT_GT(fast.at(0).accepted, 0);
      EXPECT_LE(fast.at(0).accepted, fast.at(0).drafted);
    }
    // The model guessing for itself is right almost every time (near-ties aside).
    const auto self_run = generate(self, greedy(prompt, 120));
    EXPECT_GE(self_run.at(0).accepted, self_run.at(0).drafted * 9 / 10);
  }
}

TEST_F(SpeculativeScheduler, StopRulesAndSeveralSamplesStayExact) {
  SpeculationOptions spec;
  spec.lookup = true;
  spec.ngram_min = 1;
  spec.draft_model = q8_;
  // max_tokens that ends inside a run of accepted guesses, a stop string, n = 3 on 2 slots.
  for (int max_tokens : {1, 2, 7, 33}) {
    GenerationRequest r = greedy(kRepetitive, max_tokens);
    EXPECT_EQ(generate(spec, r).at(0).text, generate({}, r).at(0).text) << max_tokens;
  }
  GenerationRequest stop = greedy(kRepetitive, 200);
  stop.stop = {"dog was"};
  const auto plain = generate({}, stop);
  const auto fast = generate(spec, stop);
  EXPECT_EQ(fast.at(0).text, plain.at(0).text);
  EXPECT_EQ(fast.at(0).finish_reason, "stop");
  // Three greedy samples on two slots (the third runs after a slot frees): each as alone.
  GenerationRequest several = greedy(kRepetitive, 60);
  several.n = 3;
  const auto a = generate({}, several), b = generate(spec, several);
  ASSERT_EQ(b.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b.at(i).text, a.at(i).text) << i;
    EXPECT_GT(b.at(i).drafted, 0) << i;
  }
  // Sampled samples end by their rules too (their text differs from a run without guesses:
  // acceptance tests draw from the same stream).
  several.sampling.temperature = 0.9f;
  several.sampling.seed = 5;
  for (const auto& [index, r] : generate(spec, several)) {
    EXPECT_EQ(r.finish_reason, r.completion_tokens == 60 ? "length" : "stop") << index;
  }
}

TEST_F(SpeculativeScheduler, ConstrainedAndLogprobRequestsDoNotGuess) {
  SpeculationOptions spec;
  spec.lookup = true;
  spec.ngram_min = 1;
  GenerationRequest logprobs = greedy(kRepetitive, 30);
  logprobs.top_logprobs = 2;
  const auto result = generate(spec, logprobs);
  EXPECT_EQ(result.at(0).drafted, 0);
  EXPECT_EQ(result.at(0).text, generate({}, greedy(kRepetitive, 30)).at(0).text);
}

TEST_F(SpeculativeScheduler, RefusesADraftWithAnotherVocabulary) {
  // The same model with one token's text changed: same size, another vocabulary.
  const GgufFile source = GgufFile::open(test::fixture("stories260K/stories260K.gguf"));
  std::vector<std::string> tokens;
  for (const GgufValue& t : source.require("tokenizer.ggml.tokens").as_array()) tokens.push_back(t.as_string());
  tokens[300] += "x";
  GgufWriter writer;
  writer.copy_from(source);
  writer.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
  const std::string path = test::temp_path("other-vocab.gguf");
  writer.write(path);
  const auto other = Model::load(path);
  SchedulerOptions options;
  options.n_ctx = 256;
  options.speculation.draft_model = other.get();
  try {
    Scheduler scheduler(*model_, *tokenizer_, options, nullptr);
    FAIL() << "a draft with another vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.tokens differs"), std::string::npos) << e.what();
  }
  // The built-in model shares the fixture's 512-token vocabulary, so it may draft for it.
  const auto builtin = Model::load(std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf");
  options.speculation.draft_model = builtin.get();
  EXPECT_NO_THROW(Scheduler(*model_, *tokenizer_, options, nullptr));
}

// Sampled output with prompt lookup: the text of the first two generated tokens (the second
// decided by verifying a guess whenever the first token occurs in the prompt) must follow the
// model's exact joint distribution p(t1) p(t2 | t1), computed with a plain forward pass.
TEST_F(SpeculativeScheduler, SampledOutputKeepsTheModelsDistribution) {
  const std::vector<int32_t> prompt = tokenizer_->encode(kRepetitive, true);
  const size_t n_vocab = static_cast<size_t>(model_->config().n_vocab);
  ForwardPass oracle(*model_, 256);
  const std::span<const float> first = oracle.eval(prompt);
  const std::vector<double> p1 = softmax({first.begin(), first.end()}, 1.0f);
  std::map<std::string, double> expected;  // the two tokens' text -> probability
  for (size_t t1 = 0; t1 < n_vocab; ++t1) {
    if (p1[t1] < 1e-6) continue;
    oracle.rewind(static_cast<int>(prompt.size()));
    const int32_t token = static_cast<int32_t>(t1);
    const std::span<const float> l = oracle.eval({&token, 1});
    const std::vector<double> p2 = softmax({l.begin(), l.end()}, 1.0f);
    for (size_t t2 = 0; t2 < n_vocab; ++t2) {
      TextStream text(*tokenizer_, false);
      const std::string a = text.push(token);
      expected[a + text.push(static_cast<int32_t>(t2))] += p1[t1] * p2[t2];
    }
  }

  SchedulerOptions options;
  options.n_seq = 16;
  options.n_ctx = 256;
  options.max_queue = 1000;
  options.speculation.lookup = true;
  options.speculation.ngram_min = 1;
  Scheduler scheduler(*model_, *tokenizer_, options, nullptr);
  std::mutex mutex;
  std::condition_variable done;
  std::map<std::pair<int, int>, std::string> texts;  // (request, sample) -> its first two tokens' text
  int finished = 0, drafted = 0;
  constexpr int kRequests = 40, kSamples = 100;
  for (int r = 0; r < kRequests; ++r) {
    GenerationRequest request;
    request.prompt = prompt;
    request.max_tokens = 3;  // the first token from the prompt, then one verified step
    request.n = kSamples;
    request.ignore_eos = true;
    request.sampling.temperature = 1.0f;
    request.sampling.top_k = 0, request.sampling.top_p = 1.0f, request.sampling.min_p = 0.0f;
    request.sampling.seed = 1000 + static_cast<uint64_t>(r) * kSamples;
    scheduler.submit(request, [&, r](const GenerationEvent& e) {
      std::lock_guard<std::mutex> lock(mutex);
      if (e.completion_tokens <= 2) texts[{r, e.index}] += e.text;
      if (e.finish_reason.empty()) return;
      drafted += e.drafted_tokens;
      ++finished;
      done.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  ASSERT_TRUE(done.wait_for(lock, std::chrono::seconds(300), [&] { return finished == kRequests * kSamples; }));
  EXPECT_GT(drafted, kRequests * kSamples / 10);  // many samples verified a guess
  std::map<std::string, int> observed;
  for (const auto& [key, text] : texts) ++observed[text];
  std::vector<int> counts;
  std::vector<double> probabilities;
  for (const auto& [text, p] : expected) {
    counts.push_back(observed.count(text) ? observed[text] : 0);
    probabilities.push_back(p);
  }
  int known = 0;
  for (int c : counts) known += c;
  EXPECT_EQ(known, kRequests * kSamples) << "a sample's text is not any two tokens' text";
  const ChiSquare x = chi_square(counts, probabilities, kRequests * kSamples);
  EXPECT_LT(x.statistic, critical_value(x.dof)) << "dof " << x.dof;
}

}  // namespace
}  // namespace rpu
