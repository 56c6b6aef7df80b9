#include "model/synth.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/quant.h"
#include "core/rng.h"

namespace rpu {
namespace {

class WeightFactory {
 public:
  WeightFactory(GgufWriter& writer, uint64_t seed) : writer_(writer), rng_(seed) {}

  // Uniform in [-scale, scale]; scale ~ 1/sqrt(fan_in) keeps activations O(1) through layers.
  std::vector<float> random(size_t n, float scale, float offset = 0.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = offset + scale * static_cast<float>(2.0 * rng_.uniform() - 1.0);
    return v;
  }

  void add(const std::string& name, DType type, std::vector<uint64_t> shape, const std::vector<float>& values) {
    const uint64_t cols = shape[0];
    const uint64_t rows = values.size() / cols;
    std::vector<uint8_t> bytes(dtype_row_bytes(type, cols) * rows);
    const uint64_t row_bytes = dtype_row_bytes(type, cols);
    for (uint64_t r = 0; r < rows; ++r) {
      quantize_row(type, values.data() + r * cols, bytes.data() + r * row_bytes, static_cast<int64_t>(cols));
    }
    writer_.add_tensor(name, type, std::move(shape), std::move(bytes));
  }

  void matrix(const std::string& name, DType type, int cols, int rows) {
    add(name, type, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)},
        random(static_cast<size_t>(cols) * rows, 1.0f / std::sqrt(static_cast<float>(cols))));
  }
  void vector(const std::string& name, int n, float scale, float offset) {
    add(name, DType::F32, {static_cast<uint64_t>(n)}, random(static_cast<size_t>(n), scale, offset));
  }

 private:
  GgufWriter& writer_;
  Rng rng_;
};

void add_vocab(GgufWriter& w, int n_vocab) {
  if (n_vocab < 259) fail("a synthetic vocabulary needs at least 259 tokens, got {}", n_vocab);
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    scores.push_back(0);
    types.push_back(6);
  }
  // Word pieces: single letters with and without the space marker, then letter pairs.
  for (int i = 0; static_cast<int>(tokens.size()) < n_vocab; ++i) {
    const int letters = 26;
    std::string piece;
    if (i < letters) {
      piece = std::string(1, static_cast<char>('a' + i));
    } else if (i < 2 * letters) {
      piece = "\xe2\x96\x81" + std::string(1, static_cast<char>('a' + i - letters));
    } else {
      const int j = i - 2 * letters;
      piece = fmt::format("{}{}{}", std::string(1, static_cast<char>('a' + j % letters)),
                          std::string(1, static_cast<char>('a' + (j / letters) % letters)), j / (letters * letters));
    }
    tokens.push_back(piece);
    scores.push_back(-static_cast<float>(i));
    types.push_back(1);
  }
  w.set("tokenizer.ggml.model", GgufValue::str("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
  w.set("tokenizer.ggml.scores", GgufValue::f32_array(scores));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(0));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
}

}  // namespace

GgufWriter synth_model(const SynthSpec& s) {
  const int head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  const int rope_dim = s.rope_dim > 0 ? s.rope_dim : head_dim;
  const int q_dim = s.n_head * head_dim;
  const int kv_dim = s.n_head_kv * head_dim;
  const std::string& a = s.arch;

  GgufWriter w;
  w.set("general.architecture", GgufValue::str(a));
  w.set("general.name", GgufValue::str("rpu-synth-" + a));
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
  w.set(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(s.rms_eps));
  w.set(a + ".rope.freq_base", GgufValue::f32(s.rope_theta));
  w.set(a + ".rope.dimension_count", GgufValue::u32(static_cast<uint32_t>(rope_dim)));
  add_vocab(w, s.n_vocab);

  WeightFactory f(w, s.seed);
  const DType t = s.matrix_type;
  f.matrix("token_embd.weight", t, s.n_embd, s.n_vocab);
  f.vector("output_norm.weight", s.n_embd, 0.2f, 1.0f);
  if (!s.tied_output) f.matrix("output.weight", t, s.n_embd, s.n_vocab);
  if (s.llama3_rope) {
    // Frequency divisors as llama3 scaling produces them: 1 for fast pairs, up to the factor for slow ones.
    std::vector<float> factors(static_cast<size_t>(rope_dim / 2));
    for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + 7.0f * static_cast<float>(i) / static_cast<float>(factors.size());
    f.add("rope_freqs.weight", DType::F32, {factors.size()}, factors);
  }
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    f.vector(p + "attn_norm.weight", s.n_embd, 0.2f, 1.0f);
    f.matrix(p + "attn_q.weight", t, s.n_embd, q_dim);
    f.matrix(p + "attn_k.weight", t, s.n_embd, kv_dim);
    f.matrix(p + "attn_v.weight", t, s.n_embd, kv_dim);
    f.matrix(p + "attn_output.weight", t, q_dim, s.n_embd);
    if (s.qkv_bias) {
      f.vector(p + "attn_q.bias", q_dim, 0.5f, 0.0f);
      f.vector(p + "attn_k.bias", kv_dim, 0.5f, 0.0f);
      f.vector(p + "attn_v.bias", kv_dim, 0.5f, 0.0f);
    }
    if (s.qk_norm) {
      f.vector(p + "attn_q_norm.weight", head_dim, 0.2f, 1.0f);
      f.vector(p + "attn_k_norm.weight", head_dim, 0.2f, 1.0f);
    }
    f.vector(p + "ffn_norm.weight", s.n_embd, 0.2f, 1.0f);
    f.matrix(p + "ffn_gate.weight", t, s.n_embd, s.n_ff);
    f.matrix(p + "ffn_up.weight", t, s.n_embd, s.n_ff);
    f.matrix(p + "ffn_down.weight", t, s.n_ff, s.n_embd);
  }
  return w;
}

}  // namespace rpu
