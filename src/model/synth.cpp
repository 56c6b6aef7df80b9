#include "model/synth.h"

#include <cmath>
#include <memory>
#include <numbers>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/quant.h"
#include "model/layer_tensors.h"

namespace rpu {
namespace {

// GGML_QNT_VERSION, written with quantized files as llama-quantize does.
constexpr uint32_t kQuantizationVersion = 2;

enum class Init { kMatrix, kNorm, kBias, kRopeFreqs, kRopeLong, kRopeShort };

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> shape;  // GGUF order: shape[0] is the row length
  Init init;
};

Init layer_init(LayerTensorKind kind) {
  switch (kind) {
    case LayerTensorKind::kMatrix: return Init::kMatrix;
    case LayerTensorKind::kBias: return Init::kBias;
    case LayerTensorKind::kNorm:
    case LayerTensorKind::kHeadNorm: return Init::kNorm;
  }
  return Init::kMatrix;
}

const ArchSpec& arch_of(const SynthSpec& s) {
  const ArchSpec* arch = find_arch(s.arch);
  if (arch == nullptr) fail("architecture '{}' is not supported (supported: {})", s.arch, supported_arch_names());
  return *arch;
}

std::vector<TensorSpec> tensor_specs(const SynthSpec& s) {
  const auto u = [](int v) { return static_cast<uint64_t>(v); };
  const int head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  const int rope_dim = s.rope_dim > 0 ? s.rope_dim : head_dim;
  const LayerDims dims{s.n_embd, s.n_head * head_dim, s.n_head_kv * head_dim, s.n_ff, head_dim};
  const ArchSpec& arch = arch_of(s);
  const LayerVariant variant = LayerVariant{s.qkv_bias, s.qk_norm}.with_layout_of(arch);
  std::vector<TensorSpec> t;
  t.push_back({"token_embd.weight", {u(s.n_embd), u(s.n_vocab)}, Init::kMatrix});
  if (arch.encoder) {
    if (arch.token_types) t.push_back({"token_types.weight", {u(s.n_embd), u(s.n_token_types)}, Init::kMatrix});
    if (arch.positions == Positions::kLearned) t.push_back({"position_embd.weight", {u(s.n_embd), u(s.n_ctx)}, Init::kMatrix});
    if (arch.input_norm) {
      t.push_back({"token_embd_norm.weight", {u(s.n_embd)}, Init::kNorm});
      t.push_back({"token_embd_norm.bias", {u(s.n_embd)}, Init::kBias});
    }
    if (s.pooling == Pooling::kRank) {  // a cross-encoder's pooler and classifier
      t.push_back({"cls.weight", {u(s.n_embd), u(s.n_embd)}, Init::kMatrix});
      t.push_back({"cls.bias", {u(s.n_embd)}, Init::kBias});
      t.push_back({"cls.output.weight", {u(s.n_embd), u(s.n_cls_out)}, Init::kMatrix});
      t.push_back({"cls.output.bias", {u(s.n_cls_out)}, Init::kBias});
    }
  } else {
    t.push_back({"output_norm.weight", {u(s.n_embd)}, Init::kNorm});
    if (!s.tied_output) t.push_back({"output.weight", {u(s.n_embd), u(s.n_vocab)}, Init::kMatrix});
  }
  if (s.llama3_rope) t.push_back({"rope_freqs.weight", {u(rope_dim / 2)}, Init::kRopeFreqs});
  if (s.longrope) {
    t.push_back({"rope_factors_long.weight", {u(rope_dim / 2)}, Init::kRopeLong});
    t.push_back({"rope_factors_short.weight", {u(rope_dim / 2)}, Init::kRopeShort});
  }
  for (int l = 0; l < s.n_layer; ++l) {
    for (const LayerTensor& lt : layer_tensors()) {
      if (variant.has(lt.presence)) t.push_back({layer_tensor_name(l, lt), lt.gguf_shape(dims), layer_init(lt.kind)});
    }
  }
  return t;
}

std::vector<TensorPlan> plan_types(const SynthSpec& s, const std::vector<TensorSpec>& specs) {
  std::vector<TensorDesc> descs;
  for (const auto& t : specs) descs.push_back({t.name, t.shape, DType::F32});
  if (s.scheme != nullptr) return plan_tensor_types(*s.scheme, descs, s.n_layer);
  std::vector<TensorPlan> plan;
  // The 2-D weights a scheme would convert (not position or token-type tables) take matrix_type.
  for (const auto& d : descs) plan.push_back({is_quantizable(d) ? s.matrix_type : DType::F32});
  return plan;
}

// Llama 3's frequency divisors per rotation pair, as its converter computes them: 1 for
// wavelengths under original_ctx / high_freq_factor, `factor` above original_ctx /
// low_freq_factor, and a smooth blend in between.
std::vector<float> llama3_rope_factors(const SynthSpec& s, int rope_dim) {
  const double low_wavelen = s.llama3_original_ctx / s.llama3_low_freq_factor;
  const double high_wavelen = s.llama3_original_ctx / s.llama3_high_freq_factor;
  std::vector<float> factors;
  for (int i = 0; i < rope_dim / 2; ++i) {
    const double freq = 1.0 / std::pow(static_cast<double>(s.rope_theta), 2.0 * i / rope_dim);
    const double wavelen = 2 * std::numbers::pi / freq;
    double f = 1;
    if (wavelen > low_wavelen) {
      f = s.llama3_factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (s.llama3_original_ctx / wavelen - s.llama3_low_freq_factor) /
                            (s.llama3_high_freq_factor - s.llama3_low_freq_factor);
      f = 1 / ((1 - smooth) / s.llama3_factor + smooth);
    }
    factors.push_back(static_cast<float>(f));
  }
  return factors;
}

uint64_t mix(uint64_t x) { return Rng(x).next(); }

uint64_t name_hash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// Everything the produced tensors need while the writer runs.
struct Generator {
  SynthSpec spec;
  ThreadPool* pool;
  ConvertProgress progress;
  ProgressFn report;
  std::vector<float> rope_factors;

