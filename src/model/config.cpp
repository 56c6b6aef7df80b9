#include "model/config.h"

#include <array>
#include <cmath>

#include "core/error.h"

namespace rpu {
namespace {

constexpr std::array kArchs = {
    ArchSpec{.name = "llama", .rope_style = RopeStyle::kAdjacent},
    ArchSpec{.name = "qwen2", .rope_style = RopeStyle::kHalves, .requires_qkv_bias = true},
    ArchSpec{.name = "qwen3", .rope_style = RopeStyle::kHalves, .requires_qk_norm = true},
    // BERT encoders (bge, all-MiniLM, ...): learned positions, post-LayerNorm, GELU MLP,
    // biases on every projection, bidirectional attention, pooled embeddings.
    ArchSpec{.name = "bert",
             .requires_qkv_bias = true,
             .encoder = true,
             .positions = Positions::kLearned,
             .norm = NormKind::kLayer,
             .ffn = FfnKind::kGelu,
             .requires_proj_bias = true,
             .token_types = true,
             .input_norm = true},
    // Gemma 2: GeGLU, embeddings scaled by sqrt(n_embd), RMSNorms before and after each
    // block, soft-capped attention and final logits, every other layer local (window 4096).
    ArchSpec{.name = "gemma2",
             .rope_style = RopeStyle::kHalves,
             .ffn = FfnKind::kGeGlu,
             .post_block_norms = true,
             .embed_scale = true,
             .attn_softcap = true,
             .final_softcap_default = 30.0f,
             .swa_period = 2,
             .default_swa = 4096,
             .query_scale_embd_layers = 46},
    // Gemma 3: gemma2 with per-head q/k RMSNorm instead of attention soft-capping, five local
    // layers (rope base 10000, unscaled) to one global.
    ArchSpec{.name = "gemma3",
             .rope_style = RopeStyle::kHalves,
             .requires_qk_norm = true,
             .ffn = FfnKind::kGeGlu,
             .post_block_norms = true,
             .embed_scale = true,
             .swa_period = 6,
             .swa_rope_theta = 10000.0f,
             .query_scale_embd_layers = 62},
    // Phi-3 / 3.5: fused qkv and gate/up projections; longrope factors when the file has them.
    ArchSpec{.name = "phi3", .rope_style = RopeStyle::kHalves, .fused_qkv = true, .fused_gate_up = true, .swa_period = 1},
    // SmolLM3: llama with every fourth layer without RoPE.
    ArchSpec{.name = "smollm3", .rope_style = RopeStyle::kAdjacent, .no_rope_period = 4},
};

int read_positive(const GgufFile& file, const std::string& key, int64_t max) {
  const GgufValue& value = file.require(key);
  const int64_t v = value.as_int(key);
  if (v <= 0 || v > max) fail("{}: metadata '{}' = {} is out of range (1..{})", file.path(), key, v, max);
  return static_cast<int>(v);
}

int read_positive_or(const GgufFile& file, const std::string& key, int fallback, int64_t max) {
  return file.find(key) ? read_positive(file, key, max) : fallback;
}

// The rotary-embedding keys.
void read_rope_keys(const GgufFile& file, const std::string& arch, ModelConfig& c) {
  c.rope_theta = static_cast<float>(file.get_double(arch + ".rope.freq_base", 10000.0));
  if (!(c.rope_theta > 1 && std::isfinite(c.rope_theta))) fail("{}: rope theta {} is out of range", file.path(), c.rope_theta);
  c.rope_dim = read_positive_or(file, arch + ".rope.dimension_count", c.head_dim, c.head_dim);
  if (c.rope_dim % 2 != 0) fail("{}: rope dimension count {} is odd", file.path(), c.rope_dim);

  c.rope_attn_factor = static_cast<float>(file.get_double(arch + ".rope.scaling.attn_factor", 1.0));
  if (!(c.rope_attn_factor > 0 && c.rope_attn_factor < 100)) {
    fail("{}: metadata '{}.rope.scaling.attn_factor' = {} is out of range", file.path(), arch, c.rope_attn_factor);
  }
  c.n_ctx_orig = read_positive_or(file, arch + ".rope.scaling.original_context_length", c.n_ctx_train, 1 << 24);

  const std::string scaling = file.get_string(arch + ".rope.scaling.type", "none");
  if (scaling == "linear") {
    const double factor = file.get_double(arch + ".rope.scaling.factor", 1.0);
    if (!(factor >= 1.0 && factor < 1e6)) fail("{}: rope scaling factor {} is out of range", file.path(), factor);
    c.rope_position_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none") {
    // llama3 scaling arrives as the rope_freqs tensor (handled by the weights); yarn is not yet done.
    if (scaling != "llama3") fail("{}: rope scaling type '{}' is not supported", file.path(), scaling);
  }
  // Local (sliding-window) layers: gemma3's own base without scaling, or the global rotation.
  if (c.arch->swa_rope_theta > 0) {
    c.rope_theta_swa = static_cast<float>(file.get_double(arch + ".rope.freq_base_swa", c.arch->swa_rope_theta));
    c.rope_position_scale_swa = 1.0f;
  } else {
    c.rope_theta_swa = static_cast<float>(file.get_double(arch + ".rope.freq_base_swa", c.rope_theta));
    c.rope_position_scale_swa = c.rope_position_scale;
  }
  if (!(c.rope_theta_swa > 1 && std::isfinite(c.rope_theta_swa))) {
    fail("{}: local rope theta {} is out of range", file.path(), c.rope_theta_swa);
  }
}

float read_cap(const GgufFile& file, const std::string& key, float fallback) {
  const float cap = static_cast<float>(file.get_double(key, fallback));
  if (!(cap >= 0 && cap < 1e6)) fail("{}: metadata '{}' = {} is out of range", file.path(), key, cap);
  return cap;
}

// Which layers are local (sliding window) and which rotate, the query scale and the soft
// caps: the decoder details some architectures add (ArchSpec's later fields).
void read_layer_pattern(const GgufFile& file, const std::string& arch, ModelConfig& c) {
  const ArchSpec& a = *c.arch;
  const auto n = static_cast<size_t>(c.n_layer);
  c.swa_layers.assign(n, 0);
  c.rope_layers.assign(n, 1);
  if (a.no_rope_period > 0) {
    for (size_t l = 0; l < n; ++l) c.rope_layers[l] = (l + 1) % static_cast<size_t>(a.no_rope_period) != 0;
  }
  if (a.swa_period > 0) {
    const std::string window_key = arch + ".attention.sliding_window";
    c.sliding_window = a.default_swa;
    if (const GgufValue* v = file.find(window_key)) {
      const int64_t window = v->as_int(window_key);  // 0: no window (as phi-4's converter writes)
      if (window < 0 || window > (1 << 30)) fail("{}: metadata '{}' = {} is out of range", file.path(), window_key, window);
      c.sliding_window = static_cast<int>(window);
    }
    const std::string pattern_key = arch + ".attention.sliding_window_pattern";
    int period = a.swa_period;
    if (const GgufValue* v = file.find(pattern_key)) {
      if (v->type() == GgufType::ARRAY) {
        fail("{}: metadata '{}' is a per-layer array; only a period is supported", file.path(), pattern_key);
      }
      period = read_positive(file, pattern_key, 1 << 16);
    }
    for (size_t l = 0; l < n; ++l) c.swa_layers[l] = period == 1 || static_cast<int>(l % static_cast<size_t>(period)) < period - 1;
  }
  const bool embd_scale = a.query_scale_embd_layers > 0 && c.n_layer == a.query_scale_embd_layers;
  c.query_scale = 1.0f / std::sqrt(static_cast<float>(embd_scale ? c.n_embd / c.n_head : c.head_dim));
  if (a.embed_scale) c.embed_scale = std::sqrt(static_cast<float>(c.n_embd));
  if (a.attn_softcap) c.attn_softcap = read_cap(file, arch + ".attn_logit_softcapping", 50.0f);
  c.final_softcap = read_cap(file, arch + ".final_logit_softcapping", a.final_softcap_default);
}

// The encoder-only keys: attention must not be causal, pooling must give one vector per input
// (a file without pooling_type, as older conversions, is mean-pooled).
void read_encoder_keys(const GgufFile& file, const std::string& arch, ModelConfig& c) {
  const std::string eps_key = arch + ".attention.layer_norm_epsilon";
  c.layer_norm_eps = static_cast<float>(file.require(eps_key).as_double(eps_key));
  if (!(c.layer_norm_eps > 0 && c.layer_norm_eps < 1)) {
    fail("{}: metadata '{}' = {} is out of range (0..1)", file.path(), eps_key, c.layer_norm_eps);
  }
  const std::string causal_key = arch + ".attention.causal";
  if (file.find(causal_key) && file.require(causal_key).as_bool(causal_key)) {
    fail("{}: metadata '{}' is true; rpu runs {} as a bidirectional encoder only", file.path(), causal_key, arch);
  }
  const std::string pooling_key = arch + ".pooling_type";
  if (const GgufValue* pooling = file.find(pooling_key)) {
    const int64_t p = pooling->as_int(pooling_key);
    if (p != static_cast<int64_t>(Pooling::kMean) && p != static_cast<int64_t>(Pooling::kCls) &&
        p != static_cast<int64_t>(Pooling::kLast) && p != static_cast<int64_t>(Pooling::kRank)) {
      fail("{}: metadata '{}' = {} is not a supported pooling type (1 = mean, 2 = cls, 3 = last, 4 = rank)", file.path(),
           pooling_key, p);
    }
    c.pooling = static_cast<Pooling>(p);
  }
  c.n_token_types = read_positive_or(file, "tokenizer.ggml.token_type_count", 0, 1 << 16);
  if (c.arch->token_types && c.n_token_types == 0) {
    fail("{}: metadata 'tokenizer.ggml.token_type_count' is missing; {} needs its token type count", file.path(), arch);
  }
}

}  // namespace

const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::kNone: return "none";
    case Pooling::kMean: return "mean";
    case Pooling::kCls: return "cls";
    case Pooling::kLast: return "last";
    case Pooling::kRank: return "rank";
  }
  return "?";
}

