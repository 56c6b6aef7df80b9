// Continuous batching. One scheduler thread owns the model's forward pass and a fixed set of
// sequence slots (each with its own KV cache region). Every step it:
//   1. drops cancelled requests (their slots are free at once),
//   2. admits queued requests into free slots (FIFO), reusing the longest cached prompt
//      prefix found in any slot (its KV pages mapped, not copied); a request whose prompt
//      shares more with a prompt another slot is still prefilling (requests
//      that arrive together with one system prompt) waits for those rows and then maps them,
//      so the shared prefix is evaluated once,
//   3. builds one batch: one token for every decoding sample, plus prompt chunks of at most
//      prefill_chunk tokens for prefilling samples within a per-step token budget (so a long
//      prompt never stalls the others' decoding for more than one chunk),
//   4. runs one BatchForward step and samples every sample that produced logits (a step run
//      as decode lanes, model/forward.h, draws each lane's tokens in that lane's thread as soon
//      as its rows are ready; the tokens are then committed in order, as always).
// Samples of a request with n > 1 share the prompt: it is prefilled once and its KV copied.
// A request with more samples than slots runs in parts of at most n_seq samples, one after
// another, as one set (same indexes and seeds as if it had run at once).
// Results stream to the caller's callback, on the scheduler thread, at the end of the step that
// produced them: after its stats are stored, so a caller told its request finished reads stats
// that count it.
//
// Speculative decoding (engine/speculation.h, SchedulerOptions::speculation): a decoding sample
// may carry draft tokens (prompt lookup, or a draft model's guesses) after its last token; its
// chunk then asks for every position's logits, the guesses are verified in order (exact for
// greedy and sampled output), and the positions of rejected guesses are rewound from the slot's
// KV cache. Requests with a constraint or log-probabilities decode one token a step.
//
// An encoder model (ArchSpec::encoder: bert) only embeds: there are no slots or KV cache;
// each step takes the oldest queued inputs (at most n_seq, within the step's token budget)
// and encodes them whole in one batched EncoderForward pass. A cross-encoder (pooling rank)
// only scores (query, document) pairs: a request holds every pair of one call; each step
// classifies the oldest unscored pairs of the oldest requests within the step's token budget
// (at least one pair), so one call's many documents and several callers' share batches, and a
// cancelled call's remaining pairs are never computed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/request.h"
#include "engine/speculation.h"
#include "model/encoder_forward.h"
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

namespace rpu {

class LoraAdapter;

struct SchedulerOptions {
  int n_seq = 4;               // slots: samples decoded together
  int n_ctx = 4096;            // context per slot
  int max_queue = 64;          // requests waiting for slots; more are refused (HTTP 429)
  int prefill_chunk = 256;     // most prompt tokens of one sample per step
  int step_token_budget = 512; // most tokens in one step (decode tokens count first)
  const LoraAdapter* lora = nullptr;  // applied to every sequence (must outlive the scheduler)
  std::optional<Pooling> pooling{};   // encoders: overrides the model's pooling_type
  SpeculationOptions speculation{};   // off unless lookup or a draft model is set
  KVCacheTypes cache_types{};         // the KV cache's element types (f32, f16, q8_0)
};

// Thrown by submit() when the waiting queue is full.
class QueueFullError : public Error {
 public:
  using Error::Error;
};

// Thrown by submit() when the prompt does not fit a sequence's context.
class ContextLengthError : public Error {
 public:
  using Error::Error;
};

// Totals since start and the current load, for /metrics.
struct SchedulerStats {
  int queued = 0;            // requests waiting for slots
  int active_sequences = 0;  // slots owned by a running sample
  uint64_t prompt_tokens = 0, cached_prompt_tokens = 0, generated_tokens = 0, steps = 0;
  uint64_t drafted_tokens = 0, accepted_tokens = 0;  // speculative guesses made and kept
  // KV cache pages holding rows (slots keep theirs after a request, for prefix reuse), in
  // bytes: distinct pages (a prompt prefix shared between slots counted once), and the pages
  // the slots map in all (what the same rows would take if every slot held its own copy).
  int64_t kv_bytes_in_use = 0, kv_bytes_mapped = 0;
};

using EventCallback = std::function<void(const GenerationEvent&)>;
// Pooled, L2-normalised final hidden state [n_embd] (mean over the tokens for decoders, the
// model's own pooling for encoders) and the number of tokens read. An empty embedding means
// the engine failed to compute it.
using EmbeddingCallback = std::function<void(std::vector<float> embedding, int n_tokens)>;
// A cross-encoder's relevance score of each pair, in order, and the tokens read. Empty scores
// mean the engine failed to compute them.
using ScoreCallback = std::function<void(std::vector<float> scores, int n_tokens)>;

class Scheduler {
 public:
  static constexpr int kMaxSamples = 128;  // most samples of one request (n)
  static constexpr int kScoredPrefillChunk = 64;  // most prompt tokens a step scores (prompt_logprobs)

  Scheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options, ThreadPool* pool);
  ~Scheduler();  // stops the thread; unfinished requests get no further events
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a generation. Throws ContextLengthError for a prompt longer than the context,
  // rpu::Error for any other request that can never run (empty prompt, n outside
  // 1..kMaxSamples, bad token ids, an encoder model) and QueueFullError when full.
  // Returns an id for cancel().
  uint64_t submit(GenerationRequest request, EventCallback on_event);
  // Queues an embedding of `tokens` (same errors as submit).
  uint64_t submit_embedding(std::vector<int32_t> tokens, EmbeddingCallback on_done);
  // Queues the scoring of (query, document) pairs (engine/cross_encoder.h builds them) on a
  // cross-encoder: rpu::Error for another model, no pairs or a pair submit() would refuse;
  // QueueFullError when full. One request however many pairs; on_done hears of all at once.
  uint64_t submit_rerank(std::vector<std::vector<int32_t>> pairs, ScoreCallback on_done);
  // Stops a request: its slots are freed before the next step; no more events are sent.
  void cancel(uint64_t id);