  // Row `row` of a tensor: uniform values, seeded from (seed, tensor, row) alone.
  void fill(const TensorSpec& t, uint64_t tensor_seed, uint64_t row, float* out) const {
    const uint64_t cols = t.shape[0];
    if (t.init == Init::kRopeFreqs) {
      std::copy(rope_factors.begin(), rope_factors.end(), out);
      return;
    }
    if (t.init == Init::kRopeLong || t.init == Init::kRopeShort) {
      // Like Phi-3.5's lists: 1 for the fastest pairs, rising smoothly for slower ones.
      const float top = t.init == Init::kRopeLong ? 40.0f : 3.0f;
      for (uint64_t c = 0; c < cols; ++c) {
        const float r = static_cast<float>(c) / static_cast<float>(std::max<uint64_t>(1, cols - 1));
        out[c] = 1.0f + (top - 1.0f) * r * r;
      }
      return;
    }
    float scale = 0.5f, offset = 0.0f;
    if (t.init == Init::kMatrix) scale = 1.0f / std::sqrt(static_cast<float>(cols));
    if (t.init == Init::kNorm) scale = 0.2f, offset = 1.0f;
    Rng rng(mix(tensor_seed + row));
    for (uint64_t c = 0; c < cols; ++c) out[c] = offset + scale * static_cast<float>(2.0 * rng.uniform() - 1.0);
  }
};

// The keys of the later architectures' details, each written only when set, named as
// llama.cpp's converters write them.
void add_decoder_extras(GgufWriter& w, const SynthSpec& s) {
  const std::string& a = s.arch;
  const auto u32 = [](int v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  if (s.sliding_window > 0) w.set(a + ".attention.sliding_window", u32(s.sliding_window));
  if (s.sliding_window_pattern > 0) w.set(a + ".attention.sliding_window_pattern", u32(s.sliding_window_pattern));
  if (s.attn_softcap > 0) w.set(a + ".attn_logit_softcapping", GgufValue::f32(s.attn_softcap));
  if (s.final_softcap > 0) w.set(a + ".final_logit_softcapping", GgufValue::f32(s.final_softcap));
  if (s.rope_theta_swa > 0) w.set(a + ".rope.freq_base_swa", GgufValue::f32(s.rope_theta_swa));
  if (s.rope_linear_factor > 0) {
    w.set(a + ".rope.scaling.type", GgufValue::str("linear"));
    w.set(a + ".rope.scaling.factor", GgufValue::f32(s.rope_linear_factor));
  }
  if (s.longrope) {
    if (s.longrope_original_ctx < 2) fail("longrope needs an original context of at least 2");
    const double scale = static_cast<double>(s.n_ctx) / s.longrope_original_ctx;
    const double factor = scale > 1 ? std::sqrt(1 + std::log(scale) / std::log(s.longrope_original_ctx)) : 1.0;
    w.set(a + ".rope.scaling.attn_factor", GgufValue::f32(static_cast<float>(factor)));
    w.set(a + ".rope.scaling.original_context_length", u32(s.longrope_original_ctx));
  }
}

}  // namespace

std::vector<TensorDesc> synth_tensors(const SynthSpec& spec) {
  const auto specs = tensor_specs(spec);
  const auto plan = plan_types(spec, specs);
  std::vector<TensorDesc> out;
  for (size_t i = 0; i < specs.size(); ++i) out.push_back({specs[i].name, specs[i].shape, plan[i].type});
  return out;
}

GgufWriter synth_metadata(const SynthSpec& s) {
  if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 || s.n_vocab <= 0) {
    fail("synthetic model sizes must be positive");
  }
  const int head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  const int rope_dim = s.rope_dim > 0 ? s.rope_dim : head_dim;
  const std::string& a = s.arch;
  const ArchSpec& arch = arch_of(s);

