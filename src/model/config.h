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

// How token positions enter the model.
enum class Positions {
  kRope,     // rotary embeddings on q and k in every layer (decoders)
  kLearned,  // absolute learned embeddings added to the input (position_embd.weight: bert)
};

// The normalization of the layer's residual stream.
enum class NormKind {
  kRms,    // x / rms(x) * weight, before each block (pre-norm decoders)
  kLayer,  // (x - mean) / std * weight + bias, after each residual add (post-norm: bert)
};

enum class FfnKind {
  kSwiGlu,  // down(silu(gate(x)) * up(x)), no biases
  kGelu,    // down(gelu(up(x) + b_up)) + b_down (GELU in its tanh form, as llama.cpp computes it)
};

// How an embedding model turns its final hidden states into one vector (GGUF
// <arch>.pooling_type, llama.cpp's numbering).
enum class Pooling {
  kNone = 0,  // one vector per token: not an OpenAI embedding; refused at load
  kMean = 1,
  kCls = 2,   // the first token's state ([CLS])
  kLast = 3,
};
const char* pooling_name(Pooling p);

struct ArchSpec {
  const char* name = "";  // value of general.architecture
  RopeStyle rope_style = RopeStyle::kAdjacent;
  bool requires_qkv_bias = false;  // q/k/v projections carry biases (qwen2, bert)
  bool requires_qk_norm = false;   // per-head RMSNorm on q and k before RoPE (qwen3)
  // Encoder (bert): every token attends to every other of its input (no causal mask, no
  // generation); the model only embeds text (model/encoder_forward.h). Decoders are causal.
  bool encoder = false;
  Positions positions = Positions::kRope;
  NormKind norm = NormKind::kRms;  // kLayer also means post-norm (norms after residual adds)
  FfnKind ffn = FfnKind::kSwiGlu;
  bool requires_proj_bias = false;  // attn_output, ffn_up and ffn_down carry biases (bert)
  bool token_types = false;         // token_types.weight: its row 0 is added to every token (bert)
  bool input_norm = false;          // token_embd_norm (LayerNorm) on the summed input embeddings (bert)
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
  // Encoders (ArchSpec::encoder) only: LayerNorm epsilon, token type count and pooling.
  float layer_norm_eps = 1e-12f;
  int n_token_types = 0;
  Pooling pooling = Pooling::kMean;  // decoders' embeddings are mean-pooled too

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and validates the hyper-parameters; throws rpu::Error naming the bad key.
ModelConfig config_from_gguf(const GgufFile& file);

}  // namespace rpu
