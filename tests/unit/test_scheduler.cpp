// The continuous-batching scheduler against single-sequence oracles: the fixture model's
// golden text, the same request served alone, and exact bookkeeping (slots, queue, cache).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"
#include "engine/scheduler.h"
#include "model/forward.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

// Collects the events of many requests and waits for their samples to finish.
class Collector {
 public:
  EventCallback callback(int request) {
    return [this, request](const GenerationEvent& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      Result& r = results_[{request, e.index}];
      r.text += e.text;
      r.events += 1;
      r.logprobs += static_cast<int>(e.logprobs.size());
      r.completion_tokens = e.completion_tokens;
      r.cached_tokens = e.cached_tokens;
      if (!e.finish_reason.empty()) {
        r.finish_reason = e.finish_reason;
        ++finished_;
        done_.notify_all();
      }
    };
  }
  void wait_for(int samples) {
    std::unique_lock<std::mutex> lock(mutex_);
    ASSERT_TRUE(done_.wait_for(lock, std::chrono::seconds(120), [&] { return finished_ >= samples; }))
        << "only " << finished_ << " of " << samples << " samples finished";
  }
  struct Result {
    std::string text, finish_reason;
    int events = 0, logprobs = 0, completion_tokens = 0, cached_tokens = 0;
  };
  Result get(int request, int index = 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    return results_[{request, index}];
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::map<std::pair<int, int>, Result> results_;
  int finished_ = 0;
};

// Every token's log-probabilities of one request's (single) sample, once it finished.
std::vector<TokenLogprob> collect_logprobs(Scheduler& scheduler, const GenerationRequest& r) {
  std::vector<TokenLogprob> seen;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  scheduler.submit(r, [&](const GenerationEvent& e) {
    std::lock_guard<std::mutex> lock(m);
    seen.insert(seen.end(), e.logprobs.begin(), e.logprobs.end());
    if (!e.finish_reason.empty()) done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(m);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(120), [&] { return done; }));
  return seen;
}

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = Model::load(test::fixture("stories260K/stories260K.gguf")).release();
    tokenizer_ = Tokenizer::from_gguf(model_->file()).release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete model_;
  }
  static GenerationRequest greedy(const std::string& prompt, int max_tokens) {
    GenerationRequest r;
    r.prompt = tokenizer_->encode(prompt, true);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    return r;
  }
  static Model* model_;
  static Tokenizer* tokenizer_;
};
Model* SchedulerTest::model_ = nullptr;
Tokenizer* SchedulerTest::tokenizer_ = nullptr;

TEST_F(SchedulerTest, GreedyOutputMatchesTheReferenceImplementation) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 2, .n_ctx = 256}, &pool);
  Collector c;
  GenerationRequest r = greedy("Once upon a time", 0);
  // The golden run is 64 tokens after BOS, prompt included (llama2.c's steps).
  r.max_tokens = 64 - static_cast<int>(r.prompt.size() - 1);
  scheduler.submit(r, c.callback(0));
  c.wait_for(1);
  const std::string golden = test::read_file(test::fixture("stories260K/golden/greedy_onceuponatime_n64.txt"));
  EXPECT_EQ("Once upon a time" + c.get(0).text + "\n", golden);
  EXPECT_EQ(c.get(0).finish_reason, "length");
  EXPECT_EQ(c.get(0).completion_tokens, r.max_tokens);
}

