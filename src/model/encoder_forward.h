// The encoder forward pass (ArchSpec::encoder: bert), for whole inputs at once: no KV cache,
// no generation, every token attends to every token of its own input. f32 activations, any
// weight type. The tokens of all inputs of a call form one matrix X, so each weight matrix is
// read once per call however many inputs it embeds:
//
//   x = token_embd[token] + token_types[0] + position_embd[position in its input]   [T, n_embd]
//   x = layernorm(x) * input_norm + input_norm_b                          (token_embd_norm)
//   per layer:
//     q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv
//     a = softmax(q k^T / sqrt(head_dim)) v             per head, over all tokens of the input
//     x = layernorm(x + a Wo^T + bo) * attn_output_norm + attn_output_norm_b
//     x = layernorm(x + gelu(x Wup^T + b_up) Wdown^T + b_down) * layer_output_norm + ..._b
//   embedding = pool(x) / |pool(x)|         pool: mean over the input's tokens, its first
//                                           token ([CLS]) or its last, as the model says
//   score = W_out tanh(W_cls x[CLS] + b_cls) + b_out    a cross-encoder (pooling rank)
//
// layernorm(x) = (x - mean(x)) / sqrt(var(x) + eps); gelu is the tanh form llama.cpp computes
// (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))), within 1e-3 of the erf form BERT was
// trained with. Every token type is 0, as llama.cpp assumes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/matmul_batch.h"
#include "model/model.h"

namespace rpu {

class EncoderForward {
 public:
  // Throws rpu::Error unless the model is an encoder this pass computes. `pool` may be null.
  // `pooling` overrides the model's own (<arch>.pooling_type); kNone is refused.
  explicit EncoderForward(const Model& model, ThreadPool* pool = nullptr,
                          std::optional<Pooling> pooling = std::nullopt);

  // One pooled, L2-normalised embedding [n_embd] per input. Throws rpu::Error for an empty
  // input, one longer than max_tokens(), or a token id outside the vocabulary.
  // A cross-encoder (pooling rank) refuses: it has no embeddings.
  std::vector<std::vector<float>> embed(std::span<const std::vector<int32_t>> inputs);
  // A cross-encoder's raw classifier outputs [n_cls_out] per input (the first token's state
  // through the model's classification head, ModelWeights::cls / cls_out); output 0 is the
  // relevance score of a (query, document) pair. Same input checks as embed().
  std::vector<std::vector<float>> classify(std::span<const std::vector<int32_t>> inputs);

  // Final hidden states of the last embed() call, [total tokens, n_embd], inputs in order.
  std::span<const float> hidden() const { return {x_.data(), n_tokens_ * embd_size()}; }
  // The longest input the model reads (its position table's rows).
  int max_tokens() const { return config_.n_ctx_train; }
  Pooling pooling() const { return pooling_; }
  const Model& model() const { return model_; }

 private:
  void run(std::span<const std::vector<int32_t>> inputs);  // the forward pass into x_
  void embed_inputs(std::span<const std::vector<int32_t>> inputs);
  void layer(int index, std::span<const std::vector<int32_t>> inputs);
  void attention(std::span<const std::vector<int32_t>> inputs);
  std::vector<float> pool(int first, int n) const;
  void for_tokens(int n_tokens, const std::function<void(int)>& fn);
  size_t embd_size() const { return static_cast<size_t>(config_.n_embd); }

  const Model& model_;
  const ModelConfig& config_;
  ThreadPool* pool_;
  const KernelSet& kernels_;
  Pooling pooling_;
  MatmulScratch xq_;
  size_t n_tokens_ = 0;
  std::vector<int> input_first_;  // first token of each input
  // Scratch activations, grown to the largest call seen.
  std::vector<float> x_, h_, q_, k_, v_, attn_, ffn_;
};

}  // namespace rpu
