// Model hyper-parameters, read from GGUF metadata, and the table of supported
// architectures. One generic decoder (model/forward.h) runs every architecture; what
// differs between them is data in ArchSpec.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

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
  kGeGlu,   // down(gelu(gate(x)) * up(x)), GELU in its tanh form (gemma)
};

// How an embedding model turns its final hidden states into one vector (GGUF
// <arch>.pooling_type, llama.cpp's numbering).
enum class Pooling {
  kNone = 0,  // one vector per token: not an OpenAI embedding; refused at load
  kMean = 1,
  kCls = 2,   // the first token's state ([CLS])
  kLast = 3,
  kRank = 4,  // a cross-encoder: the first token's state through the classification head (cls, cls.output)
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
  // Fused projections (phi3): attn_qkv.weight [q_dim + 2 kv_dim, n_embd] holds q, k, v rows
  // in that order; ffn_up.weight [2 n_ff, n_embd] holds the gate's rows, then up's.
  bool fused_qkv = false;
  bool fused_gate_up = false;
  // RMSNorms on each block's output before its residual add (post_attention_norm,
  // post_ffw_norm), besides the usual pre-norms (gemma2/3).
  bool post_block_norms = false;
  bool embed_scale = false;  // input embeddings times sqrt(n_embd) (gemma)
  // Attention logits capped as c tanh(s / c), c = <arch>.attn_logit_softcapping or 50 (gemma2).
  bool attn_softcap = false;
  // Final logits capped likewise when <arch>.final_logit_softcapping is given; else this cap
  // (gemma2: 30; 0: none).
  float final_softcap_default = 0.0f;
  // Sliding-window attention: with <arch>.attention.sliding_window (or default_swa), layer l
  // is local when l % p < p - 1 for the period p = attention.sliding_window_pattern or
  // swa_period (gemma2 2: every other layer; gemma3 6: five local, one global; 1: all).
  int swa_period = 0;
  int default_swa = 0;  // the window when the key is absent (gemma2: 4096); 0: no window
  // Local layers' rope base when rope.freq_base_swa is absent, and no rope scaling on them
  // (gemma3: 10000); 0: local layers rotate as global ones do (gemma2).
  float swa_rope_theta = 0.0f;
  int no_rope_period = 0;  // layers l with (l + 1) % p == 0 have no RoPE (smollm3: 4)
  // Models with this many layers scale queries by 1/sqrt(n_embd / n_head) instead of
  // 1/sqrt(head_dim) (gemma 27B's query_pre_attn_scalar, which llama.cpp infers from the
  // layer count since GGUF has no key for it); 0: never.
  int query_scale_embd_layers = 0;
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
  // Decoder details of some architectures (see ArchSpec); the defaults change nothing.
  float embed_scale = 1.0f;    // input embeddings are multiplied by this
  float query_scale = 0.0f;    // attention scores q.k times this (set from head_dim when read)
  float attn_softcap = 0.0f;   // 0: none
  float final_softcap = 0.0f;  // 0: none
  int sliding_window = 0;      // local layers attend to positions p - window + 1 .. p; 0: none
  float rope_theta_swa = 10000.0f;        // local layers' rope base and position scale
  float rope_position_scale_swa = 1.0f;
  float rope_attn_factor = 1.0f;  // rotated dims of q and k multiplied by this (longrope's mscale)
  int n_ctx_orig = 0;  // rope.scaling.original_context_length: longer contexts use rope_factors_long
  std::vector<uint8_t> swa_layers;   // [n_layer]: 1 where the layer attends within the window
  std::vector<uint8_t> rope_layers;  // [n_layer]: 1 where the layer applies RoPE

  // (Configs built by hand may leave the per-layer lists empty: every layer global, rotating.)
  bool is_swa(int layer) const {
    return sliding_window > 0 && !swa_layers.empty() && swa_layers[static_cast<size_t>(layer)] != 0;
  }
  bool has_rope(int layer) const {
    return rope_dim > 0 && (rope_layers.empty() || rope_layers[static_cast<size_t>(layer)] != 0);
  }
  float attn_scale() const { return query_scale > 0 ? query_scale : 1.0f / std::sqrt(static_cast<float>(head_dim)); }

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and validates the hyper-parameters; throws rpu::Error naming the bad key.
ModelConfig config_from_gguf(const GgufFile& file);

}  // namespace rpu