// The end-of-generation token was sampled and has a log-probability entry, so it is a completion
// token too (as vLLM and llama-server count it): entries and usage agree for every finish.
TEST_F(SchedulerTest, TheEndOfGenerationTokenIsACompletionToken) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 2, .n_ctx = 256}, &pool);
  Collector c;
  GenerationRequest ends_now = greedy("Once upon a time", 20);
  ends_now.top_logprobs = 0;
  ends_now.sampling.logit_bias = {{tokenizer_->vocab().eos, 100.0f}};
  GenerationRequest runs_out = greedy("Once upon a time", 5);
  runs_out.top_logprobs = 0;
  scheduler.submit(ends_now, c.callback(0));
  scheduler.submit(runs_out, c.callback(1));
  c.wait_for(2);
  EXPECT_EQ(c.get(0).finish_reason, "stop");
  EXPECT_EQ(c.get(0).text, "");
  EXPECT_EQ(c.get(0).logprobs, 1);
  EXPECT_EQ(c.get(0).completion_tokens, 1);
  EXPECT_EQ(c.get(1).finish_reason, "length");
  EXPECT_EQ(c.get(1).logprobs, 5);
  EXPECT_EQ(c.get(1).completion_tokens, 5);
}

TEST_F(SchedulerTest, BatchedRequestsEqualTheSameRequestsServedAlone) {
  const std::vector<std::string> prompts = {"Lily went to the", "Once upon a time", "The dog", "Tom and Sue",
                                            "One day, a little", "The sun was", "She", "He wanted to play with the big"};
  ThreadPool pool(2);
  std::vector<std::string> alone(prompts.size());
  {
    Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 1, .n_ctx = 256}, &pool);
    for (size_t i = 0; i < prompts.size(); ++i) {
      Collector c;
      scheduler.submit(greedy(prompts[i], 40 + static_cast<int>(i)), c.callback(0));
      c.wait_for(1);
      alone[i] = c.get(0).text;
    }
  }
  // Four slots, eight requests at once, small prefill chunks: requests join mid-flight and
  // prompts are split across steps.
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 4, .n_ctx = 256, .prefill_chunk = 3}, &pool);
  Collector c;
  for (size_t i = 0; i < prompts.size(); ++i) {
    scheduler.submit(greedy(prompts[i], 40 + static_cast<int>(i)), c.callback(static_cast<int>(i)));
  }
  c.wait_for(static_cast<int>(prompts.size()));
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(c.get(static_cast<int>(i)).text, alone[i]) << prompts[i];
    EXPECT_EQ(c.get(static_cast<int>(i)).completion_tokens, 40 + static_cast<int>(i));
  }
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.active_sequences, 0);
  EXPECT_EQ(stats.queued, 0);
}

TEST_F(SchedulerTest, SamplesOfOneRequestShareThePromptAndDiffer) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 4, .n_ctx = 256}, &pool);
  Collector c;
  GenerationRequest r = greedy("Once upon a time", 30);
  r.n = 3;
  r.sampling.temperature = 1.0f;
  r.sampling.top_k = 0;
  r.sampling.top_p = 1.0f;
  r.sampling.min_p = 0.0f;
  r.sampling.seed = 42;
  scheduler.submit(r, c.callback(0));
  c.wait_for(3);
  // Sample i is seeded seed + i: it equals a single sample with that seed.
  for (int i = 0; i < 3; ++i) {
    Collector one;
    GenerationRequest single = r;
    single.n = 1;
    single.sampling.seed = 42 + static_cast<uint64_t>(i);
    scheduler.submit(single, one.callback(0));
    one.wait_for(1);
    EXPECT_EQ(c.get(0, i).text, one.get(0).text) << "sample " << i;
  }
  EXPECT_NE(c.get(0, 0).text, c.get(0, 1).text);
  EXPECT_NE(c.get(0, 1).text, c.get(0, 2).text);
}