const ArchSpec* find_arch(const std::string& name) {
  for (const auto& arch : kArchs) {
    if (name == arch.name) return &arch;
  }
  return nullptr;
}

std::string supported_arch_names() {
  std::string names;
  for (const auto& arch : kArchs) names += (names.empty() ? "" : ", ") + std::string(arch.name);
  return names;
}

ModelConfig config_from_gguf(const GgufFile& file) {
  const std::string arch = file.require("general.architecture").as_string("general.architecture");
  ModelConfig c;
  c.arch = find_arch(arch);
  if (c.arch == nullptr) {
    fail("{}: architecture '{}' is not supported (supported: {})", file.path(), arch, supported_arch_names());
  }
  constexpr int64_t kMaxDim = 1 << 20;
  c.n_embd = read_positive(file, arch + ".embedding_length", kMaxDim);
  c.n_layer = read_positive(file, arch + ".block_count", 4096);
  c.n_head = read_positive(file, arch + ".attention.head_count", 4096);
  c.n_head_kv = read_positive_or(file, arch + ".attention.head_count_kv", c.n_head, 4096);
  c.n_ff = read_positive(file, arch + ".feed_forward_length", kMaxDim);
  c.n_ctx_train = read_positive_or(file, arch + ".context_length", 2048, 1 << 24);
  if (c.n_head % c.n_head_kv != 0) {
    fail("{}: {} query heads cannot be grouped over {} key/value heads", file.path(), c.n_head, c.n_head_kv);
  }
  if (c.n_embd % c.n_head != 0 && !file.find(arch + ".attention.key_length")) {
    fail("{}: embedding length {} is not divisible by {} heads", file.path(), c.n_embd, c.n_head);
  }
  c.head_dim = read_positive_or(file, arch + ".attention.key_length", c.n_embd / c.n_head, 1 << 16);
  const int value_dim = read_positive_or(file, arch + ".attention.value_length", c.head_dim, 1 << 16);
  if (value_dim != c.head_dim) {
    fail("{}: value head size {} differs from key head size {}; not supported", file.path(), value_dim, c.head_dim);
  }
  if (c.arch->encoder) read_encoder_keys(file, arch, c);
  if (c.arch->norm == NormKind::kRms) {
    c.rms_eps = static_cast<float>(file.get_double(arch + ".attention.layer_norm_rms_epsilon", 1e-5));
    if (!(c.rms_eps > 0 && c.rms_eps < 1)) fail("{}: RMSNorm epsilon {} is out of range", file.path(), c.rms_eps);
  }
  if (c.arch->positions == Positions::kRope) {
    read_rope_keys(file, arch, c);
  } else {
    c.rope_dim = 0;  // no rotary embeddings
  }
  read_layer_pattern(file, arch, c);

  // The vocabulary size comes from the tokenizer when present; the embedding table is checked against it.
  if (const GgufValue* tokens = file.find("tokenizer.ggml.tokens")) {
    c.n_vocab = static_cast<int>(tokens->as_array("tokenizer.ggml.tokens").size());
  } else {
    c.n_vocab = read_positive(file, arch + ".vocab_size", 1 << 24);
  }
  if (c.n_vocab <= 0) fail("{}: the vocabulary is empty", file.path());
  return c;
}

}  // namespace rpu
