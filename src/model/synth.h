// Random-weight models in a real architecture's layout, written as GGUF. Tests use tiny
// ones as oracles for the forward pass; benchmarks use ones with real models' shapes.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "io/gguf.h"

namespace rpu {

struct SynthSpec {
  std::string arch = "llama";  // general.architecture; must be in the arch table
  int n_vocab = 300;           // >= 259: <unk>, <s>, </s>, 256 byte tokens, then word pieces
  int n_embd = 32;
  int n_layer = 2;
  int n_head = 4;
  int n_head_kv = 2;
  int head_dim = 0;  // 0: n_embd / n_head; otherwise written as attention.key_length
  int n_ff = 48;
  int n_ctx = 256;
  int rope_dim = 0;  // 0: head_dim
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_output = false;
  bool qkv_bias = false;      // attn_{q,k,v}.bias tensors
  bool qk_norm = false;       // attn_{q,k}_norm tensors
  bool llama3_rope = false;   // rope_freqs tensor with llama3-style frequency factors
  DType matrix_type = DType::F32;  // type of the 2-D weights (norms and biases stay F32)
  uint64_t seed = 1;
};

// Builds the whole file in memory (a writer that owns every tensor's bytes).
GgufWriter synth_model(const SynthSpec& spec);

}  // namespace rpu
