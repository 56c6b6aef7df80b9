#include "engine/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/cross_encoder.h"
#include "engine/sample_output.h"
#include "engine/scheduler_state.h"

namespace rpu {

namespace {

constexpr float kBlocked = -std::numeric_limits<float>::infinity();

// log(sum(exp(logits))) over the logits not at -inf (a constraint's blocked tokens; -inf when
// every one is), and how many those are: one pass for the maximum and the count, one for the sum.
struct LogNormalizer {
  double log_sum = kBlocked;
  size_t finite = 0;
};
LogNormalizer log_normalizer(std::span<const float> logits) {
  LogNormalizer n;
  float max_logit = kBlocked;
  for (float l : logits) {
    max_logit = std::max(max_logit, l);
    n.finite += l != kBlocked;
  }
  if (n.finite == 0) return n;
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max_logit));  // exp(-inf) = 0
  n.log_sum = max_logit + std::log(sum);
  return n;
}

// The chosen token's log-probability and the top alternatives under softmax(logits).
TokenLogprob token_logprob(std::span<const float> logits, int32_t chosen, int top, const Tokenizer& tokenizer) {
  const double log_norm = log_normalizer(logits).log_sum;
  auto entry = [&](int32_t id) {
    return TokenProbability{id, tokenizer.token_to_piece(id),
                            static_cast<float>(logits[static_cast<size_t>(id)] - log_norm)};
  };
  TokenLogprob result;
  result.chosen = entry(chosen);
  if (top > 0) {
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    const size_t k = std::min(ids.size(), static_cast<size_t>(top));
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), [&](int32_t a, int32_t b) {
      return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
    });
    for (size_t i = 0; i < k; ++i) result.top.push_back(entry(ids[i]));
  }
  return result;
}

// Adds to `lp` the chosen token's log-probability under a constraint: the softmax over the
// tokens it allowed (`masked`: the logits with forbidden tokens at -inf), and whether only one was.
void add_constrained(TokenLogprob& lp, std::span<const float> masked, int32_t chosen) {
  const float own = masked[static_cast<size_t>(chosen)];
  if (own == kBlocked) return;  // not an allowed token: no distribution to read it in
  const LogNormalizer allowed = log_normalizer(masked);
  lp.constrained_logprob = static_cast<float>(own - allowed.log_sum);
  lp.forced = allowed.finite == 1;
}

}  // namespace

