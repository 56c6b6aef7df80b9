// Model hyper-parameters, read from GGUF metadata, and the table of supported
// architectures. One generic decoder (model/forward.h) runs every architecture; what
// differs between them is data in ArchSpec.
#pragma once

#include <string>

#include "io/gguf.h"

namespace rpu {

// How RoPE pairs up the dimensions of a head.
enum class RopeStyle {
  kAdjacent,  // pairs (2i, 2i+1): Llama as stored in GGUF (ggml "normal" mode)
  kHalves,    // pairs (i, i + d/2): Qwen2/Qwen3, GPT-NeoX (ggml "neox" mode)
};

struct ArchSpec {
  const char* name;       // value of general.architecture
  RopeStyle rope_style;
  bool requires_qkv_bias;  // q/k/v projections carry biases (qwen2)
  bool requires_qk_norm;   // per-head RMSNorm on q and k before RoPE (qwen3)
};

// The supported architectures; adding one means adding a row here (and its layer's GGUF
// tensors, if they differ, in model/layer_tensors.cpp).
const ArchSpec* find_arch(const std::string& name);
std::string supported_arch_names();

struct ModelConfig {
  const ArchSpec* arch = nullptr;
  int n_vocab = 0;
  int n_embd = 0;      // hidden size
  int n_layer = 0;
  int n_head = 0;      // query heads
  int n_head_kv = 0;   // key/value heads (grouped-query attention when < n_head)
  int head_dim = 0;    // per-head size of q and k (and v)
  int n_ff = 0;        // feed-forward hidden size
  int n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  int rope_dim = 0;             // leading dims of each head that RoPE rotates
  float rope_position_scale = 1.0f;  // linear rope scaling multiplies positions by this

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and validates the hyper-parameters; throws rpu::Error naming the bad key.
ModelConfig config_from_gguf(const GgufFile& file);

}  // namespace rpu
