// Random-weight models in a real architecture's layout, written as GGUF. Tests use tiny
// ones as oracles for the forward pass; benchmarks use ones with real models' shapes
// (model/synth_presets.h), which llama.cpp loads as well.
//
// Weights are a pure function of (seed, tensor name, row), so a model is the same whatever
// the thread count and can be generated row by row while it streams to disk:
//   matrices [rows, cols]: uniform in +-1/sqrt(cols) (std ~0.58/sqrt(fan_in), keeps
//     activations O(1) through the layers);
//   norms: uniform in 1 +- 0.2; biases (LayerNorm biases too): uniform in +-0.5;
//   position and token-type embeddings (encoders): like matrices, and always f32;
//   rope_freqs: llama3 frequency factors computed from the scaling parameters;
//   rope_factors_long/short (phi3 longrope): smooth synthetic factors (SynthSpec::longrope).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "io/gguf.h"
#include "model/config.h"
#include "model/quant_plan.h"
#include "model/requantize.h"
#include "model/synth_vocab.h"

namespace rpu {

struct SynthSpec {
  std::string arch = "llama";  // general.architecture; must be in the arch table
  std::string name;            // general.name; empty: "rpu-synth-<arch>"
  int n_vocab = 300;           // SPM: >= 259 (<unk>, <s>, </s>, 256 byte tokens, word pieces)
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
  bool tied_output = false;  // decoders; encoders have no output head
  bool qkv_bias = false;      // attn_{q,k,v}.bias tensors
  bool qk_norm = false;       // attn_{q,k}_norm tensors
  // rope_freqs tensor with llama3 frequency factors from these scaling parameters.
  bool llama3_rope = false;
  float llama3_factor = 8.0f;
  float llama3_low_freq_factor = 1.0f;
  float llama3_high_freq_factor = 4.0f;
  int llama3_original_ctx = 8192;
  // Phi-3 longrope: rope_factors_long/short tensors (synthetic factors rising from 1 over the
  // pairs, long ones to ~40, short ones to ~3), rope.scaling.original_context_length and the
  // attention factor sqrt(1 + ln(n_ctx / original) / ln(original)) as llama.cpp's converter writes them.
  bool longrope = false;
  int longrope_original_ctx = 4096;
  // Written only when non-zero (the architecture's defaults apply otherwise):
  int sliding_window = 0;          // <arch>.attention.sliding_window
  int sliding_window_pattern = 0;  // <arch>.attention.sliding_window_pattern
  float attn_softcap = 0.0f;       // <arch>.attn_logit_softcapping
  float final_softcap = 0.0f;      // <arch>.final_logit_softcapping
  float rope_theta_swa = 0.0f;     // <arch>.rope.freq_base_swa
  float rope_linear_factor = 0.0f; // rope.scaling.type = linear with this factor
  // Tensor types: with a scheme, llama.cpp's per-tensor mix for that file type (and
  // general.file_type); without one, every 2-D weight is matrix_type. 1-D tensors stay F32.
  DType matrix_type = DType::F32;
  const QuantScheme* scheme = nullptr;
  // Encoders (an arch with ArchSpec::encoder: bert): the token type count, the pooling
  // written as <arch>.pooling_type, and the LayerNorm epsilon. n_ctx is the position table.
  int n_token_types = 2;
  Pooling pooling = Pooling::kMean;
  int n_cls_out = 1;  // pooling rank: the classifier's outputs (cls.output rows)
  float layer_norm_eps = 1e-12f;
  // Tokenizer: byte-level BPE when set, else a WordPiece vocabulary when `wordpiece`,
  // otherwise the SentencePiece-style test vocabulary.
  std::optional<BpeVocabSpec> bpe;
  std::vector<SpecialToken> spm_specials;  // special tokens in the SentencePiece-style vocabulary
  bool wordpiece = false;
  uint64_t seed = 1;
};

// The whole file as a writer whose tensors are produced (generated and quantized) while it
// writes, so write(path) streams to disk. `pool` (may be null) quantizes rows in parallel and
// `progress` hears about every chunk; both must outlive the writer's write() / to_bytes().
GgufWriter synth_model(const SynthSpec& spec, ThreadPool* pool = nullptr, ProgressFn progress = nullptr);

// Just the metadata (hyper-parameters, tokenizer, file type) of that file: a tensor-free
// GGUF that config_from_gguf and Tokenizer::from_gguf read, at no cost in weights.
GgufWriter synth_metadata(const SynthSpec& spec);

// Name, shape and final type of every tensor synth_model writes, in file order.
std::vector<TensorDesc> synth_tensors(const SynthSpec& spec);

}  // namespace rpu