Scheduler::Scheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options, ThreadPool* pool)
    : model_(model),
      tokenizer_(tokenizer),
      options_(options),
      slots_(static_cast<size_t>(options.n_seq)) {
  if (options.prefill_chunk < 1) fail("prefill chunk must be at least 1, got {}", options.prefill_chunk);
  if (options.max_queue < 0) fail("queue size must be >= 0, got {}", options.max_queue);
  options_.step_token_budget = std::max(options.step_token_budget, options.n_seq + 1);
  if (model.config().arch->encoder) {
    if (options.lora != nullptr) fail("LoRA adapters apply to decoder models only");
    if (options.speculation.enabled()) fail("speculative decoding applies to decoder models only");
    encoder_ = std::make_unique<EncoderForward>(model, pool, options.pooling);
    if (encoder_->pooling() == Pooling::kRank) check_cross_encoder(model);  // scores need its head
    slots_.clear();
  } else {
    if (options.pooling.has_value()) fail("a pooling choice applies to encoder models only");
    forward_ = std::make_unique<BatchForward>(model, options.n_ctx, options.n_seq, pool, options.cache_types);
    forward_->set_lora(options.lora);
    const SpeculationOptions& spec = options.speculation;
    if (spec.enabled()) spec.validate();
    if (spec.draft_model != nullptr) {
      check_draft_vocabulary(model, *spec.draft_model);
      draft_ = std::make_unique<DraftModel>(*spec.draft_model, options.n_ctx, options.n_seq, pool);
    }
  }
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Scheduler::validate_prompt(const std::vector<int32_t>& prompt) const {
  if (prompt.empty()) fail("the prompt has no tokens");
  if (encoder_ != nullptr) {
    // An encoder reads its input whole, with no room needed for an answer.
    const int limit = max_input_tokens();
    if (static_cast<int>(prompt.size()) > limit) {
      throw ContextLengthError(
          fmt::format("the input has {} tokens but this model reads at most {}", prompt.size(), limit));
    }
  } else if (static_cast<int>(prompt.size()) >= options_.n_ctx) {
    throw ContextLengthError(
        fmt::format("the prompt has {} tokens but the context of a sequence holds {} (room is needed for the answer)",
                    prompt.size(), options_.n_ctx));
  }
  const int32_t n_vocab = model_.config().n_vocab;
  for (int32_t id : prompt) {
    if (id < 0 || id >= n_vocab) fail("token id {} is outside the vocabulary (0..{})", id, n_vocab - 1);
  }
}

int Scheduler::max_input_tokens() const {
  return encoder_ != nullptr ? std::min(options_.n_ctx, encoder_->max_tokens()) : options_.n_ctx;
}

uint64_t Scheduler::submit(GenerationRequest request, EventCallback on_event) {
  if (encoder_ != nullptr) fail("'{}' is an embedding model: it cannot generate text", model_.file().path());
  validate_prompt(request.prompt);
  if (request.first_index < 0) fail("first_index must be >= 0, got {}", request.first_index);
  if (request.n < 1 || request.n > kMaxSamples) fail("n must be between 1 and {}, got {}", kMaxSamples, request.n);
  request.sampling.validate();
  if (request.prompt_logprobs > 20) fail("prompt_logprobs must be at most 20, got {}", request.prompt_logprobs);
  // More samples than slots run as consecutive parts of one set (queued together, sharing the
  // id; later parts reuse the prompt's cached KV): indexes and seeds are those of the whole set.
  auto shared_event = std::make_shared<EventCallback>(std::move(on_event));
  std::vector<std::unique_ptr<Request>> parts;
  for (int first = 0; first < request.n; first += options_.n_seq) {
    auto r = std::make_unique<Request>();
    r->params = request;
    r->params.first_index = request.first_index + first;
    r->params.n = std::min(options_.n_seq, request.n - first);
    r->on_event = [shared_event](const GenerationEvent& e) { (*shared_event)(e); };
    parts.push_back(std::move(r));
  }
  return enqueue(std::move(parts));
}

uint64_t Scheduler::enqueue(std::vector<std::unique_ptr<Request>> parts) {
  const uint64_t id = next_id_++;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (static_cast<int>(queue_.size()) >= options_.max_queue) {
      throw QueueFullError(fmt::format("the server is busy: {} requests are already waiting", queue_.size()));
    }
    for (auto& r : parts) {
      r->id = id;
      queue_.push_back(std::move(r));
    }
    stats_.queued = static_cast<int>(queue_.size());
  }
  wake_.notify_all();
  return id;
}

uint64_t Scheduler::submit_embedding(std::vector<int32_t> tokens, EmbeddingCallback on_done) {
  if (reranker_only()) {
    fail("'{}' is a cross-encoder (pooling rank): it scores pairs and has no embeddings", model_.file().path());
  }
  validate_prompt(tokens);
  auto r = std::make_unique<Request>();
  r->params.prompt = std::move(tokens);
  r->params.max_tokens = 0;
  r->on_embedding = std::move(on_done);
  std::vector<std::unique_ptr<Request>> parts;
  parts.push_back(std::move(r));
  return enqueue(std::move(parts));
}

uint64_t Scheduler::submit_rerank(std::vector<std::vector<int32_t>> pairs, ScoreCallback on_done) {
  if (!reranker_only()) {
    fail("'{}' is not a cross-encoder (an encoder with pooling type rank): it cannot score pairs", model_.file().path());
  }
  if (pairs.empty()) fail("no pairs to score");
  for (size_t i = 0; i < pairs.size(); ++i) {
    try {
      validate_prompt(pairs[i]);
    } catch (const ContextLengthError& e) {
      throw ContextLengthError(fmt::format("pair {}: {}", i, e.what()));
    } catch (const Error& e) {
      fail("pair {}: {}", i, e.what());
    }
  }
  auto r = std::make_unique<Request>();
  r->scores.assign(pairs.size(), 0.0f);
  r->pairs = std::move(pairs);
  r->on_scores = std::move(on_done);
  r->unfinished = 1;  // until every pair is scored (drop_cancelled erases requests at 0)
  std::vector<std::unique_ptr<Request>> parts;
  parts.push_back(std::move(r));
  return enqueue(std::move(parts));
}