TEST_F(SchedulerTest, MoreSamplesThanSlotsRunInPartsAsOneSet) {
  ThreadPool pool(2);
  // Two slots and room for one waiting request: the five samples queue as one request.
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 2, .n_ctx = 256, .max_queue = 1}, &pool);
  Collector c;
  GenerationRequest r = greedy("Once upon a time", 20);
  r.n = 5;
  r.sampling.temperature = 1.0f;
  r.sampling.top_k = 0;
  r.sampling.min_p = 0.0f;
  r.sampling.seed = 7;
  scheduler.submit(r, c.callback(0));
  c.wait_for(5);
  // Sample i is still seeded seed + i, whichever part it ran in.
  std::set<std::string> distinct;
  for (int i = 0; i < 5; ++i) {
    Collector one;
    GenerationRequest single = r;
    single.n = 1;
    single.sampling.seed = 7 + static_cast<uint64_t>(i);
    scheduler.submit(single, one.callback(0));
    one.wait_for(1);
    EXPECT_EQ(c.get(0, i).text, one.get(0).text) << "sample " << i;
    EXPECT_EQ(c.get(0, i).finish_reason.empty(), false) << "sample " << i;
    distinct.insert(c.get(0, i).text);
  }
  EXPECT_GE(distinct.size(), 4u);
  while (scheduler.stats().active_sequences != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(scheduler.stats().queued, 0);
}

TEST_F(SchedulerTest, PrefixCacheReusesASharedPromptWithoutChangingTheOutput) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 2, .n_ctx = 256}, &pool);
  Collector first, second;
  scheduler.submit(greedy("Once upon a time, there was a little girl named Lily. She", 20), first.callback(0));
  first.wait_for(1);
  const GenerationRequest again = greedy("Once upon a time, there was a little girl named Lily. She", 20);
  scheduler.submit(again, second.callback(0));
  second.wait_for(1);
  EXPECT_EQ(first.get(0).cached_tokens, 0);
  EXPECT_EQ(second.get(0).cached_tokens, static_cast<int>(again.prompt.size()) - 1);
  EXPECT_EQ(first.get(0).text, second.get(0).text);
  EXPECT_EQ(scheduler.stats().cached_prompt_tokens, again.prompt.size() - 1);
}

TEST_F(SchedulerTest, StopStringsEndTheSampleAndAreNotReturned) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 1, .n_ctx = 256}, &pool);
  Collector plain, stopped;
  scheduler.submit(greedy("Once upon a time", 60), plain.callback(0));
  plain.wait_for(1);
  const std::string full = plain.get(0).text;
  // Stop at the second word boundary that the unconstrained output contains.
  const std::string stop = full.substr(full.find(' ', 5), 4);
  GenerationRequest r = greedy("Once upon a time", 60);
  r.stop = {"zzzz-never", stop};
  scheduler.submit(r, stopped.callback(0));
  stopped.wait_for(1);
  EXPECT_EQ(stopped.get(0).text, full.substr(0, full.find(stop)));
  EXPECT_EQ(stopped.get(0).finish_reason, "stop");
}

TEST_F(SchedulerTest, LogprobsAccompanyEveryTokenAndSumToAtMostOne) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 1, .n_ctx = 256}, &pool);
  GenerationRequest r = greedy("The dog", 12);
  r.top_logprobs = 5;
  const std::vector<TokenLogprob> seen = collect_logprobs(scheduler, r);
  ASSERT_EQ(seen.size(), 12u);
  for (const TokenLogprob& lp : seen) {
    ASSERT_EQ(lp.top.size(), 5u);
    // Greedy: the chosen token is the most probable one.
    EXPECT_EQ(lp.chosen.token, lp.top[0].token);
    EXPECT_FLOAT_EQ(lp.chosen.logprob, lp.top[0].logprob);
    double total = 0;
    for (size_t i = 0; i < lp.top.size(); ++i) {
      total += std::exp(lp.top[i].logprob);
      if (i > 0) {
        EXPECT_LE(lp.top[i].logprob, lp.top[i - 1].logprob);
      }
    }
    EXPECT_LE(total, 1.0 + 1e-5);
  }
}

