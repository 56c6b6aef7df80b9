// The scheduler's encoder steps (scheduler.h): a bert-style model has no KV cache and samples
// nothing, so a step is one batched forward pass over whole inputs. Embedding inputs are taken
// oldest first, at most n_seq of them within the step's token budget; a rerank request's
// (query, document) pairs are taken across requests in order until the budget is spent, and a
// request hears its scores when its last pair is scored.
#include <algorithm>
#include <exception>
#include <mutex>

#include "engine/cross_encoder.h"
#include "engine/scheduler.h"
#include "engine/scheduler_state.h"

namespace rpu {

void Scheduler::run_encoder_step() {
  if (reranker_only()) {
    run_rank_step();
    return;
  }
  // The oldest queued inputs, at most n_seq and within the step's token budget (at least one).
  std::vector<std::unique_ptr<Request>> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t tokens = 0;
    while (!queue_.empty() && static_cast<int>(batch.size()) < options_.n_seq) {
      const size_t size = queue_.front()->params.prompt.size();
      if (!batch.empty() && tokens + size > static_cast<size_t>(options_.step_token_budget)) break;
      tokens += size;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    stats_.queued = static_cast<int>(queue_.size());
    stats_.active_sequences = static_cast<int>(batch.size());
    stats_.prompt_tokens += tokens;
  }
  if (batch.empty()) return;
  std::vector<std::vector<int32_t>> inputs;
  inputs.reserve(batch.size());
  for (const auto& r : batch) inputs.push_back(std::move(r->params.prompt));
  std::vector<std::vector<float>> embeddings;
  try {
    embeddings = encoder_->embed(inputs);
  } catch (const std::exception&) {
    // Inputs were validated on submit, so this is an engine fault: the callers hear of it.
    embeddings.assign(batch.size(), {});
  }
  {
    // Counted before the callers hear of their results.
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.active_sequences = 0;
    ++stats_.steps;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i]->on_embedding) batch[i]->on_embedding(std::move(embeddings[i]), static_cast<int>(inputs[i].size()));
  }
}

std::vector<std::vector<int32_t>> Scheduler::take_pairs(std::vector<std::pair<Request*, size_t>>& owners) {
  std::vector<std::vector<int32_t>> inputs;
  size_t tokens = 0;
  const size_t budget = static_cast<size_t>(options_.step_token_budget);
  for (size_t i = 0;; ++i) {
    if (i == running_.size()) {
      // Requests wait in the queue (and count against its limit) until a step reaches them.
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty()) break;
      running_.push_back(std::move(queue_.front()));
      queue_.pop_front();
      stats_.queued = static_cast<int>(queue_.size());
    }
    Request& r = *running_[i];
    while (r.pairs_taken < r.pairs.size()) {
      std::vector<int32_t>& pair = r.pairs[r.pairs_taken];
      if (!inputs.empty() && tokens + pair.size() > budget) return inputs;
      tokens += pair.size();
      owners.emplace_back(&r, r.pairs_taken++);
      inputs.push_back(std::move(pair));
    }
  }
  return inputs;
}

void Scheduler::run_rank_step() {
  std::vector<std::pair<Request*, size_t>> owners;
  const std::vector<std::vector<int32_t>> inputs = take_pairs(owners);
  if (inputs.empty()) return;
  size_t tokens = 0;
  for (const auto& input : inputs) tokens += input.size();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.active_sequences = static_cast<int>(inputs.size());
    stats_.prompt_tokens += tokens;
  }
  std::vector<std::vector<float>> outputs;
  bool failed = false;
  try {
    outputs = encoder_->classify(inputs);  // [pairs][n_cls_out]; output 0 is the relevance
  } catch (const std::exception&) {
    failed = true;  // pairs were validated on submit, so this is an engine fault
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.active_sequences = 0;
    ++stats_.steps;
  }
  for (size_t i = 0; i < owners.size(); ++i) {
    auto [r, pair] = owners[i];
    r->pair_tokens += static_cast<int>(inputs[i].size());
    if (failed) {
      if (r->unfinished > 0 && r->on_scores) r->on_scores({}, r->pair_tokens);
      r->unfinished = 0;
    } else {
      r->scores[pair] = outputs[i].at(0);
    }
  }
  for (auto& r : running_) {
    if (r->unfinished == 0 || r->pairs_taken < r->pairs.size()) continue;
    r->unfinished = 0;
    if (r->on_scores) r->on_scores(std::move(r->scores), r->pair_tokens);
  }
  std::erase_if(running_, [](const std::unique_ptr<Request>& r) { return r->unfinished == 0; });
}

}  // namespace rpu