void Scheduler::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.push_back(id);
  }
  wake_.notify_all();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Scheduler::run() {
  std::vector<SequenceChunk> chunks;
  std::vector<Sample*> chunk_samples;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !running_.empty() || !cancelled_.empty(); });
      if (stopping_) return;
    }
    drop_cancelled();
    if (encoder_ != nullptr) {
      run_encoder_step();
      continue;
    }
    admit();
    if (!build_batch(chunks, chunk_samples)) continue;
    try {
      presampled_.assign(chunks.size(), Presampled{});
      forward_->eval(chunks, [&](size_t first, std::span<const float> rows) { presample(chunks, chunk_samples, first, rows); });
    } catch (const std::exception& e) {
      // Requests were validated on submit, so this is an engine fault: end every request in the
      // step with an error rather than leave its client waiting.
      for (Sample* s : chunk_samples) {
        if (s->finished) continue;
        if (s->request->on_embedding) {
          free_slot(*s);
          s->request->on_embedding({}, s->prompt_size);  // an empty embedding: the engine failed
          release(*s);
        } else {
          finish(*s, std::string("internal error: ") + e.what(), {}, "error");
        }
      }
      flush_events();
      continue;
    }
    after_step(chunks, chunk_samples);
    {
      const KVCache& cache = forward_->cache();
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.steps;
      stats_.kv_bytes_in_use = cache.pages_in_use() * cache.page_bytes();
      stats_.kv_bytes_mapped = cache.pages_mapped() * cache.page_bytes();
    }
    flush_events();
  }
}

void Scheduler::flush_events() {
  for (auto& [request, event] : outbox_) {
    if (request->on_event) request->on_event(event);
  }
  outbox_.clear();
  std::erase_if(running_, [](const std::unique_ptr<Request>& r) { return r->unfinished == 0; });
}

void Scheduler::drop_cancelled() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ids.swap(cancelled_);
    if (ids.empty()) return;
    std::erase_if(queue_, [&](const std::unique_ptr<Request>& r) {
      return std::find(ids.begin(), ids.end(), r->id) != ids.end();
    });
    stats_.queued = static_cast<int>(queue_.size());
  }
  for (auto& r : running_) {
    if (std::find(ids.begin(), ids.end(), r->id) == ids.end()) continue;
    if (r->on_scores) r->unfinished = 0;  // a scoring call: its remaining pairs are dropped
    for (auto& s : r->samples) {
      s->finished = true;  // no more events
      release(*s);
    }
  }
  std::erase_if(running_, [](const std::unique_ptr<Request>& r) { return r->unfinished == 0; });
}

