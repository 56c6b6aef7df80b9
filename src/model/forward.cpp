#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "kernels/quant.h"
#include "model/lora.h"
#include "model/matmul_batch.h"

namespace rpu {
namespace {

// out = x / sqrt(mean(x^2) + eps) * weight, for one vector of n values. The squares (exact in
// double) are summed in 8 independent running sums, which the compiler keeps in vector lanes:
// one serial chain of double adds was latency-bound, ~4% of a SmolLM2-135M prefill for 60
// norms of 576 values per token. Double sums of exact squares in another order differ by
// ~1e-16 relative, far below float precision, so the float scale is (but for a tie within
// that margin) the one the serial sum gave.
void rms_norm(const float* x, const float* weight, int n, float eps, float* out) {
  constexpr int kLanes = 8;
  double lanes[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] += static_cast<double>(x[i + j]) * x[i + j];
  }
  for (; i < n; ++i) lanes[0] += static_cast<double>(x[i]) * x[i];
  double sum_sq = 0.0;
  for (double lane : lanes) sum_sq += lane;
  const float scale = static_cast<float>(1.0 / std::sqrt(sum_sq / n + eps));
  for (int i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void add_bias(float* y, const std::vector<float>& bias) {
  for (size_t i = 0; i < bias.size(); ++i) y[i] += bias[i];
}

// Bytes of a weight matrix as stored in the file (what the bandwidth roofline counts).
uint64_t matrix_bytes(const WeightMatrix& w) { return static_cast<uint64_t>(w.view.rows) * w.view.row_bytes; }

void ensure(std::vector<float>& buffer, size_t n) {
  if (buffer.size() < n) buffer.resize(n);
}

// GELU, tanh form (as ggml_gelu computes it).
float gelu(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

// c tanh(s / c): logits squashed into (-c, c) (gemma2's soft-capping).
float soft_cap(float s, float cap) { return cap * std::tanh(s / cap); }

}  // namespace

namespace {

const Model& decoder(const Model& model) {
  if (model.config().arch->encoder) {
    fail("'{}' is an embedding model ({}): it has no decoder forward pass, only embeddings", model.file().path(),
         model.config().arch->name);
  }
  return model;
}

}  // namespace

BatchForward::BatchForward(const Model& model, int n_ctx, int n_seq, ThreadPool* pool, KVCacheTypes cache_types)
    : model_(decoder(model)),
      config_(model.config()),
      pool_(pool),
      kernels_(model.kernels()),
      own_cache_(std::make_unique<KVCache>(model.config(), n_ctx, n_seq, cache_types)),
      cache_(*own_cache_),
      own_n_past_(static_cast<size_t>(n_seq), 0),
      n_past_(own_n_past_) {
  // Frequency of rotation pair i: theta^(-2i/rope_dim), divided by the llama3 factor or the
  // longrope factor (long ones beyond the original context, as llama.cpp picks them) if any.
  const ModelWeights& w = model.weights();
  const std::vector<float>& factors = !w.rope_freqs.empty() ? w.rope_freqs
                                      : n_ctx > config_.n_ctx_orig ? w.rope_factors_long
                                                                   : w.rope_factors_short;
  auto table = [&](float theta, float position_scale) {
    RopeTable t;
    t.inv_freq.resize(static_cast<size_t>(config_.rope_dim / 2));
    t.position_scale = position_scale;
    t.mscale = config_.rope_attn_factor;
    for (size_t i = 0; i < t.inv_freq.size(); ++i) {
      double f = std::pow(static_cast<double>(theta), -2.0 * static_cast<double>(i) / config_.rope_dim);
      if (!factors.empty()) f /= factors[i];
      t.inv_freq[i] = static_cast<float>(f);
    }
    return t;
  };
  rope_global_ = table(config_.rope_theta, config_.rope_position_scale);
  rope_local_ = table(config_.rope_theta_swa, config_.rope_position_scale_swa);
  uint64_t weight_bytes = matrix_bytes(w.output);
  for (const auto& [name, matrix] : named_matrices(model_)) {
    if (matrix != &w.output) weight_bytes += matrix_bytes(*matrix);
  }
  small_weights_ = weight_bytes <= kLaneWeightBytes;
  if (const char* forced = std::getenv("RPU_DECODE_LANES"); forced != nullptr && *forced != '\0') {
    const std::string_view value(forced);
    if (value != "0" && value != "1") fail("RPU_DECODE_LANES must be 0 (never split decode steps) or 1 (always), got '{}'", value);
    lanes_forced_ = value == "1";
  }
}

BatchForward::BatchForward(BatchForward& owner)
    : model_(owner.model_),
      config_(owner.config_),
      pool_(nullptr),
      kernels_(owner.kernels_),
      cache_(owner.cache_),
      n_past_(owner.n_past_),
      rope_global_(owner.rope_global_),
      rope_local_(owner.rope_local_),
      lora_(owner.lora_),
      lora_pairs_(owner.lora_pairs_) {}

void BatchForward::rewind(int seq, int n_past) {
  if (seq < 0 || seq >= n_seq()) fail("sequence {} does not exist (0..{})", seq, n_seq() - 1);
  if (n_past < 0 || n_past > n_past_[static_cast<size_t>(seq)]) {
    fail("cannot rewind to position {} (cache holds {})", n_past, n_past_[static_cast<size_t>(seq)]);
  }
  cache_.truncate(seq, n_past);
  n_past_[static_cast<size_t>(seq)] = n_past;
}

void BatchForward::share_prefix(int from, int to, int n_pos) {
  if (from < 0 || from >= n_seq() || to < 0 || to >= n_seq()) fail("sequence {} or {} does not exist", from, to);
  if (n_pos < 0 || n_pos > n_past(from)) fail("cannot share {} positions of a sequence holding {}", n_pos, n_past(from));
  if (from == to) {
    rewind(to, n_pos);
    return;
  }
  cache_.share_prefix(from, to, n_pos);
  n_past_[static_cast<size_t>(to)] = n_pos;
}

void BatchForward::for_tokens(int n_tokens, int64_t values_per_token, const std::function<void(int)>& fn) {
  for_each_token(pool_, n_tokens, values_per_token, fn);
}

void BatchForward::matmuls(std::initializer_list<MatmulJob> jobs, const float* x, int n_tokens, ReadAhead then) {
  matmul_batch(kernels_, pool_, xq_, jobs, x, n_tokens, then);
  if (lora_ == nullptr) return;
  // Low-rank terms of adapted matrices: y += s (x A^T) B^T, token by token.
  for (const MatmulJob& job : jobs) {
    const auto it = lora_pairs_.find(job.w);
    if (it == lora_pairs_.end()) continue;
    const LoraPair& pair = *it->second;
    for_tokens(n_tokens, static_cast<int64_t>(pair.rank) * (pair.in + pair.out), [&](int t) {
      lora_->apply(pair, x + static_cast<size_t>(t) * pair.in, 1, job.y + static_cast<size_t>(t) * pair.out);
    });
  }
}

ReadAhead BatchForward::first_matrices(int layer) const {
  const ModelWeights& w = model_.weights();
  if (layer >= config_.n_layer) return weight_bytes(w.output);
  const LayerWeights& lw = w.layers[static_cast<size_t>(layer)];
  if (lw.wqkv.view.rows > 0) return weight_bytes(lw.wqkv);
  return weight_bytes({&lw.wq, &lw.wk, &lw.wv});
}

void BatchForward::set_lora(const LoraAdapter* adapter) {
  lora_ = adapter;
  lora_pairs_.clear();
  for (auto& lane : lanes_) lane->set_lora(adapter);
  if (adapter == nullptr) return;
  for (const auto& [name, matrix] : named_matrices(model_)) {
    if (const LoraPair* pair = adapter->find(name)) lora_pairs_[matrix] = pair;
  }
}

void BatchForward::prepare_rope(RopeTable& rope, int n) {
  if (rope.ready) return;
  const int half = config_.rope_dim / 2;
  ensure(rope.cos_sin, static_cast<size_t>(n) * half * 2);
  for_tokens(n, int64_t{16} * half, [&](int t) {  // a cos and a sin per pair: ~16 values' work
    const float pos = static_cast<float>(token_pos_[static_cast<size_t>(t)]) * rope.position_scale;
    float* row = rope.cos_sin.data() + static_cast<size_t>(t) * half * 2;
    for (int i = 0; i < half; ++i) {
      const float angle = pos * rope.inv_freq[static_cast<size_t>(i)];
      row[2 * i] = std::cos(angle) * rope.mscale;
      row[2 * i + 1] = std::sin(angle) * rope.mscale;
    }
  });
  rope.ready = true;
}

void BatchForward::apply_rope(const float* cos_sin, float* vectors, int n_heads) const {
  const int hd = config_.head_dim;
  const int half = config_.rope_dim / 2;
  // Head by head, with the pair layout chosen outside the loops, so each loop is a branch-free
  // run over consecutive values the compiler vectorises (pair-major with the style tested per
  // value, it was ~2% of a SmolLM2-135M prefill). Same arithmetic per value either way.
  if (config_.arch->rope_style == RopeStyle::kAdjacent) {  // pair i: dims 2i, 2i+1
    for (int h = 0; h < n_heads; ++h) {
      float* v = vectors + static_cast<size_t>(h) * hd;
      for (int i = 0; i < half; ++i) {
        const float cos_a = cos_sin[2 * i], sin_a = cos_sin[2 * i + 1];
        const float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * cos_a - x1 * sin_a;
        v[2 * i + 1] = x0 * sin_a + x1 * cos_a;
      }
    }
    return;
  }
  for (int h = 0; h < n_heads; ++h) {  // pair i: dims i, i + half
    float* v = vectors + static_cast<size_t>(h) * hd;
    for (int i = 0; i < half; ++i) {
      const float cos_a = cos_sin[2 * i], sin_a = cos_sin[2 * i + 1];
      const float x0 = v[i], x1 = v[i + half];
      v[i] = x0 * cos_a - x1 * sin_a;
      v[i + half] = x0 * sin_a + x1 * cos_a;
    }
  }
}

AttentionParams BatchForward::attention_params(int layer) const {
  // Local layers see the last `window` positions; gemma2 caps its scores (kernels.h).
  AttentionParams params;
  params.head_dim = config_.head_dim;
  params.scale = config_.attn_scale();
  params.softcap = config_.attn_softcap;
  params.window = config_.is_swa(layer) ? config_.sliding_window : 0;
  return params;
}

// Tasks: (chunk, head, first query, query count, heads). Prefill chunks go in blocks of 16
// consecutive queries (queries in vector lanes) of a whole GQA group's heads (the kernel reads
// each K/V row once for the group), generated tokens one query per task: by the token's role,
// never the batch, so a sequence's arithmetic stays the same. Head-major within a chunk so
// each thread gets whole heads and the causal window's growing cost is shared evenly.
// A generated token that sees more than kAttentionSpan positions (no sliding window) is split
// into spans of them instead (attend_span), one task per (GQA group, span), joined after: the
// group's K/V rows are read once, not once per task of two heads, and a long context is shared
// between the threads however few the groups (SmolLM2-135M has 3). The spans follow the
// token's position only, never the batch or the thread count.
void BatchForward::plan_attention_tasks(std::span<const SequenceChunk> chunks, int decode_heads, bool spans) {
  const int group = config_.n_head / config_.n_head_kv, n_head = config_.n_head;
  const bool blocks = kernels_.attend_block != nullptr;
  std::vector<AttentionTask>& tasks = attention_tasks_;
  tasks.clear();
  token_spans_.assign(token_pos_.size(), 0);
  for (size_t c = 0; c < chunks.size(); ++c) {
    const int n = static_cast<int>(chunks[c].tokens.size());
    const bool block = chunks[c].prefill && blocks;
    if (!block && spans) {
      add_decode_tasks(static_cast<int>(c), n, decode_heads);
      continue;
    }
    const int step = block ? 16 : 1, per_task = block ? group : decode_heads;
    for (int h = 0; h < n_head;) {
      const int heads = std::min(per_task, group - h % group);  // never across two KV heads
      // Blocks in the order first, last, second, second to last...: a block's cost grows with
      // its position (causal), so any run of consecutive tasks, as the pool hands them out,
      // costs about the same (in position order, a prompt's last heads' blocks were a few
      // chunks that cost 5x the first ones, and a thread holding one kept the other waiting).
      const int n_steps = (n + step - 1) / step;
      for (int i = 0; i < n_steps; ++i) {
        const int t0 = step * (i % 2 == 0 ? i / 2 : n_steps - 1 - i / 2);
        tasks.push_back({static_cast<int>(c), h, t0, std::min(step, n - t0), heads});
      }
      h += heads;
    }
  }
}

void BatchForward::run_attention_tasks(int layer, std::span<const SequenceChunk> chunks,
                                       const AttentionParams& params, int decode_heads, int64_t begin, int64_t end) {
  const int hd = config_.head_dim, group = config_.n_head / config_.n_head_kv, q_dim = config_.q_dim();
  // Per thread, grown once: no allocation per token. A whole-context task scores at most
  // decode_heads x n_ctx positions, a span task a group's heads x kAttentionSpan.
  thread_local std::vector<float> scores;
  const size_t need = std::max(static_cast<size_t>(decode_heads) * static_cast<size_t>(n_ctx()),
                               static_cast<size_t>(group) * static_cast<size_t>(kAttentionSpan));
  if (scores.size() < need) scores.resize(need);
  for (int64_t i = begin; i < end; ++i) {
    const AttentionTask& task = attention_tasks_[static_cast<size_t>(i)];
    const SequenceChunk& chunk = chunks[static_cast<size_t>(task.chunk)];
    const int first_token = chunk_first_[static_cast<size_t>(task.chunk)] + task.t0;
    const int first_pos = token_pos_[static_cast<size_t>(first_token)];
    const float* q = q_.data() + static_cast<size_t>(first_token) * q_dim + static_cast<size_t>(task.head) * hd;
    float* out = attn_.data() + static_cast<size_t>(first_token) * q_dim + static_cast<size_t>(task.head) * hd;
    // The head's K/V rows, typed and paged as the cache holds them, read in place by the kernel.
    const KvRows kv = cache_.head_rows(chunk.seq, layer, static_cast<int64_t>(task.head / group) * hd);
    if (task.span >= 0) {
      attend_span_task(task, first_token, first_pos, q, kv, params, scores.data());
    } else if (chunk.prefill && kernels_.attend_block != nullptr) {
      kernels_.attend_block(q, q_dim, task.n_q, task.heads, kv, first_pos, params, out, q_dim);
    } else if (task.heads > 1) {
      kernels_.attend_group(q, hd, task.heads, kv, first_pos, params, scores.data(), out, hd);
    } else {
      kernels_.attend(q, kv, first_pos, params, scores.data(), out);
    }
  }
}

void BatchForward::merge_token_spans() {
  const int hd = config_.head_dim, n_head = config_.n_head, q_dim = config_.q_dim(), max_spans = max_attention_spans();
  for (size_t t = 0; t < token_spans_.size(); ++t) {
    const int n_spans = token_spans_[t];
    for (int h = 0; n_spans > 0 && h < n_head; ++h) {
      const size_t slot = (t * n_head + h) * max_spans;
      merge_attention_spans(span_out_.data() + slot * hd, hd, span_lse_.data() + slot, n_spans, hd,
                            attn_.data() + t * q_dim + static_cast<size_t>(h) * hd);
    }
  }
}

void BatchForward::attention(int layer, std::span<const SequenceChunk> chunks) {
  const AttentionParams params = attention_params(layer);
  // A generated token's query heads of one GQA group go two to a task when the set can read
  // their shared K/V rows once (attend_group pairs them; bit for bit attend's results). Pairs,
  // not whole groups (7 heads in qwen2.5-0.5b): small tasks keep the threads' shares even.
  const int group = config_.n_head / config_.n_head_kv;
  const int decode_heads = kernels_.attend_group != nullptr ? std::min(group, 2) : 1;
  const bool spans = kernels_.attend_span != nullptr && params.window == 0;
  plan_attention_tasks(chunks, decode_heads, spans);
  auto run = [&](int64_t begin, int64_t end) { run_attention_tasks(layer, chunks, params, decode_heads, begin, end); };
  const int64_t n_tasks = static_cast<int64_t>(attention_tasks_.size());
  // Values read (queries x visible positions x head_dim, K and V): a decode step of one short
  // sequence is a few microseconds of work, cheaper here than through the pool (matmul_batch.h).
  int64_t values = 0;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const int64_t last_pos = n_past(chunks[c].seq) + static_cast<int64_t>(chunks[c].tokens.size());
    values += static_cast<int64_t>(chunks[c].tokens.size()) * config_.n_head * last_pos * config_.head_dim * 2;
  }
  if (pool_ == nullptr || values < kSerialValues * 8) {
    run(0, n_tasks);
  } else {
    // Workers done with their heads read ahead the attention output matrix, multiplied next.
    pool_->parallel_for(n_tasks, run, weight_bytes(model_.weights().layers[static_cast<size_t>(layer)].wo));
  }
  merge_token_spans();
}

// One (token, GQA group, span) task: each head's output and log-sum-exp go to its span slot
// ((token, head, span), max_attention_spans() spans a head), joined after all tasks.
void BatchForward::attend_span_task(const AttentionTask& task, int token, int pos, const float* q, const KvRows& kv,
                                    const AttentionParams& params, float* scores) {
  const int hd = config_.head_dim, max_spans = max_attention_spans();
  const int64_t first = static_cast<int64_t>(task.span) * kAttentionSpan;
  const int64_t end = std::min<int64_t>(first + kAttentionSpan, pos + 1);
  const size_t slot = (static_cast<size_t>(token) * config_.n_head + task.head) * max_spans + task.span;
  float* out = span_out_.data() + slot * hd;
  if (kernels_.attend_span_group != nullptr) {
    kernels_.attend_span_group(q, hd, task.heads, kv, first, end, params, scores, out,
                               static_cast<int64_t>(max_spans) * hd, span_lse_.data() + slot, max_spans);
    return;
  }
  for (int j = 0; j < task.heads; ++j) {
    const size_t at = slot + static_cast<size_t>(j) * max_spans;
    span_lse_[at] = kernels_.attend_span(q + static_cast<size_t>(j) * hd, kv, first, end, params, scores,
                                         out + static_cast<size_t>(j) * max_spans * hd);
  }
}

void BatchForward::add_decode_tasks(int chunk, int n, int decode_heads) {
  const int group = config_.n_head / config_.n_head_kv, n_head = config_.n_head;
  const int max_spans = max_attention_spans();
  for (int t0 = 0; t0 < n; ++t0) {
    const int token = chunk_first_[static_cast<size_t>(chunk)] + t0;
    const int n_spans = (token_pos_[static_cast<size_t>(token)] + kAttentionSpan) / kAttentionSpan;  // ceil((pos + 1) / S)
    if (n_spans > 1) {
      token_spans_[static_cast<size_t>(token)] = n_spans;
      const size_t need = (static_cast<size_t>(token) + 1) * n_head * max_spans;
      ensure(span_lse_, need);
      ensure(span_out_, need * config_.head_dim);
      for (int h = 0; h < n_head; h += group) {
        for (int s = 0; s < n_spans; ++s) attention_tasks_.push_back({chunk, h, t0, 1, group, s});
      }
      continue;
    }
    for (int h = 0; h < n_head;) {
      const int heads = std::min(decode_heads, group - h % group);  // never across two KV heads
      attention_tasks_.push_back({chunk, h, t0, 1, heads});
      h += heads;
    }
  }
}

void BatchForward::eval(std::span<const SequenceChunk> chunks, const LaneRows& on_lane_rows) {
  const ModelConfig& c = config_;
  // Validate everything before touching the cache, so a rejected step changes nothing.
  if (chunks.empty()) fail("cannot evaluate an empty batch");
  std::vector<bool> seen(static_cast<size_t>(n_seq()), false);
  int n = 0;
  for (const SequenceChunk& chunk : chunks) {
    if (chunk.seq < 0 || chunk.seq >= n_seq()) fail("sequence {} does not exist (0..{})", chunk.seq, n_seq() - 1);
    if (seen[static_cast<size_t>(chunk.seq)]) fail("sequence {} appears twice in one batch", chunk.seq);
    seen[static_cast<size_t>(chunk.seq)] = true;
    if (chunk.tokens.empty()) fail("cannot evaluate an empty batch of tokens");
    const int held = n_past(chunk.seq), size = static_cast<int>(chunk.tokens.size());
    if (held + size > n_ctx()) {
      fail("context is full: {} tokens held + {} new exceed the context size of {}", held, size, n_ctx());
    }
    for (int32_t token : chunk.tokens) {
      if (token < 0 || token >= c.n_vocab) fail("token id {} is outside the vocabulary (0..{})", token, c.n_vocab - 1);
    }
    n += size;
  }
  // Every position the step writes gets a page of its sequence's own (a shared one is copied).
  for (const SequenceChunk& chunk : chunks) {
    cache_.prepare_write(chunk.seq, n_past(chunk.seq), n_past(chunk.seq) + static_cast<int>(chunk.tokens.size()));
  }
  if (split_into_lanes(chunks)) {
    run_lanes(chunks, on_lane_rows);
  } else {
    run_step(chunks, n);
  }
  for (const SequenceChunk& chunk : chunks) n_past_[static_cast<size_t>(chunk.seq)] += static_cast<int>(chunk.tokens.size());
}

bool BatchForward::split_into_lanes(std::span<const SequenceChunk> chunks) const {
  if (pool_ == nullptr || pool_->size() < 2 || chunks.size() < 2 || profile_ != nullptr) return false;
  for (const SequenceChunk& chunk : chunks) {
    if (chunk.prefill || chunk.tokens.size() != 1 || chunk.output != ChunkOutput::kLastLogits) return false;
  }
  switch (lane_split_) {
    case LaneSplit::kAlways: return true;
    case LaneSplit::kNever: return false;
    case LaneSplit::kAuto: break;
  }
  return lanes_forced_.value_or(small_weights_);
}

void BatchForward::run_lanes(std::span<const SequenceChunk> chunks, const LaneRows& on_lane_rows) {
  const size_t n_lanes = std::min(chunks.size(), static_cast<size_t>(pool_->size()));
  while (lanes_.size() < n_lanes) lanes_.push_back(std::unique_ptr<BatchForward>(new BatchForward(*this)));
  // Lane i takes chunks [i * size / n_lanes, (i + 1) * size / n_lanes): in order, so the
  // lanes' logits rows, one after another, are the step's rows in chunk order.
  auto first_chunk = [&](size_t i) { return i * chunks.size() / n_lanes; };
  pool_->parallel_for(static_cast<int64_t>(n_lanes), [&](int64_t begin, int64_t end) {
    for (size_t i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) {
      const auto lane_chunks = chunks.subspan(first_chunk(i), first_chunk(i + 1) - first_chunk(i));
      BatchForward& lane = *lanes_[i];
      lane.run_step(lane_chunks, static_cast<int>(lane_chunks.size()));
      if (on_lane_rows) on_lane_rows(first_chunk(i), lane.logits());
    }
  });
  logits_rows_ = chunks.size();
  hidden_rows_ = 0;
  ensure(logits_, logits_rows_ * vocab_size());
  float* out = logits_.data();
  for (size_t i = 0; i < n_lanes; ++i) {
    const std::span<const float> rows = lanes_[i]->logits();
    out = std::copy(rows.begin(), rows.end(), out);
  }
}

void BatchForward::run_step(std::span<const SequenceChunk> chunks, int n) {
  const ModelConfig& c = config_;
  const ModelWeights& w = model_.weights();
  const size_t nt = static_cast<size_t>(n);
  ensure(x_, nt * c.n_embd);
  ensure(h_, nt * c.n_embd);
  ensure(q_, nt * c.q_dim());
  ensure(k_, nt * c.kv_dim());
  ensure(v_, nt * c.kv_dim());
  ensure(attn_, nt * c.q_dim());
  ensure(ffn_gate_, nt * c.n_ff);
  ensure(ffn_up_, nt * c.n_ff);
  token_seq_.resize(nt);
  token_pos_.resize(nt);
  rope_global_.ready = rope_local_.ready = false;  // the step's positions are new
  chunk_first_.resize(chunks.size());
  {
    const OpTimer timer(profile_, ForwardOp::kEmbed, -1);
    int t = 0;
    for (size_t ci = 0; ci < chunks.size(); ++ci) {
      const SequenceChunk& chunk = chunks[ci];
      chunk_first_[ci] = t;
      for (size_t i = 0; i < chunk.tokens.size(); ++i, ++t) {
        token_seq_[static_cast<size_t>(t)] = chunk.seq;
        token_pos_[static_cast<size_t>(t)] = n_past(chunk.seq) + static_cast<int>(i);
        float* x = x_.data() + static_cast<size_t>(t) * c.n_embd;
        dequantize_row(w.token_embd.type, w.token_embd.row(chunk.tokens[i]), x, c.n_embd);
        if (c.embed_scale != 1.0f) {
          for (int j = 0; j < c.n_embd; ++j) x[j] *= c.embed_scale;
        }
      }
    }
  }

  for (int layer = 0; layer < c.n_layer; ++layer) {
    attention_block(layer, chunks, n);
    ffn_block(layer, n);
  }

  // Only the rows whose logits are wanted go through the output head; hidden rows (for
  // embeddings) are the final-normed states themselves.
  logits_rows_ = 0;
  hidden_rows_ = 0;
  size_t hidden_needed = 0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    if (chunks[ci].output == ChunkOutput::kHidden) hidden_needed += chunks[ci].tokens.size();
  }
  ensure(hidden_out_, hidden_needed * c.n_embd);
  std::optional<OpTimer> norm_timer(std::in_place, profile_, ForwardOp::kOutputNorm, -1);
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const SequenceChunk& chunk = chunks[ci];
    const int size = static_cast<int>(chunk.tokens.size());
    const int first = chunk_first_[ci];
    if (chunk.output == ChunkOutput::kHidden) {
      for (int t = first; t < first + size; ++t) {
        rms_norm(x_.data() + static_cast<size_t>(t) * c.n_embd, w.output_norm.data(), c.n_embd, c.rms_eps,
                 hidden_out_.data() + hidden_rows_++ * c.n_embd);
      }
    } else if (chunk.output != ChunkOutput::kNone) {
      const int from = chunk.output == ChunkOutput::kAllLogits ? first : first + size - 1;
      for (int t = from; t < first + size; ++t) {
        rms_norm(x_.data() + static_cast<size_t>(t) * c.n_embd, w.output_norm.data(), c.n_embd, c.rms_eps,
                 h_.data() + logits_rows_++ * c.n_embd);
      }
    }
  }
  norm_timer.reset();
  if (profile_ != nullptr) ++profile_->steps;
  if (logits_rows_ > 0) {
    ensure(logits_, logits_rows_ * c.n_vocab);
    const OpTimer timer(profile_, ForwardOp::kOutputHead, -1, matrix_bytes(w.output));
    matmuls({{&w.output, logits_.data()}}, h_.data(), static_cast<int>(logits_rows_), first_matrices(0));
    if (c.final_softcap > 0) {
      for (size_t i = 0; i < logits_rows_ * vocab_size(); ++i) logits_[i] = soft_cap(logits_[i], c.final_softcap);
    }
  }
}

