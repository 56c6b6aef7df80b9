// The generic decoder forward pass, for one or many sequences at once, f32 activations, any
// weight type. All tokens of a step (from every sequence) form one matrix X, so each weight
// matrix is read once per step however many sequences advance:
//
//   x = embed(tokens) (* sqrt(n_embd): gemma)            [T, n_embd]   (T = tokens of all chunks)
//   per layer:
//     h = rmsnorm(x) * attn_norm
//     q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)  [T, q_dim], [T, kv_dim] x2
//       (phi3: one fused h Wqkv^T [T, q_dim + 2 kv_dim], split)
//     (qwen3, gemma3) q, k = per-head rmsnorm(q) * q_norm, ... * k_norm
//     q, k = rope(q, k, position of each token in its sequence), unless the layer has no RoPE
//       (smollm3); local layers may use their own base; k, v -> that sequence's cache
//     s = q k^T * query_scale (1/sqrt(head_dim) unless the arch says otherwise)
//       (gemma2) s = cap tanh(s / cap); local layers see only the last `window` positions
//     o = softmax(s, causal within the sequence) v Wo^T;  (gemma) o = rmsnorm(o) * post_attention_norm
//     x += o
//     h = rmsnorm(x) * ffn_norm
//     o = (act(h Wgate^T) * (h Wup^T)) Wdown^T, act = silu or gelu (gemma); phi3's ffn_up holds
//       gate and up rows [2 n_ff, n_embd];  (gemma) o = rmsnorm(o) * post_ffw_norm
//     x += o
//   logits = (rmsnorm(x) * output_norm) Wout^T          [rows wanted, n_vocab]
//     (gemma2) logits = cap tanh(logits / cap)
//
// Every kernel computes a token's row independently of the other rows in the call
// (tests/unit/test_batch_invariance.cpp), so a sequence's results do not depend on its batch.
//
// Lanes: on a model small enough to stay in the CPU's caches, an operation of a decode step
// lasts a few microseconds, so splitting each one across the pool's threads costs as much in
// hand-offs as it saves (the built-in 4.8M model decodes 8 samples no faster on two threads than
// on one). A step of one-token decode chunks is then split instead into one group of whole
// chunks per thread, each run through every layer by its own lane (scratch buffers of its own,
// the shared cache and positions): one hand-off per step. Same arithmetic per token either way.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <unordered_map>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/kv_cache.h"
#include "model/forward_profile.h"
#include "model/matmul_batch.h"
#include "model/model.h"

namespace rpu {

class LoraAdapter;
struct LoraPair;

// What a chunk wants back from the step.
enum class ChunkOutput {
  kNone,        // only fill the cache (an early piece of a chunked prompt)
  kLastLogits,  // logits of the chunk's last token [n_vocab]
  kAllLogits,   // logits of every token [n_tokens, n_vocab]
  kHidden,      // final-normed hidden states of every token [n_tokens, n_embd] (embeddings)
};

// Consecutive tokens of one sequence, processed at positions n_past(seq) .. + size - 1.
struct SequenceChunk {
  int seq = 0;
  std::span<const int32_t> tokens;
  ChunkOutput output = ChunkOutput::kLastLogits;
  // Attention path: prompt tokens use the block (prefill) kernel, generated tokens the
  // per-query one. Choosing by the token's role rather than the batch shape keeps a
  // sequence's arithmetic the same whatever it is batched with.
  bool prefill = true;
};

class BatchForward {
 public:
  // `pool` may be null (single-threaded). n_ctx is the context of each of the n_seq sequences;
  // cache_types: the KV cache's element types (f32 default; f16 / q8_0 for a compact cache).
  BatchForward(const Model& model, int n_ctx, int n_seq, ThreadPool* pool = nullptr, KVCacheTypes cache_types = {});

  // Called by a step that runs as lanes (see the top), in each lane's own thread as soon as that
  // lane's rows are computed: the index of its first chunk and its logits rows [chunks, n_vocab]
  // (one per chunk), so per-sequence work on them (sampling) overlaps the other lanes' layers.
  using LaneRows = std::function<void(size_t first_chunk, std::span<const float> rows)>;

  // Runs one step over all chunks (at most one chunk per sequence). Returns, concatenated in
  // chunk order, the rows each chunk asked for: logits rows [n_vocab] and hidden rows
  // [n_embd] go to separate outputs (see logits()/hidden()). Throws rpu::Error for a bad
  // token id, a full context or a sequence index out of range; the cache is then unchanged.
  void eval(std::span<const SequenceChunk> chunks, const LaneRows& on_lane_rows = nullptr);
  std::span<const float> logits() const { return {logits_.data(), logits_rows_ * vocab_size()}; }
  std::span<const float> hidden() const { return {hidden_out_.data(), hidden_rows_ * embd_size()}; }