void Scheduler::admit() {
  for (;;) {
    std::unique_ptr<Request> r;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty()) return;
      int free_slots = 0;
      for (const Slot& slot : slots_) free_slots += slot.owner == nullptr ? 1 : 0;
      if (free_slots < queue_.front()->params.n) return;  // FIFO: the head waits for room
      r = std::move(queue_.front());
      queue_.pop_front();
      stats_.queued = static_cast<int>(queue_.size());
    }
    const std::vector<int32_t>& prompt = r->params.prompt;
    const bool embedding = static_cast<bool>(r->on_embedding);
    // Embeddings need every hidden state, prompt log-probabilities every position's logits:
    // neither reuses a cached prefix.
    const bool whole_prompt = embedding || r->params.prompt_logprobs >= 0;
    create_samples(*r);

    // The leader takes the free slot sharing the longest prefix with the prompt (least recently
    // used on ties); a longer prefix held by any other slot is shared (its KV pages mapped, not
    // copied: kv_cache.h). At least the last prompt token is always evaluated, for its logits.
    Sample& leader = *r->samples.front();
    int best_free = -1, best_any = -1;
    size_t free_len = 0, any_len = 0;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      const Slot& slot = slots_[static_cast<size_t>(i)];
      const size_t len = whole_prompt ? 0 : common_prefix(slot.history, prompt);
      if (slot.owner == nullptr &&
          (best_free < 0 || len > free_len ||
           (len == free_len && slot.last_used < slots_[static_cast<size_t>(best_free)].last_used))) {
        best_free = i;
        free_len = len;
      }
      if (len > any_len) {
        best_any = i;
        any_len = len;
      }
    }
    const int limit = static_cast<int>(prompt.size()) - 1;
    int reuse = static_cast<int>(std::min<size_t>(free_len, static_cast<size_t>(limit)));
    if (best_any >= 0 && best_any != best_free && static_cast<int>(std::min<size_t>(any_len, limit)) > reuse) {
      reuse = static_cast<int>(std::min<size_t>(any_len, static_cast<size_t>(limit)));
      forward_->share_prefix(best_any, best_free, reuse);
    } else {
      forward_->rewind(best_free, std::min(reuse, forward_->n_past(best_free)));
      reuse = forward_->n_past(best_free);
    }
    Slot& leader_slot = slots_[static_cast<size_t>(best_free)];
    leader_slot.owner = &leader;
    leader_slot.history.assign(prompt.begin(), prompt.begin() + reuse);
    leader.slot = best_free;
    leader.evaluated = reuse;
    r->cached_tokens = reuse;
    if (!whole_prompt) await_shared_prefix(leader, reuse);
    // Followers take the least recently used free slots; their KV arrives from the leader.
    for (size_t i = 1; i < r->samples.size(); ++i) {
      int pick = -1;
      for (int j = 0; j < static_cast<int>(slots_.size()); ++j) {
        const Slot& slot = slots_[static_cast<size_t>(j)];
        if (slot.owner == nullptr && (pick < 0 || slot.last_used < slots_[static_cast<size_t>(pick)].last_used)) pick = j;
      }
      Slot& slot = slots_[static_cast<size_t>(pick)];
      slot.owner = r->samples[i].get();
      slot.history.clear();
      forward_->rewind(pick, 0);
      r->samples[i]->slot = pick;
    }
    int active = 0;
    for (const Slot& slot : slots_) active += slot.owner != nullptr ? 1 : 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.prompt_tokens += prompt.size();
      stats_.cached_prompt_tokens += static_cast<uint64_t>(reuse);
      stats_.active_sequences = active;
    }
    running_.push_back(std::move(r));
  }
}

void Scheduler::create_samples(Request& r) {
  const std::vector<int32_t>& prompt = r.params.prompt;
  const bool embedding = static_cast<bool>(r.on_embedding);
  if (r.params.prompt_logprobs >= 0) {
    // The first prompt token has no distribution to be read in: its entry has no logprob.
    TokenLogprob first;
    first.chosen = {prompt[0], tokenizer_.token_to_piece(prompt[0]), std::numeric_limits<float>::quiet_NaN()};
    r.prompt_logprobs.assign(1, std::move(first));
  }
  for (int i = 0; i < r.params.n; ++i) {
    auto s = std::make_unique<Sample>();
    s->request = &r;
    s->index = r.params.first_index + i;
    s->prompt_size = static_cast<int>(prompt.size());
    s->waits_for_leader = i > 0;
    s->tokens = prompt;
    s->speculates = !embedding && options_.speculation.enabled() && !r.params.make_constraint && r.params.top_logprobs < 0;
    if (!embedding) {
      SamplingParams sampling = r.params.sampling;
      sampling.seed += static_cast<uint64_t>(s->index);  // independent samples, reproducible as a set
      s->sampler = std::make_unique<Sampler>(sampling);
      if (r.params.make_constraint) s->constraint = r.params.make_constraint();
      const bool only_bos = prompt.size() == 1 && prompt[0] == tokenizer_.vocab().bos;
      s->output = std::make_unique<SampleOutput>(tokenizer_, r.params.stop, only_bos);
    }
    r.samples.push_back(std::move(s));
  }
  r.unfinished = r.params.n;
}

