// LoRA adapters in the GGUF layout llama.cpp uses (general.type = "adapter", adapter.type =
// "lora", adapter.lora.alpha; for a base matrix "X.weight" [out, in], tensors "X.weight.lora_a"
// A [r, in] and "X.weight.lora_b" B [out, r]), applied at inference without merging:
//   y = x W^T + (alpha / r) (x A^T) B^T
// Merging (W + (alpha / r) B A) is for export.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "model/model.h"

namespace rpu {

struct LoraPair {
  int rank = 0;
  int64_t in = 0, out = 0;
  std::vector<float> a;  // [rank, in]
  std::vector<float> b;  // [out, rank]
};

class LoraAdapter {
 public:
  // Reads an adapter and checks it against the model: architecture, that every adapted
  // matrix exists, and shapes. Throws rpu::Error naming the problem.
  static std::unique_ptr<LoraAdapter> load(const std::string& path, const Model& model);
  static std::unique_ptr<LoraAdapter> from_gguf(const GgufFile& file, const Model& model);

  float scale(const LoraPair& pair) const { return alpha_ / static_cast<float>(pair.rank); }
  float alpha() const { return alpha_; }
  const LoraPair* find(const std::string& weight_name) const;  // e.g. "blk.0.attn_q.weight"
  const std::map<std::string, LoraPair>& pairs() const { return pairs_; }

  // y[n, out] += scale * (x[n, in] A^T) B^T for the pair.
  void apply(const LoraPair& pair, const float* x, int64_t n_tokens, float* y) const;

 private:
  float alpha_ = 1.0f;
  std::map<std::string, LoraPair> pairs_;
};

// Writes an adapter (alpha and pairs by base-weight name) in the layout above; `arch` is the
// base model's general.architecture.
void write_lora_gguf(const std::string& path, const std::string& arch, float alpha,
                     const std::map<std::string, LoraPair>& pairs);

// Writes `base` with the adapter merged into every adapted matrix (W + s B A), each kept in
// its stored type (requantized per row) unless `type` is given; other tensors and all
// metadata are copied.
void write_merged_model(const std::string& path, const Model& base, const LoraAdapter& adapter,
                        std::optional<DType> type = std::nullopt);

// The weight matrices of a model by GGUF name (for adapters and merging).
std::map<std::string, const WeightMatrix*> named_matrices(const Model& model);

}  // namespace rpu