  // Whether the model only embeds (an encoder: generation is refused).
  bool embeddings_only() const { return encoder_ != nullptr; }
  // A cross-encoder (pooling rank) scores pairs and has no embeddings.
  bool reranker_only() const { return encoder_ != nullptr && encoder_->pooling() == Pooling::kRank; }

  // The prompt checks submit() makes (ContextLengthError when it does not fit a sequence,
  // rpu::Error for an empty prompt or an id outside the vocabulary), for callers that want
  // them answered before costly preparation (a tool grammar).
  void validate_prompt(const std::vector<int32_t>& prompt) const;
  // The longest input an encoder reads: its position table, or the context when smaller.
  int max_input_tokens() const;

  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Request;
  struct Sample;
  struct Slot {
    std::vector<int32_t> history;  // tokens whose keys/values the slot holds, in order
    Sample* owner = nullptr;
    uint64_t last_used = 0;
  };

  // FIFO, all parts of one request under one id; throws QueueFullError when full.
  uint64_t enqueue(std::vector<std::unique_ptr<Request>> parts);
  void run();
  void run_encoder_step();
  void run_rank_step();
  // The oldest unscored pairs within the step's token budget; pulls queued requests into
  // running_ as needed. Each taken pair's request and index go to `owners`.
  std::vector<std::vector<int32_t>> take_pairs(std::vector<std::pair<Request*, size_t>>& owners);
  void drop_cancelled();
  void admit();
  // Prefixes shared between requests admitted together (scheduler_prefix.cpp): the admitted
  // leader (holding `reuse` cached tokens) waits for a slot that is prefilling a prompt sharing
  // at least one page more with its own; take_awaited_prefix maps that slot's rows once they
  // are there (or gives up when they will not come) and says whether the sample may prefill.
  void await_shared_prefix(Sample& leader, int reuse);
  bool take_awaited_prefix(Sample& sample);
  bool build_batch(std::vector<SequenceChunk>& chunks, std::vector<Sample*>& chunk_samples);
  void after_step(const std::vector<SequenceChunk>& chunks, const std::vector<Sample*>& chunk_samples);
  // Guesses for the decoding samples that speculate (lookup first, then the draft model).
  void make_drafts();
  void take_token(Sample& sample, std::span<const float> logits);
  // The samples of an admitted request (a sampler, constraint and output each; n of them), and
  // the first entry of its prompt_logprobs.
  void create_samples(Request& request);
  // Delivers the step's events in order, then drops the requests that finished.
  void flush_events();
  // GenerationRequest::prompt_logprobs: appends the entries of a prefill chunk's rows of logits.
  void score_prompt(Sample& sample, std::span<const float> rows);
  // Verifies a speculating sample's guesses against its rows of logits [1 + guesses, n_vocab]
  // and rewinds the KV of the positions that were not kept.
  void take_verified(Sample& sample, std::span<const float> rows);
  // Appends a chosen token: stop rules, events; the sample may finish.
  // (`logprob`: the token's log-probability when already computed by presample.)
  void commit_token(Sample& sample, int32_t token, std::span<const float> logits,
                    std::optional<TokenLogprob> logprob = std::nullopt);
  // Draws the tokens of a decode lane's samples (BatchForward::LaneRows) in the lane's thread,
  // while the other lanes compute: rows [n, n_vocab] of chunks first .. first + n - 1.
  void presample(const std::vector<SequenceChunk>& chunks, const std::vector<Sample*>& chunk_samples, size_t first,
                 std::span<const float> rows);
  void emit(Sample& sample, std::string text, std::vector<TokenLogprob> logprobs, const char* finish_reason);
  void finish_embedding(Sample& sample);
  // Ends a sample: frees its slot, sends its last event, marks it done.
  void finish(Sample& sample, std::string text, std::vector<TokenLogprob> logprobs, const char* finish_reason);
  void free_slot(Sample& sample);
  void release(Sample& sample);  // frees the slot and marks the sample done, without an event

  const Model& model_;
  const Tokenizer& tokenizer_;
  SchedulerOptions options_;
  std::unique_ptr<BatchForward> forward_;    // decoders
  std::unique_ptr<EncoderForward> encoder_;  // encoders
  std::unique_ptr<DraftModel> draft_;        // speculation with a draft model
  std::vector<Slot> slots_;
  uint64_t clock_ = 0;

  mutable std::mutex mutex_;  // guards queue_, cancelled_, stopping_, stats_
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Request>> queue_;
  std::vector<uint64_t> cancelled_;
  bool stopping_ = false;
  SchedulerStats stats_;
  std::atomic<uint64_t> next_id_{1};

  std::vector<std::unique_ptr<Request>> running_;  // scheduler thread only
  // Per chunk of the current step: its token drawn by presample (-1: none, take_token draws it).
  struct Presampled {
    int32_t token = -1;
    std::optional<TokenLogprob> logprob;
  };
  std::vector<Presampled> presampled_;
  // The step's events, delivered (flush_events) once its bookkeeping is stored: a caller that
  // hears its request finished reads stats() that include that step (KV pages, tokens).
  std::vector<std::pair<Request*, GenerationEvent>> outbox_;
  std::thread thread_;
};

}  // namespace rpu