bool Scheduler::build_batch(std::vector<SequenceChunk>& chunks, std::vector<Sample*>& chunk_samples) {
  chunks.clear();
  chunk_samples.clear();
  int budget = options_.step_token_budget;
  if (options_.speculation.enabled()) make_drafts();
  // Decoding samples first: one token each (plus any guesses), so generation never waits
  // behind a prompt.
  for (auto& r : running_) {
    for (auto& s : r->samples) {
      if (s->finished || s->waits_for_leader || s->evaluated < s->prompt_size) continue;
      if (!s->draft.empty()) {
        // The last token (tokens[evaluated]) and the guesses, every position's logits wanted.
        s->step_tokens.assign(1, s->tokens.back());
        for (const DraftToken& d : s->draft) s->step_tokens.push_back(d.token);
        chunks.push_back({s->slot, std::span<const int32_t>(s->step_tokens), ChunkOutput::kAllLogits, false});
        chunk_samples.push_back(s.get());
        budget -= static_cast<int>(s->step_tokens.size());
        continue;
      }
      chunks.push_back({s->slot, std::span<const int32_t>(s->tokens).subspan(static_cast<size_t>(s->evaluated), 1),
                        ChunkOutput::kLastLogits, false});
      chunk_samples.push_back(s.get());
      --budget;
    }
  }
  // Then prompt chunks, oldest request first, within what is left of the step's budget.
  for (auto& r : running_) {
    Sample& s = *r->samples.front();
    if (s.finished || s.evaluated >= s.prompt_size || budget <= 0 || !take_awaited_prefix(s)) continue;
    // A prompt scored token by token (prompt_logprobs) keeps every row of logits: smaller
    // chunks bound that buffer ([chunk, n_vocab] floats).
    const bool scored = r->params.prompt_logprobs >= 0;
    const int chunk_limit = scored ? std::min(options_.prefill_chunk, kScoredPrefillChunk) : options_.prefill_chunk;
    const int size = std::min({s.prompt_size - s.evaluated, chunk_limit, budget});
    const bool last = s.evaluated + size == s.prompt_size;
    const ChunkOutput output = r->on_embedding ? ChunkOutput::kHidden
                               : scored        ? ChunkOutput::kAllLogits
                               : last          ? ChunkOutput::kLastLogits
                                               : ChunkOutput::kNone;
    chunks.push_back({s.slot, std::span<const int32_t>(s.tokens).subspan(static_cast<size_t>(s.evaluated),
                                                                          static_cast<size_t>(size)),
                      output, true});
    chunk_samples.push_back(&s);
    budget -= size;
  }
  return !chunks.empty();
}

void Scheduler::after_step(const std::vector<SequenceChunk>& chunks, const std::vector<Sample*>& chunk_samples) {
  const size_t n_vocab = static_cast<size_t>(model_.config().n_vocab);
  const size_t n_embd = static_cast<size_t>(model_.config().n_embd);
  size_t logits_row = 0, hidden_row = 0;
  uint64_t generated_before = 0;
  for (auto& r : running_) {
    for (auto& s : r->samples) generated_before += static_cast<uint64_t>(s->generated);
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SequenceChunk& chunk = chunks[i];
    Sample& s = *chunk_samples[i];
    Slot& slot = slots_[static_cast<size_t>(s.slot)];
    slot.history.insert(slot.history.end(), chunk.tokens.begin(), chunk.tokens.end());
    s.evaluated += static_cast<int>(chunk.tokens.size());
    if (chunk.output == ChunkOutput::kHidden) {
      if (s.pooled.empty()) s.pooled.assign(n_embd, 0.0);
      const float* rows = forward_->hidden().data() + hidden_row * n_embd;
      for (size_t t = 0; t < chunk.tokens.size(); ++t) {
        for (size_t j = 0; j < n_embd; ++j) s.pooled[j] += rows[t * n_embd + j];
      }
      hidden_row += chunk.tokens.size();
      if (s.evaluated == s.prompt_size) finish_embedding(s);
      continue;
    }
    if (chunk.output == ChunkOutput::kNone) continue;
    std::span<const float> logits;
    if (chunk.output == ChunkOutput::kAllLogits) {
      const size_t rows = chunk.tokens.size();
      const std::span<const float> all = forward_->logits().subspan(logits_row * n_vocab, rows * n_vocab);
      logits_row += rows;
      if (!chunk.prefill) {
        take_verified(s, all);
        continue;
      }
      score_prompt(s, all);
      if (s.evaluated < s.prompt_size) continue;
      logits = all.subspan((rows - 1) * n_vocab, n_vocab);  // the prompt is in: its last row continues it
    } else {
      logits = forward_->logits().subspan(logits_row * n_vocab, n_vocab);
      ++logits_row;
    }
    if (chunk.prefill) {
      // The prompt is in: the other samples of the request share its KV pages and start from the same
      // logits, each with its own sampler.
      for (size_t f = 1; f < s.request->samples.size(); ++f) {
        Sample& follower = *s.request->samples[f];
        if (follower.finished) continue;
        forward_->share_prefix(s.slot, follower.slot, s.prompt_size);
        slots_[static_cast<size_t>(follower.slot)].history = slot.history;
        follower.evaluated = s.prompt_size;
        follower.waits_for_leader = false;
        take_token(follower, logits);
      }
    }
    if (presampled_[i].token >= 0) {
      commit_token(s, presampled_[i].token, logits, std::move(presampled_[i].logprob));
    } else {
      take_token(s, logits);
    }
  }
  uint64_t generated_after = 0;
  for (auto& r : running_) {
    for (auto& s : r->samples) generated_after += static_cast<uint64_t>(s->generated);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.generated_tokens += generated_after - generated_before;
  }
}