  int n_past(int seq) const { return n_past_[static_cast<size_t>(seq)]; }
  int n_ctx() const { return cache_.capacity(); }
  int n_seq() const { return cache_.n_seq(); }
  const KVCache& cache() const { return cache_; }
  // Forgets positions >= n_past of a sequence (e.g. to reuse a shared prompt prefix); its cache
  // pages wholly beyond them are released.
  void rewind(int seq, int n_past);
  // Makes `to` hold the first n_pos positions of `from` (n_pos <= n_past(from)) by sharing the
  // cache pages that hold them (kv_cache.h): no copy until one of them writes into a shared page.
  void share_prefix(int from, int to, int n_pos);
  const Model& model() const { return model_; }
  // Whether decode steps may be split into lanes (see the top): kAuto when the weights are at
  // most kLaneWeightBytes (or as RPU_DECODE_LANES=0/1 forces; another value is an error at
  // construction), always, or never.
  enum class LaneSplit { kAuto, kAlways, kNever };
  static constexpr uint64_t kLaneWeightBytes = uint64_t{24} << 20;
  // Positions per span of a generated token's attention over a long context (attend_span); a
  // token that sees at most this many positions attends in one piece, as before spans.
  static constexpr int kAttentionSpan = 512;
  void set_lane_split(LaneSplit split) { lane_split_ = split; }
  // Applies a LoRA adapter (model/lora.h) to every matrix it adapts, without merging; null
  // removes it. The adapter must outlive its use.
  void set_lora(const LoraAdapter* adapter);
  // Records where each later eval() spends its time into `profile` (null: stop recording).
  // The profile must outlive its use.
  void set_profile(ForwardProfile* profile) { profile_ = profile; }

 private:
  // A lane of `owner`: runs steps over the owner's cache and positions, in the calling thread.
  explicit BatchForward(BatchForward& owner);
  // The step after validation: every layer and the output rows, for chunks whose cache
  // positions are prepared. Positions (n_past) are advanced by the caller.
  void run_step(std::span<const SequenceChunk> chunks, int n_tokens);
  // Whether this step runs as lanes: one-token decode chunks only, one lane per thread.
  bool split_into_lanes(std::span<const SequenceChunk> chunks) const;
  void run_lanes(std::span<const SequenceChunk> chunks, const LaneRows& on_lane_rows);
  // Y_i = X W_i^T for several matrices reading the same input (model/matmul_batch.h), plus
  // the LoRA terms of adapted matrices. `then`: the matrices the step multiplies by next (one
  // dispatch, in its order), read ahead by idle workers.
  void matmuls(std::initializer_list<MatmulJob> jobs, const float* x, int n_tokens, ReadAhead then = {});
  // The matrices layer `layer` multiplies by first (fused q,k,v or q, k and v; the output head
  // past the last layer), as a read-ahead.
  ReadAhead first_matrices(int layer) const;
  void attention(int layer, std::span<const SequenceChunk> chunks);
  AttentionParams attention_params(int layer) const;
  // Fills attention_tasks_ (and token_spans_) for the step's chunks; see attention().
  void plan_attention_tasks(std::span<const SequenceChunk> chunks, int decode_heads, bool spans);
  // Runs tasks [begin, end) of attention_tasks_ (one thread's share).
  void run_attention_tasks(int layer, std::span<const SequenceChunk> chunks, const AttentionParams& params,
                           int decode_heads, int64_t begin, int64_t end);
  // Joins the spans of every token whose context was split (merge_attention_spans).
  void merge_token_spans();
  // The attention tasks of a chunk's n generated tokens: spans of a long context (attend_span),
  // else tasks of `decode_heads` heads.
  void add_decode_tasks(int chunk, int n, int decode_heads);
  struct AttentionTask;
  void attend_span_task(const AttentionTask& task, int token, int pos, const float* q, const KvRows& kv,
                        const AttentionParams& params, float* scores);
  // Spans a token at the context's last position attends in: the stride of span_out_ / span_lse_.
  int max_attention_spans() const { return (n_ctx() + kAttentionSpan - 1) / kAttentionSpan; }
  // Bytes of K and V the step's attention reads in one layer (each cached position once per chunk).
  uint64_t attention_bytes(int layer, std::span<const SequenceChunk> chunks) const;
  // x += attention(norm(x)) and x += ffn(norm(x)) of one layer over the step's n tokens.
  void attention_block(int layer, std::span<const SequenceChunk> chunks, int n);
  void ffn_block(int layer, int n);
  // x += post_norm(h) (or h when there is no post-norm): a block's output joins the residual.
  void add_block_output(const std::vector<float>& post_norm, int n);
  // The rotation of one kind of layer: per-pair frequencies, position scale, and the factor
  // the rotated dims are multiplied by (longrope's attention factor; 1 otherwise).
  struct RopeTable {
    std::vector<float> inv_freq;  // [rope_dim / 2]
    float position_scale = 1.0f;
    float mscale = 1.0f;
    // Per step: cos and sin (times mscale) of every pair at each token's position,
    // [n_tokens][rope_dim / 2][2], filled by the step's first layer of this kind and then
    // shared by all of them (one cos/sin per token and pair, not per layer and head kind).
    std::vector<float> cos_sin;
    bool ready = false;
  };
  // Fills rope.cos_sin for the step's n tokens unless already done this step.
  void prepare_rope(RopeTable& rope, int n);
  // Rotates the n_heads heads of one token in place by its row of cos_sin.
  void apply_rope(const float* cos_sin, float* vectors, int n_heads) const;
  // Runs fn(t) for every token of the step, split across the pool unless small
  // (for_each_token: values_per_token says how much each token's fn touches).
  void for_tokens(int n_tokens, int64_t values_per_token, const std::function<void(int)>& fn);
  size_t vocab_size() const { return static_cast<size_t>(config_.n_vocab); }
  size_t embd_size() const { return static_cast<size_t>(config_.n_embd); }

