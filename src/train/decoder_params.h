// The trainable parameters of a decoder (llama / qwen2 / qwen3 layout, model/config.h) as
// named dense tensors in the GGUF naming, plus LoRA adapters; how they are created (random,
// from a GGUF model, for a from-scratch model) and saved (an F32 GGUF the engine loads).
//
// Tensors, row-major [rows, cols] (GGUF shape {cols, rows}; vectors have rows = 1):
//   token_embd.weight [n_vocab, n_embd]       output_norm.weight [n_embd]
//   output.weight [n_vocab, n_embd] (absent when the output head is tied to token_embd)
//   rope_freqs.weight [rope_dim / 2] (llama3 models only; always frozen)
//   rope_factors_long/short.weight [rope_dim / 2] (phi3 longrope; always frozen)
//   blk.N.*: a decoder layer's tensors, as model/layer_tensors.h lists them (q/k/v biases
//     for qwen2, q/k norms for qwen3), e.g. blk.N.attn_q.weight [q_dim, n_embd]
// LoRA on a linear <base>.weight [out, in] adds <base>.weight.lora_a [rank, in] and
// <base>.weight.lora_b [out, rank] (llama.cpp's adapter naming).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/gguf.h"
#include "model/config.h"
#include "tokenizer/vocab_trainer.h"

namespace rpu {
struct LayerVariant;  // model/layer_tensors.h
}

namespace rpu::train {

template <typename T>
struct ParamTensor {
  std::string name;
  int64_t rows = 1;
  int64_t cols = 0;
  bool is_vector = false;  // 1-D in GGUF
  bool trainable = true;   // frozen tensors get no gradient (and no gradient storage)
  std::vector<T> values;   // [rows * cols]; empty in a gradient set for a frozen tensor

  int64_t size() const { return rows * cols; }
};

struct LoraOptions {
  int rank = 8;
  double alpha = 16.0;  // adapters scale their output by alpha / rank
  // Which linears of every layer get an adapter: any of q, k, v, o, gate, up, down (the
  // LoRA names in model/layer_tensors.h).
  std::vector<std::string> targets = {"q", "k", "v", "o"};
  uint64_t seed = 1;
};

// Sizes of a model trained from scratch (arch llama).
struct FreshModelSpec {
  int n_embd = 256;
  int n_layer = 4;
  int n_head = 4;
  int n_head_kv = 4;
  int n_ff = 688;
  int n_ctx = 2048;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  std::string name = "rpu-scratch";
};

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

struct ModelMetadata {
  ModelConfig config;
  GgufMetadata metadata;  // general.*, llama.*, tokenizer.*: what save_gguf writes
};

// Metadata for a from-scratch llama model whose tokenizer (tokenizer.* keys, hence the
// vocabulary size) is copied from `tokenizer_source`. The config is read back from the
// metadata by the engine's own reader, so it is exactly what the engine will load.
ModelMetadata fresh_model_metadata(const FreshModelSpec& spec, const GgufFile& tokenizer_source);
// Metadata alone as a parsed GGUF file (no tensors): what Tokenizer::from_gguf and
// config_from_gguf read.
GgufFile metadata_as_file(const GgufMetadata& metadata);
// The same with the tokenizer.* keys given (e.g. fitted_tokenizer_keys).
ModelMetadata fresh_model_metadata(const FreshModelSpec& spec, const GgufMetadata& tokenizer_keys);
// tokenizer.* keys of a SentencePiece-style vocabulary fitted to a corpus (tokenizer/vocab_trainer.h:
// 0 <unk>, 1 <s>, 2 </s>), with the base model's chat template and add_bos/add_eos flags. The
// template's bos_token / eos_token become <s> / </s>.
GgufMetadata fitted_tokenizer_keys(const GgufFile& base, const FittedVocab& vocab);

// The general.*, <arch>.* and tokenizer.* keys of a model file, minus those describing its
// storage (file type, quantization version, alignment): the metadata of an F32 copy.
GgufMetadata model_metadata(const GgufFile& source);

template <typename T>
class DecoderParams {
 public:
  DecoderParams() = default;

  // Scaled-normal weights (std 1/sqrt(fan_in), residual output projections also divided by
  // sqrt(2 n_layer)), norms 1, biases 0; seeded, each tensor from its own stream. Biases and
  // q/k norms as the architecture requires.
  static DecoderParams random(const ModelConfig& config, bool tied_output, uint64_t seed);
  // Every tensor of a GGUF model, dequantized; throws rpu::Error naming a missing or
  // misshapen tensor.
  static DecoderParams from_gguf(const GgufFile& file);
  // Same names and shapes, all zeros: a gradient accumulator. Frozen tensors stay empty.
  DecoderParams zeros_like() const;
  void set_zero();  // zeros every value (a gradient set between steps)

  // Adds adapters on the chosen linears of every layer (A scaled-normal, B zero, so the
  // model is unchanged) and freezes every other tensor. Throws on an unknown target or a
  // second call.
  void add_lora(const LoraOptions& options);
  int lora_rank() const { return lora_rank_; }
  double lora_alpha() const { return lora_alpha_; }
  double lora_scale() const { return lora_rank_ > 0 ? lora_alpha_ / lora_rank_ : 0.0; }

  // Writes an F32 GGUF with the given metadata (checked against this model's config);
  // adapters are merged into their base weights (W + scale B A), so the engine loads it as
  // a plain model.
  void save_gguf(const std::string& path, const GgufMetadata& metadata) const;
  void save_gguf(const std::string& path, const GgufFile& metadata_source) const {
    save_gguf(path, model_metadata(metadata_source));
  }

  const ModelConfig& config() const { return config_; }
  bool tied_output() const { return find("output.weight") == nullptr; }
  std::span<ParamTensor<T>> tensors() { return tensors_; }
  std::span<const ParamTensor<T>> tensors() const { return tensors_; }
  ParamTensor<T>* find(std::string_view name);
  const ParamTensor<T>* find(std::string_view name) const;
  const ParamTensor<T>& get(std::string_view name) const;  // throws rpu::Error when absent
  int64_t n_trainable() const;  // number of trainable values

 private:
  void add(std::string name, int64_t rows, int64_t cols, bool is_vector);
  // Adds every tensor of the model (zero-valued) in GGUF order.
  void add_layout(bool tied_output, const LayerVariant& variant, bool rope_freqs, bool rope_factors);

  ModelConfig config_;
  std::vector<ParamTensor<T>> tensors_;
  std::unordered_map<std::string, size_t> index_;
  int lora_rank_ = 0;
  double lora_alpha_ = 0.0;
};

}  // namespace rpu::train