void Scheduler::make_drafts() {
  const SpeculationOptions& spec = options_.speculation;
  std::vector<DraftModel::Job> jobs;
  for (auto& r : running_) {
    for (auto& sp : r->samples) {
      Sample& s = *sp;
      s.draft.clear();
      if (!s.speculates || s.finished || s.waits_for_leader || s.evaluated < s.prompt_size) continue;
      // Guesses must fit the context (tokens + guesses <= n_ctx) and max_tokens (the step
      // yields at most one token more than it guesses).
      int room = std::min(spec.draft_max, options_.n_ctx - static_cast<int>(s.tokens.size()));
      if (r->params.max_tokens >= 0) room = std::min(room, r->params.max_tokens - s.generated - 1);
      if (room <= 0) continue;
      room = std::min(room, s.budget.next(spec.draft_max));
      if (room <= 0) continue;
      if (spec.lookup) {
        for (int32_t t : lookup_draft(s.tokens, spec.ngram_min, spec.ngram_max, room)) s.draft.push_back({t, {}});
      }
      if (s.draft.empty() && draft_) jobs.push_back({s.slot, s.tokens, room, &r->params.sampling, &s.draft});
    }
  }
  if (jobs.empty()) return;
  try {
    draft_->draft(jobs, spec.draft_p_min);
  } catch (const std::exception&) {
    // Guesses are optional: without them the step decodes one token per sample, exactly.
    for (DraftModel::Job& job : jobs) job.out->clear();
    draft_->reset();
  }
}

void Scheduler::take_verified(Sample& s, std::span<const float> rows) {
  const size_t n_vocab = static_cast<size_t>(model_.config().n_vocab);
  const int slot = s.slot;  // finishing frees it; the rewind below still applies
  const int guesses = static_cast<int>(s.draft.size());
  s.drafted += guesses;
  thread_local std::vector<TokenProb> p;
  int kept = 0;
  for (int i = 0; i <= guesses && !s.finished; ++i) {
    const std::span<const float> row = rows.subspan(static_cast<size_t>(i) * n_vocab, n_vocab);
    if (i == guesses) {  // every guess kept: the last row gives one token more
      take_token(s, row);
      break;
    }
    s.sampler->distribution(row, p);
    const DraftVerdict verdict = verify_draft(s.draft[static_cast<size_t>(i)], p, *s.sampler);
    if (verdict.accepted) ++kept, ++s.accepted;
    commit_token(s, verdict.token, row);
    if (!verdict.accepted) break;
  }
  s.budget.update(guesses, kept, options_.speculation.draft_max);
  // Only the kept guesses' KV belongs to the sequence: forget the positions after them.
  const int valid = s.evaluated - (guesses - kept);
  forward_->rewind(slot, valid);
  slots_[static_cast<size_t>(slot)].history.resize(static_cast<size_t>(valid));
  s.evaluated = valid;
  s.draft.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.drafted_tokens += static_cast<uint64_t>(guesses);
  stats_.accepted_tokens += static_cast<uint64_t>(kept);
}