// A decode step on this small model runs as lanes (model/forward.h), and each lane's samples
// draw their tokens in the lane's thread (Scheduler::presample). The draws (each sample's own
// seeded sampler) and their log-probabilities must be those of the serial path, without a pool.
TEST_F(SchedulerTest, TokensDrawnInDecodeLanesEqualTheSerialDraws) {
  struct Drawn {
    std::map<int, std::string> text;
    std::map<int, std::vector<float>> logprobs;  // chosen, then the top 3, per token
  };
  auto serve = [&](ThreadPool* pool) {
    Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 6, .n_ctx = 256}, pool);
    GenerationRequest r = greedy("Once upon a time", 40);
    r.n = 6;
    r.sampling.temperature = 1.0f;
    r.sampling.seed = 7;
    r.top_logprobs = 3;
    Drawn drawn;
    std::mutex m;
    std::condition_variable cv;
    int finished = 0;
    scheduler.submit(r, [&](const GenerationEvent& e) {
      std::lock_guard<std::mutex> lock(m);
      drawn.text[e.index] += e.text;
      for (const TokenLogprob& lp : e.logprobs) {
        drawn.logprobs[e.index].push_back(lp.chosen.logprob);
        for (const TokenProbability& t : lp.top) drawn.logprobs[e.index].push_back(t.logprob);
      }
      if (!e.finish_reason.empty()) ++finished;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(m);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(120), [&] { return finished == 6; }));
    return drawn;
  };
  ThreadPool pool(2);
  const Drawn lanes = serve(&pool);
  const Drawn serial = serve(nullptr);
  ASSERT_EQ(lanes.text.size(), 6u);
  std::set<std::string> distinct;
  for (const auto& [index, text] : serial.text) {
    EXPECT_EQ(lanes.text.at(index), text) << "sample " << index;
    EXPECT_EQ(lanes.logprobs.at(index), serial.logprobs.at(index)) << "sample " << index;
    distinct.insert(text);
  }
  EXPECT_GT(distinct.size(), 1u);  // sampled, not six copies of one text
}

// A constraint that allows, at step i, only the tokens of steps[i], and ends after the last step.
class StepSetConstraint : public TokenConstraint {
 public:
  explicit StepSetConstraint(std::vector<std::vector<int32_t>> steps) : steps_(std::move(steps)) {}
  void mask_logits(std::span<float> logits) const override {
    const std::vector<int32_t>& allowed = steps_[step_];
    for (size_t id = 0; id < logits.size(); ++id) {
      if (std::find(allowed.begin(), allowed.end(), static_cast<int32_t>(id)) == allowed.end()) {
        logits[id] = -std::numeric_limits<float>::infinity();
      }
    }
  }
  bool accept(int32_t) override { return ++step_ <= steps_.size(); }
  bool can_continue() const override { return step_ < steps_.size(); }

 private:
  std::vector<std::vector<int32_t>> steps_;
  size_t step_ = 0;
};

