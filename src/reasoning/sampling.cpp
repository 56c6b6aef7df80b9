#include "reasoning/sampling.h"

#include <algorithm>

#include "pipeline/local_backend.h"

namespace rpu::reasoning {

SampleSource::SampleSource(Backend& inner, const ChatRequest& request, double temperature, int parallel)
    : inner_(inner), request_(request), parallel_(std::max(1, parallel)) {
  request_.model = inner.model_id();
  request_.reasoning = nullptr;
  request_.stream = false;
  request_.sampling.temperature = static_cast<float>(temperature);
  request_.logprobs = true;  // the chosen tokens' log-probabilities score the samples
  request_.top_logprobs = 0;
  seed_ = request.has_seed ? request.sampling.seed : random_seed();
  request_.has_seed = true;
}

SampleSource::SampleSource(Backend& inner, const CompletionRequest& request, double temperature, int parallel)
    : inner_(inner), completion_(request), parallel_(std::max(1, parallel)) {
  completion_->model = inner.model_id();
  completion_->stream = false;
  completion_->echo = false;
  completion_->sampling.temperature = static_cast<float>(temperature);
  completion_->logprobs = 0;
  request_.sampling = completion_->sampling;
  request_.max_tokens = request.max_tokens;
  seed_ = request.has_seed ? request.sampling.seed : random_seed();
}

uint64_t SampleSource::next_seed(int k) {
  // The scheduler gives sample i of a batch seed + i, so batches advance the seed by their size.
  const uint64_t seed = seed_;
  seed_ += static_cast<uint64_t>(k);
  return seed;
}

std::vector<DrawnSample> SampleSource::collect(const CallResult& result) {
  std::vector<DrawnSample> samples;
  for (const ChoiceResult& c : result.choices) {
    DrawnSample s;
    s.text = c.text;
    s.reasoning = c.reasoning;
    s.tool_calls = c.tool_calls;
    s.finish_reason = c.finish_reason;
    s.stopped_by_string = c.stopped_by_string;
    s.tokens = static_cast<int>(c.logprobs.size());
    for (const TokenLogprob& lp : c.logprobs) {
      if (lp.forced) continue;
      s.logprob_sum += lp.constrained_logprob.value_or(lp.chosen.logprob);
      ++s.scored_tokens;
    }
    samples.push_back(std::move(s));
  }
  if (drawn_ == 0) cached_tokens_ = result.usage.cached_tokens;
  completion_tokens_ += result.usage.completion_tokens;
  reasoning_tokens_ += result.usage.reasoning_tokens;
  prompt_tokens_ = std::max(prompt_tokens_, result.usage.prompt_tokens);
  drawn_ += static_cast<int>(samples.size());
  return samples;
}

// Runs `run_batch(n, seed)` for batches of at most `parallel_` samples until k are drawn.
template <typename RunBatch>
std::vector<DrawnSample> SampleSource::in_batches(int k, RunBatch run_batch) {
  std::vector<DrawnSample> all;
  while (k > 0) {
    const int n = std::min(k, parallel_);
    std::vector<DrawnSample> got = collect(run_batch(n, next_seed(n)));
    all.insert(all.end(), std::make_move_iterator(got.begin()), std::make_move_iterator(got.end()));
    k -= n;
  }
  return all;
}

std::vector<DrawnSample> SampleSource::draw(int k) {
  if (completion_) {
    return in_batches(k, [&](int n, uint64_t seed) {
      CompletionRequest batch = *completion_;
      batch.n = n;
      batch.sampling.seed = seed;
      batch.has_seed = true;
      return run_completion(inner_, batch);
    });
  }
  return in_batches(k, [&](int n, uint64_t seed) {
    ChatRequest batch = request_;
    batch.n = n;
    batch.sampling.seed = seed;
    return run_chat(inner_, batch);
  });
}

std::vector<DrawnSample> SampleSource::continue_text(const std::string& prompt, int k, const std::string& stop,
                                                     int max_tokens) {
  return in_batches(k, [&](int n, uint64_t seed) {
    CompletionRequest c;
    c.model = inner_.model_id();
    c.prompts.push_back({prompt, {}, false});
    c.add_special = false;  // the rendered chat prompt carries the template's own BOS
    c.n = n;
    c.max_tokens = max_tokens;
    c.sampling = request_.sampling;
    c.sampling.seed = seed;
    c.has_seed = true;
    c.stop = {stop};
    c.logprobs = 0;
    return run_completion(inner_, c);
  });
}

nlohmann::ordered_json votes_json(const VoteResult& vote) {
  nlohmann::ordered_json votes = nlohmann::ordered_json::object();
  for (const auto& [answer, count] : vote.counts) votes[answer] = count;
  return votes;
}

}  // namespace rpu::reasoning