void Scheduler::presample(const std::vector<SequenceChunk>& chunks, const std::vector<Sample*>& chunk_samples,
                          size_t first, std::span<const float> rows) {
  const size_t n_vocab = static_cast<size_t>(model_.config().n_vocab);
  for (size_t j = 0; j * n_vocab < rows.size(); ++j) {
    const size_t i = first + j;
    Sample& s = *chunk_samples[i];
    // Decode tokens without a constraint only (a prompt's last logits also start its followers,
    // a constraint's state is shared with the commit): what take_token would draw, drawn here.
    if (chunks[i].prefill || chunks[i].output != ChunkOutput::kLastLogits || s.constraint) continue;
    const std::span<const float> logits = rows.subspan(j * n_vocab, n_vocab);
    Presampled& p = presampled_[i];
    p.token = s.sampler->sample(logits);
    const int top = s.request->params.top_logprobs;
    if (top >= 0) p.logprob = token_logprob(logits, p.token, top, tokenizer_);
  }
}

void Scheduler::score_prompt(Sample& s, std::span<const float> rows) {
  // rows [n, n_vocab] are the logits after the chunk's n tokens, prompt positions
  // [evaluated - n, evaluated): row j is the distribution of the token at position
  // evaluated - n + j + 1, which the prompt holds for every row but the prompt's last.
  const size_t n_vocab = static_cast<size_t>(model_.config().n_vocab);
  const int n = static_cast<int>(rows.size() / n_vocab);
  const int top = s.request->params.prompt_logprobs;
  for (int j = 0; j < n; ++j) {
    const int next = s.evaluated - n + j + 1;
    if (next >= s.prompt_size) break;
    s.request->prompt_logprobs.push_back(
        token_logprob(rows.subspan(static_cast<size_t>(j) * n_vocab, n_vocab), s.tokens[static_cast<size_t>(next)], top, tokenizer_));
  }
}

void Scheduler::take_token(Sample& s, std::span<const float> logits) {
  if (s.request->params.max_tokens == 0) {  // the prompt alone was wanted (its log-probabilities)
    finish(s, s.output->finish(), {}, "length");
    return;
  }
  std::span<const float> choose_from = logits;
  thread_local std::vector<float> masked;
  if (s.constraint) {
    masked.assign(logits.begin(), logits.end());
    try {
      s.constraint->mask_logits(masked);
    } catch (const Error& e) {
      // The constraint cannot go on (e.g. a grammar too ambiguous for this text): this sample
      // ends with the reason, the others in the step carry on.
      finish(s, e.what(), {}, "error");
      return;
    }
    choose_from = masked;
  }
  const int32_t token = s.sampler->sample(choose_from);
  std::optional<TokenLogprob> logprob;
  const int top = s.request->params.top_logprobs;
  if (s.constraint && top >= 0) {
    logprob = token_logprob(logits, token, top, tokenizer_);
    add_constrained(*logprob, masked, token);
  }
  commit_token(s, token, logits, std::move(logprob));
}