// Under a constraint each token also carries its log-probability among the tokens the
// constraint allowed (the cascade's confidence reads it, gateway/cascade.h). Oracle: the whole
// unconstrained distribution at the same position (top_logprobs = the vocabulary).
TEST_F(SchedulerTest, ConstrainedTokensCarryTheirProbabilityAmongTheAllowedOnes) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 2, .n_ctx = 256}, &pool);
  const int n_vocab = model_->config().n_vocab;
  auto first_token = [&](const GenerationRequest& r) {
    const std::vector<TokenLogprob> seen = collect_logprobs(scheduler, r);
    EXPECT_FALSE(seen.empty());
    return seen.empty() ? TokenLogprob{} : seen.front();
  };
  GenerationRequest free = greedy("The dog", 1);
  free.top_logprobs = n_vocab;
  const TokenLogprob whole = first_token(free);
  ASSERT_EQ(whole.top.size(), static_cast<size_t>(n_vocab));
  EXPECT_FALSE(whole.constrained_logprob.has_value());  // no constraint, nothing to add
  EXPECT_FALSE(whole.forced);
  std::map<int32_t, float> logprob;
  for (const TokenProbability& t : whole.top) logprob[t.token] = t.logprob;

  // Three allowed tokens, none of them the model's favourite: greedy takes the best of them.
  const std::vector<int32_t> allowed = {whole.top[5].token, whole.top[9].token, whole.top[20].token};
  GenerationRequest three = greedy("The dog", 1);
  three.top_logprobs = 0;
  three.make_constraint = [allowed] { return std::make_unique<StepSetConstraint>(std::vector<std::vector<int32_t>>{allowed}); };
  const TokenLogprob picked = first_token(three);
  EXPECT_EQ(picked.chosen.token, allowed[0]);
  EXPECT_NEAR(picked.chosen.logprob, logprob[allowed[0]], 1e-4);  // still the unconstrained one
  double mass = 0;
  for (int32_t id : allowed) mass += std::exp(static_cast<double>(logprob[id]));
  ASSERT_TRUE(picked.constrained_logprob.has_value());
  EXPECT_NEAR(*picked.constrained_logprob, logprob[allowed[0]] - std::log(mass), 1e-4);
  EXPECT_GT(*picked.constrained_logprob, picked.chosen.logprob);
  EXPECT_FALSE(picked.forced);

  // One allowed token: forced, certain under the constraint however unlikely it was.
  GenerationRequest one = greedy("The dog", 1);
  one.top_logprobs = 0;
  const int32_t only = whole.top[40].token;
  one.make_constraint = [only] { return std::make_unique<StepSetConstraint>(std::vector<std::vector<int32_t>>{{only}}); };
  const TokenLogprob forced = first_token(one);
  EXPECT_EQ(forced.chosen.token, only);
  EXPECT_NEAR(forced.chosen.logprob, logprob[only], 1e-4);
  EXPECT_EQ(forced.constrained_logprob.value_or(-1.0f), 0.0f);
  EXPECT_TRUE(forced.forced);
}

// A constraint that allows every token and then fails, as a grammar too ambiguous for the
// text so far does (GrammarTooLarge from GrammarMatcher::accept).
class FailingConstraint : public TokenConstraint {
 public:
  explicit FailingConstraint(int fail_at) : fail_at_(fail_at) {}
  void mask_logits(std::span<float>) const override {}
  bool accept(int32_t) override {
    if (++accepted_ == fail_at_) fail("the constraint gave up at token {}", accepted_);
    return true;
  }
  bool can_continue() const override { return true; }

 private:
  int fail_at_;
  int accepted_ = 0;
};

TEST_F(SchedulerTest, AFailingConstraintEndsOnlyItsOwnSample) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 4, .n_ctx = 256}, &pool);
  std::string alone;
  {
    Collector c;
    scheduler.submit(greedy("The dog", 30), c.callback(0));
    c.wait_for(1);
    alone = c.get(0).text;
  }
  // Two samples with the failing constraint and an unconstrained request, decoded in the same steps.
  Collector c;
  GenerationRequest constrained = greedy("Once upon a time", 30);
  constrained.n = 2;
  constrained.make_constraint = [] { return std::make_unique<FailingConstraint>(5); };
  scheduler.submit(constrained, c.callback(0));
  scheduler.submit(greedy("The dog", 30), c.callback(1));
  c.wait_for(3);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(c.get(0, i).finish_reason, "error");
    EXPECT_NE(c.get(0, i).text.find("the constraint gave up at token 5"), std::string::npos) << c.get(0, i).text;
  }
  EXPECT_EQ(c.get(1).finish_reason, "length");
  EXPECT_EQ(c.get(1).text, alone);
  // The scheduler goes on serving, and the failed samples' slots were freed.
  Collector after;
  scheduler.submit(greedy("The dog", 30), after.callback(0));
  after.wait_for(1);
  EXPECT_EQ(after.get(0).text, alone);
  EXPECT_EQ(scheduler.stats().active_sequences, 0);
}