uint64_t BatchForward::attention_bytes(int layer, std::span<const SequenceChunk> chunks) const {
  const int window = config_.is_swa(layer) ? config_.sliding_window : 0;
  uint64_t positions = 0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const int last = chunk_first_[ci] + static_cast<int>(chunks[ci].tokens.size()) - 1;
    const int seen = token_pos_[static_cast<size_t>(last)] + 1;
    positions += static_cast<uint64_t>(window > 0 ? std::min(seen, window) : seen);
  }
  // One K and one V row per position, each of kv_dim elements in the cache's own types.
  return positions * static_cast<uint64_t>(cache_.key_row_bytes() + cache_.value_row_bytes());
}

void BatchForward::attention_block(int layer, std::span<const SequenceChunk> chunks, int n) {
  const ModelConfig& c = config_;
  const LayerWeights& lw = model_.weights().layers[static_cast<size_t>(layer)];
  {
    const OpTimer timer(profile_, ForwardOp::kNorm, layer);
    for_tokens(n, c.n_embd, [&](int t) {
      rms_norm(x_.data() + t * c.n_embd, lw.attn_norm.data(), c.n_embd, c.rms_eps, h_.data() + t * c.n_embd);
    });
  }
  std::optional<OpTimer> timer(std::in_place, profile_, ForwardOp::kMatmulQkv, layer,
                               matrix_bytes(lw.wqkv) + matrix_bytes(lw.wq) + matrix_bytes(lw.wk) + matrix_bytes(lw.wv));
  const size_t q_dim = static_cast<size_t>(c.q_dim()), kv_dim = static_cast<size_t>(c.kv_dim());
  if (lw.wqkv.view.rows > 0) {
    // Fused rows [q | k | v] per token, split into the usual buffers.
    const size_t qkv_dim = q_dim + 2 * kv_dim;
    ensure(qkv_, static_cast<size_t>(n) * qkv_dim);
    matmuls({{&lw.wqkv, qkv_.data()}}, h_.data(), n, weight_bytes(lw.wo));
    for_tokens(n, static_cast<int64_t>(qkv_dim), [&](int t) {
      const float* row = qkv_.data() + static_cast<size_t>(t) * qkv_dim;
      std::copy_n(row, q_dim, q_.data() + static_cast<size_t>(t) * q_dim);
      std::copy_n(row + q_dim, kv_dim, k_.data() + static_cast<size_t>(t) * kv_dim);
      std::copy_n(row + q_dim + kv_dim, kv_dim, v_.data() + static_cast<size_t>(t) * kv_dim);
    });
  } else {
    matmuls({{&lw.wq, q_.data()}, {&lw.wk, k_.data()}, {&lw.wv, v_.data()}}, h_.data(), n, weight_bytes(lw.wo));
  }
  timer.emplace(profile_, ForwardOp::kRopeCache, layer);
  const bool rope = c.has_rope(layer);
  RopeTable& table = c.is_swa(layer) ? rope_local_ : rope_global_;
  if (rope) prepare_rope(table, n);
  const size_t rope_row = static_cast<size_t>(c.rope_dim / 2) * 2;
  for_tokens(n, static_cast<int64_t>(q_dim + 2 * kv_dim), [&](int t) {
    float* q = q_.data() + static_cast<size_t>(t) * q_dim;
    float* k = k_.data() + static_cast<size_t>(t) * kv_dim;
    float* v = v_.data() + static_cast<size_t>(t) * kv_dim;
    add_bias(q, lw.bq);
    add_bias(k, lw.bk);
    add_bias(v, lw.bv);
    if (!lw.q_norm.empty()) {
      for (int h = 0; h < c.n_head; ++h) rms_norm(q + h * c.head_dim, lw.q_norm.data(), c.head_dim, c.rms_eps, q + h * c.head_dim);
    }
    if (!lw.k_norm.empty()) {
      for (int h = 0; h < c.n_head_kv; ++h) rms_norm(k + h * c.head_dim, lw.k_norm.data(), c.head_dim, c.rms_eps, k + h * c.head_dim);
    }
    const int seq = token_seq_[static_cast<size_t>(t)], pos = token_pos_[static_cast<size_t>(t)];
    if (rope) {
      apply_rope(table.cos_sin.data() + static_cast<size_t>(t) * rope_row, q, c.n_head);
      apply_rope(table.cos_sin.data() + static_cast<size_t>(t) * rope_row, k, c.n_head_kv);
    }
    cache_.store(seq, layer, pos, k, v);
  });
  timer.emplace(profile_, ForwardOp::kAttention, layer, profile_ != nullptr ? attention_bytes(layer, chunks) : 0);
  attention(layer, chunks);
  timer.emplace(profile_, ForwardOp::kMatmulOut, layer, matrix_bytes(lw.wo));
  matmuls({{&lw.wo, h_.data()}}, attn_.data(), n, weight_bytes({&lw.w_gate, &lw.w_up}));
  timer.emplace(profile_, ForwardOp::kResidual, layer);
  add_block_output(lw.attn_post_norm, n);
}