  const Model& model_;
  const ModelConfig& config_;
  ThreadPool* pool_;
  const KernelSet& kernels_;
  // The cache and positions: a lane's are its owner's.
  std::unique_ptr<KVCache> own_cache_;
  KVCache& cache_;
  std::vector<int> own_n_past_;
  std::vector<int>& n_past_;  // per sequence
  MatmulScratch xq_;
  LaneSplit lane_split_ = LaneSplit::kAuto;
  bool small_weights_ = false;  // at most kLaneWeightBytes of weights
  std::optional<bool> lanes_forced_;  // RPU_DECODE_LANES=1 / 0 (checked at construction)
  std::vector<std::unique_ptr<BatchForward>> lanes_;  // made on the first split step

  // Per token of the current step: its sequence and position.
  std::vector<int> token_seq_, token_pos_;
  std::vector<int> chunk_first_;  // first token index of each chunk
  struct AttentionTask {
    int chunk, head, t0, n_q;  // queries t0 .. t0 + n_q - 1 of one head of one chunk
    int heads = 1;             // query heads head .. head + heads - 1 (of one GQA group)
    int span = -1;             // positions [span * kAttentionSpan, ...) only (attend_span); -1: all
  };
  std::vector<AttentionTask> attention_tasks_;
  // Spans of a long decode context: per step token, its span count (0: not split); per (token,
  // head, span), attend_span's output [head_dim] and log-sum-exp, joined after the tasks.
  std::vector<int> token_spans_;
  std::vector<float> span_out_, span_lse_;
  // Scratch activations, grown to the largest step seen.
  std::vector<float> x_, h_, q_, k_, v_, qkv_, attn_, ffn_gate_, ffn_up_, logits_, hidden_out_;
  size_t logits_rows_ = 0, hidden_rows_ = 0;
  RopeTable rope_global_, rope_local_;  // local: sliding-window layers
  const LoraAdapter* lora_ = nullptr;
  std::unordered_map<const WeightMatrix*, const LoraPair*> lora_pairs_;
  ForwardProfile* profile_ = nullptr;
};

// One sequence: the interface `rpu run`, `rpu chat` and the benchmarks use.
class ForwardPass {
 public:
  ForwardPass(const Model& model, int n_ctx, ThreadPool* pool = nullptr, KVCacheTypes cache_types = {})
      : batch_(model, n_ctx, 1, pool, cache_types) {}

  // Processes `tokens` at positions n_past() .. n_past()+size-1 and appends them to the cache.
  // Returns the logits of the last token [n_vocab], or of every token [size, n_vocab] when
  // all_logits. Throws rpu::Error for an out-of-range token id or a full context.
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false);

  int n_past() const { return batch_.n_past(0); }
  int n_ctx() const { return batch_.n_ctx(); }
  void rewind(int n_past) { batch_.rewind(0, n_past); }
  void set_lora(const LoraAdapter* adapter) { batch_.set_lora(adapter); }
  void set_profile(ForwardProfile* profile) { batch_.set_profile(profile); }

 private:
  BatchForward batch_;
};

}  // namespace rpu