TEST_F(SchedulerTest, CancelFreesTheSlotAndQueueOverflowIsRefused) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 1, .n_ctx = 512, .max_queue = 1}, &pool);
  Collector c;
  GenerationRequest endless = greedy("Once upon a time", -1);
  endless.ignore_eos = true;
  const uint64_t running = scheduler.submit(endless, c.callback(0));
  // Wait until it holds the only slot, then fill the queue.
  while (scheduler.stats().active_sequences == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  scheduler.submit(greedy("The dog", 5), c.callback(1));
  EXPECT_THROW(scheduler.submit(greedy("The cat", 5), c.callback(2)), QueueFullError);
  scheduler.cancel(running);
  c.wait_for(1);  // the queued request now runs to completion
  EXPECT_EQ(c.get(1).finish_reason, "length");
  EXPECT_TRUE(c.get(0).finish_reason.empty());  // a cancelled request gets no final event
  while (scheduler.stats().active_sequences != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST_F(SchedulerTest, RejectsRequestsThatCanNeverRun) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 2, .n_ctx = 16}, &pool);
  Collector c;
  EXPECT_THROW(scheduler.submit(greedy("Once upon a time there was a very long prompt that does not fit", 4),
                                c.callback(0)),
               ContextLengthError);
  GenerationRequest too_many = greedy("Hi", 4);
  too_many.n = Scheduler::kMaxSamples + 1;
  EXPECT_THROW(scheduler.submit(too_many, c.callback(0)), Error);
  GenerationRequest bad_token = greedy("Hi", 4);
  bad_token.prompt.push_back(100000);
  try {
    scheduler.submit(bad_token, c.callback(0));
    ADD_FAILURE() << "an out-of-vocabulary token was accepted";
  } catch (const ContextLengthError&) {
    ADD_FAILURE() << "an out-of-vocabulary token is not a context-length problem";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("100000"), std::string::npos) << e.what();
  }
  EXPECT_THROW(scheduler.submit(GenerationRequest{}, c.callback(0)), Error);
}

// Prompt log-probabilities (echo + logprobs) against a single-sequence oracle: the prompt's
// logits from one ForwardPass, log-softmaxed. The prompt spans several scored chunks, is sent
// twice (the second time its prefix is cached and must not be reused) and with n = 2 (each
// sample's first event carries the entries), and continuing it still decodes as without.
TEST_F(SchedulerTest, PromptLogprobsEqualTheModelsOwnOverTheWholePrompt) {
  std::string text;
  for (int i = 0; i < 12; ++i) text += "Lily went to the park with her mom and they saw a big dog. ";
  GenerationRequest r = greedy(text, 6);
  ASSERT_GT(r.prompt.size(), static_cast<size_t>(2 * Scheduler::kScoredPrefillChunk));
  const size_t n_vocab = static_cast<size_t>(model_->config().n_vocab);
  ForwardPass oracle(*model_, 512, nullptr);
  const std::span<const float> rows = oracle.eval(r.prompt, /*all_logits=*/true);
  std::vector<double> want(r.prompt.size(), 0.0);
  for (size_t p = 1; p < r.prompt.size(); ++p) {
    const std::span<const float> row = rows.subspan((p - 1) * n_vocab, n_vocab);
    double sum = 0;
    const float max_logit = *std::max_element(row.begin(), row.end());
    for (float l : row) sum += std::exp(static_cast<double>(l - max_logit));
    want[p] = row[static_cast<size_t>(r.prompt[p])] - max_logit - std::log(sum);
  }

  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 3, .n_ctx = 512}, &pool);
  const std::string plain_text = [&] {
    Collector c;
    scheduler.submit(r, c.callback(0));
    c.wait_for(1);
    return c.get(0).text;
  }();
  r.prompt_logprobs = 2;
  r.n = 2;
  for (int round = 0; round < 2; ++round) {
    std::mutex m;
    std::map<int, std::vector<TokenLogprob>> first_event;
    std::map<int, std::string> texts;
    std::map<int, int> cached;
    Collector c;
    const EventCallback collect = c.callback(0);
    scheduler.submit(r, [&](const GenerationEvent& e) {
      {
        std::lock_guard<std::mutex> lock(m);
        if (!first_event.count(e.index)) first_event[e.index] = e.prompt_logprobs;
        else EXPECT_TRUE(e.prompt_logprobs.empty()) << "only a sample's first event carries them";
        texts[e.index] += e.text;
        cached[e.index] = e.cached_tokens;
      }
      collect(e);
    });
    c.wait_for(2);
    for (int sample = 0; sample < 2; ++sample) {
      SCOPED_TRACE(::testing::Message() << "round " << round << " sample " << sample);
      const std::vector<TokenLogprob>& got = first_event[sample];
      ASSERT_EQ(got.size(), r.prompt.size());
      EXPECT_TRUE(std::isnan(got[0].chosen.logprob));
      EXPECT_EQ(cached[sample], 0);
      for (size_t p = 0; p < got.size(); ++p) {
        ASSERT_EQ(got[p].chosen.token, r.prompt[p]) << "position " << p;
        if (p == 0) continue;
        ASSERT_NEAR(got[p].chosen.logprob, want[p], 1e-4) << "position " << p;
        ASSERT_EQ(got[p].top.size(), 2u);
        EXPECT_GE(got[p].top[0].logprob, got[p].chosen.logprob - 1e-6) << "position " << p;
      }
      EXPECT_EQ(texts[sample], plain_text);  // greedy: both samples continue as without scoring
    }
  }
}