void BatchForward::ffn_block(int layer, int n) {
  const ModelConfig& c = config_;
  const LayerWeights& lw = model_.weights().layers[static_cast<size_t>(layer)];
  {
    const OpTimer timer(profile_, ForwardOp::kNorm, layer);
    for_tokens(n, c.n_embd, [&](int t) {
      rms_norm(x_.data() + t * c.n_embd, lw.ffn_norm.data(), c.n_embd, c.rms_eps, h_.data() + t * c.n_embd);
    });
  }
  std::optional<OpTimer> timer(std::in_place, profile_, ForwardOp::kMatmulGateUp, layer,
                               matrix_bytes(lw.w_gate) + matrix_bytes(lw.w_up));
  const size_t ff = static_cast<size_t>(c.n_ff);
  const bool fused = lw.w_gate.view.rows == 0;  // ffn_up holds [gate | up] rows (phi3)
  if (fused) {
    ensure(ffn_up_, static_cast<size_t>(n) * 2 * ff);
    matmuls({{&lw.w_up, ffn_up_.data()}}, h_.data(), n, weight_bytes(lw.w_down));
  } else {
    matmuls({{&lw.w_gate, ffn_gate_.data()}, {&lw.w_up, ffn_up_.data()}}, h_.data(), n, weight_bytes(lw.w_down));
  }
  timer.emplace(profile_, ForwardOp::kActivation, layer);
  const bool geglu = c.arch->ffn == FfnKind::kGeGlu;
  const auto swiglu = kernels_.swiglu != nullptr ? kernels_.swiglu : &swiglu_ref;
  for_tokens(n, static_cast<int64_t>(geglu ? 8 * ff : ff), [&](int t) {  // GeGLU: a scalar tanh each
    float* act = ffn_gate_.data() + static_cast<size_t>(t) * ff;
    const float* gate = fused ? ffn_up_.data() + static_cast<size_t>(t) * 2 * ff : act;
    const float* up = fused ? gate + ff : ffn_up_.data() + static_cast<size_t>(t) * ff;
    if (!geglu) {
      swiglu(gate, up, static_cast<int64_t>(ff), act);
      return;
    }
    for (size_t i = 0; i < ff; ++i) act[i] = gelu(gate[i]) * up[i];
  });
  timer.emplace(profile_, ForwardOp::kMatmulDown, layer, matrix_bytes(lw.w_down));
  matmuls({{&lw.w_down, h_.data()}}, ffn_gate_.data(), n, first_matrices(layer + 1));
  timer.emplace(profile_, ForwardOp::kResidual, layer);
  add_block_output(lw.ffn_post_norm, n);
}

void BatchForward::add_block_output(const std::vector<float>& post_norm, int n) {
  const ModelConfig& c = config_;
  for_tokens(n, c.n_embd, [&](int t) {
    float* x = x_.data() + t * c.n_embd;
    float* o = h_.data() + t * c.n_embd;
    if (!post_norm.empty()) rms_norm(o, post_norm.data(), c.n_embd, c.rms_eps, o);
    for (int i = 0; i < c.n_embd; ++i) x[i] += o[i];
  });
}

std::span<const float> ForwardPass::eval(std::span<const int32_t> tokens, bool all_logits) {
  // A single sequence keeps the shape-based choice it always had: a multi-token call is a
  // prefill, a one-token call a decode step.
  const SequenceChunk chunk{0, tokens, all_logits ? ChunkOutput::kAllLogits : ChunkOutput::kLastLogits,
                            tokens.size() > 1};
  batch_.eval({&chunk, 1});
  return batch_.logits();
}

}  // namespace rpu