void Scheduler::commit_token(Sample& s, int32_t token, std::span<const float> logits, std::optional<TokenLogprob> logprob) {
  const GenerationRequest& params = s.request->params;
  std::vector<TokenLogprob> logprobs;
  if (logprob) {
    logprobs.push_back(std::move(*logprob));
  } else if (params.top_logprobs >= 0) {
    logprobs.push_back(token_logprob(logits, token, params.top_logprobs, tokenizer_));
  }

  // Every sampled token is a completion token, the end of generation included (it has a
  // log-probability entry and cost a step; vLLM and llama-server count it too).
  ++s.generated;
  // A model that writes BOS starts a new document: this one is over (llama2.c's rule too).
  const bool ends = tokenizer_.is_end_of_generation(token) || (token == tokenizer_.vocab().bos && token >= 0);
  if (ends && !params.ignore_eos) {
    finish(s, s.output->finish(), std::move(logprobs), "stop");
    return;
  }
  s.sampler->accept(token);
  bool allowed = true;
  if (s.constraint) {
    try {
      allowed = s.constraint->accept(token);
    } catch (const Error& e) {
      finish(s, e.what(), std::move(logprobs), "error");
      return;
    }
  }
  s.tokens.push_back(token);
  std::string text;
  const bool hit_stop = s.output->push(token, text);
  if (hit_stop) {
    s.hit_stop_string = true;
    finish(s, std::move(text), std::move(logprobs), "stop");
    return;
  }
  const char* finish = nullptr;
  if (!allowed || (s.constraint && !s.constraint->can_continue())) {
    finish = "stop";  // the constrained output is complete (or the constraint cannot go on)
  } else if (params.max_tokens >= 0 && s.generated >= params.max_tokens) {
    finish = "length";
  } else if (static_cast<int>(s.tokens.size()) > options_.n_ctx) {
    finish = "length";  // the next token would not fit in the sequence's context
  }
  if (finish != nullptr) {
    text += s.output->finish();
    this->finish(s, std::move(text), std::move(logprobs), finish);
    return;
  }
  if (!text.empty() || !logprobs.empty()) emit(s, std::move(text), std::move(logprobs), nullptr);
}

void Scheduler::emit(Sample& s, std::string text, std::vector<TokenLogprob> logprobs, const char* finish_reason) {
  if (s.finished) return;
  GenerationEvent event;
  if (s.request->params.prompt_logprobs >= 0 && !s.prompt_logprobs_sent) {
    s.prompt_logprobs_sent = true;
    event.prompt_logprobs = s.request->prompt_logprobs;
  }
  event.index = s.index;
  event.text = std::move(text);
  event.logprobs = std::move(logprobs);
  if (finish_reason != nullptr) event.finish_reason = finish_reason;
  event.stopped_by_string = finish_reason != nullptr && s.hit_stop_string;
  event.prompt_tokens = s.prompt_size;
  event.cached_tokens = s.request->cached_tokens;
  event.completion_tokens = s.generated;
  event.drafted_tokens = s.drafted;
  event.accepted_tokens = s.accepted;
  outbox_.emplace_back(s.request, std::move(event));
}

void Scheduler::finish_embedding(Sample& s) {
  // Mean over the prompt's tokens, then unit length (cosine similarity = dot product).
  std::vector<float> embedding(s.pooled.size());
  double norm = 0;
  for (size_t j = 0; j < s.pooled.size(); ++j) {
    const double mean = s.pooled[j] / s.prompt_size;
    norm += mean * mean;
    s.pooled[j] = mean;
  }
  norm = std::sqrt(norm);
  for (size_t j = 0; j < s.pooled.size(); ++j) embedding[j] = static_cast<float>(norm > 0 ? s.pooled[j] / norm : 0.0);
  free_slot(s);
  if (s.request->on_embedding) s.request->on_embedding(std::move(embedding), s.prompt_size);
  release(s);
}

void Scheduler::finish(Sample& s, std::string text, std::vector<TokenLogprob> logprobs, const char* finish_reason) {
  // The slot is free (and counted so) before the caller hears the sample is done.
  free_slot(s);
  emit(s, std::move(text), std::move(logprobs), finish_reason);
  release(s);
}

void Scheduler::free_slot(Sample& s) {
  if (s.slot < 0) return;
  Slot& slot = slots_[static_cast<size_t>(s.slot)];
  slot.owner = nullptr;
  slot.last_used = ++clock_;
  // A follower that never received the prompt's KV holds nothing reusable.
  if (s.waits_for_leader) slot.history.clear();
  s.slot = -1;
  int active = 0;
  for (const Slot& other : slots_) active += other.owner != nullptr ? 1 : 0;
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.active_sequences = active;
}

void Scheduler::release(Sample& s) {
  free_slot(s);
  s.finished = true;
  int unfinished = 0;
  for (auto& other : s.request->samples) unfinished += other->finished ? 0 : 1;
  s.request->unfinished = unfinished;
}

}  // namespace rpu