  GgufWriter w;
  w.set("general.architecture", GgufValue::str(a));
  w.set("general.name", GgufValue::str(s.name.empty() ? "rpu-synth-" + a : s.name));
  w.set(a + ".context_length", GgufValue::u32(static_cast<uint32_t>(s.n_ctx)));
  w.set(a + ".embedding_length", GgufValue::u32(static_cast<uint32_t>(s.n_embd)));
  w.set(a + ".block_count", GgufValue::u32(static_cast<uint32_t>(s.n_layer)));
  w.set(a + ".feed_forward_length", GgufValue::u32(static_cast<uint32_t>(s.n_ff)));
  w.set(a + ".attention.head_count", GgufValue::u32(static_cast<uint32_t>(s.n_head)));
  w.set(a + ".attention.head_count_kv", GgufValue::u32(static_cast<uint32_t>(s.n_head_kv)));
  if (s.head_dim > 0) {
    w.set(a + ".attention.key_length", GgufValue::u32(static_cast<uint32_t>(head_dim)));
    w.set(a + ".attention.value_length", GgufValue::u32(static_cast<uint32_t>(head_dim)));
  }
  if (arch.encoder) {
    w.set(a + ".attention.layer_norm_epsilon", GgufValue::f32(s.layer_norm_eps));
    w.set(a + ".attention.causal", GgufValue::boolean(false));
    w.set(a + ".pooling_type", GgufValue::u32(static_cast<uint32_t>(s.pooling)));
    w.set("tokenizer.ggml.token_type_count", GgufValue::u32(static_cast<uint32_t>(s.n_token_types)));
  } else {
    w.set(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(s.rms_eps));
  }
  if (arch.positions == Positions::kRope) {
    w.set(a + ".rope.freq_base", GgufValue::f32(s.rope_theta));
    w.set(a + ".rope.dimension_count", GgufValue::u32(static_cast<uint32_t>(rope_dim)));
  }
  add_decoder_extras(w, s);
  if (s.bpe) {
    add_bpe_vocab(w, *s.bpe, s.n_vocab);
  } else if (s.wordpiece) {
    add_wordpiece_vocab(w, s.n_vocab);
  } else {
    add_spm_vocab(w, s.n_vocab, s.spm_specials);
  }

  const auto plan = plan_types(s, tensor_specs(s));
  bool quantized = false;
  for (const auto& p : plan) quantized = quantized || dtype_info(p.type).block_size > 1;
  if (s.scheme != nullptr) w.set("general.file_type", GgufValue::u32(s.scheme->file_type));
  if (quantized) w.set("general.quantization_version", GgufValue::u32(kQuantizationVersion));
  return w;
}

GgufWriter synth_model(const SynthSpec& s, ThreadPool* pool, ProgressFn progress) {
  GgufWriter w = synth_metadata(s);
  const int head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  const int rope_dim = s.rope_dim > 0 ? s.rope_dim : head_dim;
  const auto specs = tensor_specs(s);
  const auto plan = plan_types(s, specs);
  auto gen = std::make_shared<Generator>(Generator{s, pool, {}, std::move(progress), {}});
  if (s.llama3_rope) gen->rope_factors = llama3_rope_factors(s, rope_dim);
  gen->progress.n_tensors = specs.size();
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& t = specs[i];
    const DType type = plan[i].type;
    if (t.shape[0] % dtype_info(type).block_size != 0) {
      fail("tensor '{}' rows of {} do not fit {} blocks", t.name, t.shape[0], dtype_name(type));
    }
    uint64_t rows = 1;
    for (size_t d = 1; d < t.shape.size(); ++d) rows *= t.shape[d];
    const uint64_t row_bytes = dtype_row_bytes(type, t.shape[0]);
    gen->progress.bytes_total += rows * row_bytes;
    const uint64_t tensor_seed = mix(s.seed ^ name_hash(t.name));
    w.add_produced_tensor(t.name, type, t.shape, [gen, t, i, type, tensor_seed, row_bytes](uint64_t first, uint64_t n, uint8_t* dst) {
      gen->progress.tensor = i;
      convert_rows(gen->pool, type, t.shape[0], first, n, dst,
                   [&](uint64_t row, float* out) { gen->fill(t, tensor_seed, row, out); });
      gen->progress.bytes_done += n * row_bytes;
      if (gen->report) gen->report(gen->progress);
    });
  }
  return w;
}

}  // namespace rpu