// max_tokens 0: the prompt scored, nothing generated, the sample ends at once ("length").
TEST_F(SchedulerTest, NoNewTokensEndsAfterThePrompt) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 2, .n_ctx = 128}, &pool);
  GenerationRequest r = greedy("Once upon a time", 0);
  r.prompt_logprobs = 0;
  r.top_logprobs = 0;
  std::vector<TokenLogprob> prompt, generated;
  Collector c;
  const EventCallback collect = c.callback(0);
  scheduler.submit(r, [&](const GenerationEvent& e) {
    prompt.insert(prompt.end(), e.prompt_logprobs.begin(), e.prompt_logprobs.end());
    generated.insert(generated.end(), e.logprobs.begin(), e.logprobs.end());
    collect(e);
  });
  c.wait_for(1);
  EXPECT_EQ(c.get(0).finish_reason, "length");
  EXPECT_EQ(c.get(0).text, "");
  EXPECT_EQ(c.get(0).completion_tokens, 0);
  EXPECT_EQ(prompt.size(), r.prompt.size());
  EXPECT_TRUE(generated.empty());
  GenerationRequest too_many = r;
  too_many.prompt_logprobs = 21;
  EXPECT_THROW(scheduler.submit(too_many, c.callback(1)), Error);
}

TEST_F(SchedulerTest, EmbeddingsAreUnitLengthAndIndependentOfBatching) {
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 3, .n_ctx = 128, .prefill_chunk = 4}, &pool);
  std::mutex m;
  std::condition_variable cv;
  std::map<int, std::vector<float>> got;
  auto submit = [&](int key, const std::string& text) {
    scheduler.submit_embedding(tokenizer_->encode(text, true), [&, key](std::vector<float> e, int) {
      std::lock_guard<std::mutex> lock(m);
      got[key] = std::move(e);
      cv.notify_all();
    });
  };
  submit(0, "The cat sat on the mat.");
  submit(1, "Once upon a time there was a girl.");
  submit(2, "The cat sat on the mat.");
  GenerationRequest busy = greedy("Lily", 30);  // decoding alongside the embeddings
  Collector c;
  scheduler.submit(busy, c.callback(0));
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return got.size() == 3; });
  }
  c.wait_for(1);
  double norm = 0;
  for (float x : got[0]) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_EQ(got[0].size(), static_cast<size_t>(model_->config().n_embd));
  EXPECT_EQ(got[0], got[2]);
  EXPECT_NE(got[0], got[1]);
}

}  // namespace
}  // namespace rpu
