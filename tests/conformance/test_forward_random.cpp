// Tiny random-weight models of each architecture, written with the GGUF writer, checked
// against a plain float64 forward pass written here from the published model equations,
// independently of the engine's code. Also: batched prefill == token-by-token decode.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "kernels/quant.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"

namespace rpu {
namespace {

using Vec = std::vector<double>;

// Reads a whole tensor from the file as float64 (via the reference dequantizer).
Vec tensor(const GgufFile& file, const std::string& name) {
  const GgufTensorInfo* t = file.find_tensor(name);
  if (t == nullptr) return {};
  std::vector<float> f(t->n_elements);
  dequantize_row(t->type, t->data, f.data(), static_cast<int64_t>(t->n_elements));
  return Vec(f.begin(), f.end());
}

// y[r] = sum_c W[r][c] x[c], W stored [rows][cols].
Vec matvec(const Vec& w, const Vec& x) {
  const size_t cols = x.size(), rows = w.size() / cols;
  Vec y(rows, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
  }
  return y;
}

Vec rmsnorm(const Vec& x, const Vec& weight, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * weight[i];
  return y;
}

// What each architecture adds to the llama decoder, written down here from the model cards
// and llama.cpp's documented behaviour (not read from the engine's tables).
struct ArchTraits {
  bool adjacent_rope = false;  // llama/smollm3 pair dims (2i, 2i+1); the others (i, i + d/2)
  bool gemma = false;          // sqrt(n_embd) input scale, GeGLU, post-block RMSNorms
  bool fused = false;          // phi3: attn_qkv and gate|up in ffn_up
  int swa_period = 0;          // gemma2 2, gemma3 6, phi3 1
  double local_theta = 0;      // gemma3's local rope base (10000, unscaled); 0: as global
  int no_rope_period = 0;      // smollm3 4
  double default_final_cap = 0;
};

ArchTraits traits_of(const std::string& arch) {
  ArchTraits t;
  t.adjacent_rope = arch == "llama" || arch == "smollm3";
  t.gemma = arch == "gemma2" || arch == "gemma3";
  t.fused = arch == "phi3";
  t.swa_period = arch == "gemma2" ? 2 : arch == "gemma3" ? 6 : arch == "phi3" ? 1 : 0;
  t.local_theta = arch == "gemma3" ? 10000 : 0;
  t.no_rope_period = arch == "smollm3" ? 4 : 0;
  t.default_final_cap = arch == "gemma2" ? 30 : 0;
  return t;
}

double gelu_tanh(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

struct Reference {
  const GgufFile& file;
  const SynthSpec& spec;
  ArchTraits traits;
  int head_dim, rope_dim, n_ctx;
  std::vector<std::vector<Vec>> keys, values;  // [layer][pos] -> [kv_dim]

  Reference(const GgufFile& f, const SynthSpec& s, int ctx) : file(f), spec(s), traits(traits_of(s.arch)), n_ctx(ctx) {
    head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
    rope_dim = s.rope_dim > 0 ? s.rope_dim : head_dim;
    keys.resize(static_cast<size_t>(s.n_layer));
    values.resize(static_cast<size_t>(s.n_layer));
  }

  bool local(int layer) const {
    const int period = spec.sliding_window_pattern > 0 ? spec.sliding_window_pattern : traits.swa_period;
    return spec.sliding_window > 0 && period > 0 && (period == 1 || layer % period < period - 1);
  }

  // Rotates each head of v in place for position pos with this layer's base, scaling and
  // frequency factors (llama3 rope_freqs, or phi3's long factors beyond the original context).
  void rope(Vec& v, int n_heads, int pos, int layer) const {
    Vec factors = tensor(file, "rope_freqs.weight");
    double mscale = 1;
    if (spec.longrope) {
      factors = tensor(file, n_ctx > spec.longrope_original_ctx ? "rope_factors_long.weight" : "rope_factors_short.weight");
      const double scale = static_cast<double>(spec.n_ctx) / spec.longrope_original_ctx;
      mscale = scale > 1 ? std::sqrt(1 + std::log(scale) / std::log(spec.longrope_original_ctx)) : 1;
    }
    double theta = spec.rope_theta, position = pos;
    if (local(layer) && traits.local_theta > 0) {
      theta = spec.rope_theta_swa > 0 ? spec.rope_theta_swa : traits.local_theta;
    } else {
      if (local(layer) && spec.rope_theta_swa > 0) theta = spec.rope_theta_swa;
      if (spec.rope_linear_factor > 0) position /= spec.rope_linear_factor;
    }
    for (int h = 0; h < n_heads; ++h) {
      for (int i = 0; i < rope_dim / 2; ++i) {
        double freq = std::pow(theta, -2.0 * i / rope_dim);
        if (!factors.empty()) freq /= factors[static_cast<size_t>(i)];
        const double angle = position * freq;
        const bool adjacent = traits.adjacent_rope;
        const size_t a = static_cast<size_t>(h * head_dim + (adjacent ? 2 * i : i));
        const size_t b = static_cast<size_t>(h * head_dim + (adjacent ? 2 * i + 1 : i + rope_dim / 2));
        const double x0 = v[a], x1 = v[b];
        v[a] = mscale * (x0 * std::cos(angle) - x1 * std::sin(angle));
        v[b] = mscale * (x0 * std::sin(angle) + x1 * std::cos(angle));
      }
    }
  }

  static void add(Vec& y, const Vec& b) {
    for (size_t i = 0; i < b.size(); ++i) y[i] += b[i];
  }

  void head_norm(Vec& v, int n_heads, const Vec& weight) const {
    if (weight.empty()) return;
    for (int h = 0; h < n_heads; ++h) {
      Vec head(v.begin() + h * head_dim, v.begin() + (h + 1) * head_dim);
      head = rmsnorm(head, weight, spec.rms_eps);
      std::copy(head.begin(), head.end(), v.begin() + h * head_dim);
    }
  }

  // A block's output joining the residual stream, through its post-norm when it has one (gemma).
  void add_block(Vec& x, Vec out, const std::string& post_norm) const {
    const Vec w = tensor(file, post_norm);
    if (!w.empty()) out = rmsnorm(out, w, spec.rms_eps);
    add(x, out);
  }

  Vec attention(int l, const Vec& q, int pos) const {
    const double cap = spec.arch == "gemma2" ? (spec.attn_softcap > 0 ? spec.attn_softcap : 50.0) : 0.0;
    const int first = local(l) ? std::max(0, pos - spec.sliding_window + 1) : 0;
    Vec attn(static_cast<size_t>(spec.n_head * head_dim), 0.0);
    for (int hq = 0; hq < spec.n_head; ++hq) {
      const int hk = hq / (spec.n_head / spec.n_head_kv);  // grouped-query attention
      std::vector<double> scores;
      for (int t = first; t <= pos; ++t) {
        double dot = 0;
        for (int i = 0; i < head_dim; ++i) dot += q[static_cast<size_t>(hq * head_dim + i)] * keys[static_cast<size_t>(l)][static_cast<size_t>(t)][static_cast<size_t>(hk * head_dim + i)];
        double s = dot / std::sqrt(static_cast<double>(head_dim));
        if (cap > 0) s = cap * std::tanh(s / cap);
        scores.push_back(s);
      }
      const double m = *std::max_element(scores.begin(), scores.end());
      double total = 0;
      for (double& s : scores) total += (s = std::exp(s - m));
      for (int t = first; t <= pos; ++t) {
        for (int i = 0; i < head_dim; ++i) {
          attn[static_cast<size_t>(hq * head_dim + i)] += scores[static_cast<size_t>(t - first)] / total * values[static_cast<size_t>(l)][static_cast<size_t>(t)][static_cast<size_t>(hk * head_dim + i)];
        }
      }
    }
    return attn;
  }

  Vec feed_forward(const std::string& p, const Vec& h) const {
    Vec g, u;
    if (traits.fused) {
      const Vec gu = matvec(tensor(file, p + "ffn_up.weight"), h);  // [gate | up]
      g.assign(gu.begin(), gu.begin() + spec.n_ff);
      u.assign(gu.begin() + spec.n_ff, gu.end());
    } else {
      g = matvec(tensor(file, p + "ffn_gate.weight"), h);
      u = matvec(tensor(file, p + "ffn_up.weight"), h);
    }
    Vec act(g.size());
    for (size_t i = 0; i < g.size(); ++i) act[i] = (traits.gemma ? gelu_tanh(g[i]) : g[i] / (1.0 + std::exp(-g[i]))) * u[i];
    return matvec(tensor(file, p + "ffn_down.weight"), act);
  }

  // Logits for token at position pos (positions must be fed in order).
  Vec step(int32_t token, int pos) {
    const int d = spec.n_embd;
    const Vec embd = tensor(file, "token_embd.weight");
    Vec x(embd.begin() + static_cast<long>(token) * d, embd.begin() + static_cast<long>(token + 1) * d);
    if (traits.gemma) {
      for (double& v : x) v *= std::sqrt(static_cast<double>(d));
    }
    for (int l = 0; l < spec.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const Vec h = rmsnorm(x, tensor(file, p + "attn_norm.weight"), spec.rms_eps);
      Vec q, k, v;
      if (traits.fused) {
        const Vec qkv = matvec(tensor(file, p + "attn_qkv.weight"), h);
        const size_t qd = static_cast<size_t>(spec.n_head * head_dim), kd = static_cast<size_t>(spec.n_head_kv * head_dim);
        q.assign(qkv.begin(), qkv.begin() + static_cast<long>(qd));
        k.assign(qkv.begin() + static_cast<long>(qd), qkv.begin() + static_cast<long>(qd + kd));
        v.assign(qkv.begin() + static_cast<long>(qd + kd), qkv.end());
      } else {
        q = matvec(tensor(file, p + "attn_q.weight"), h);
        k = matvec(tensor(file, p + "attn_k.weight"), h);
        v = matvec(tensor(file, p + "attn_v.weight"), h);
      }
      add(q, tensor(file, p + "attn_q.bias"));
      add(k, tensor(file, p + "attn_k.bias"));
      add(v, tensor(file, p + "attn_v.bias"));
      head_norm(q, spec.n_head, tensor(file, p + "attn_q_norm.weight"));
      head_norm(k, spec.n_head_kv, tensor(file, p + "attn_k_norm.weight"));
      if (traits.no_rope_period == 0 || (l + 1) % traits.no_rope_period != 0) {
        rope(q, spec.n_head, pos, l);
        rope(k, spec.n_head_kv, pos, l);
      }
      keys[static_cast<size_t>(l)].push_back(k);
      values[static_cast<size_t>(l)].push_back(v);
      add_block(x, matvec(tensor(file, p + "attn_output.weight"), attention(l, q, pos)), p + "post_attention_norm.weight");
      const Vec h2 = rmsnorm(x, tensor(file, p + "ffn_norm.weight"), spec.rms_eps);
      add_block(x, feed_forward(p, h2), p + "post_ffw_norm.weight");
    }
    const Vec out = rmsnorm(x, tensor(file, "output_norm.weight"), spec.rms_eps);
    const Vec head = spec.tied_output ? tensor(file, "token_embd.weight") : tensor(file, "output.weight");
    Vec logits = matvec(head, out);
    const double cap = spec.final_softcap > 0 ? spec.final_softcap : traits.default_final_cap;
    if (cap > 0) {
      for (double& z : logits) z = cap * std::tanh(z / cap);
    }
    return logits;
  }
};

struct ArchCase {
  const char* name;
  SynthSpec spec;
};

SynthSpec make(const char* arch, auto&& tweak) {
  SynthSpec s;
  s.arch = arch;
  tweak(s);
  return s;
}

const ArchCase kArchCases[] = {
    {"llama_gqa_untied", make("llama", [](SynthSpec&) {})},
    {"llama_tied_llama3_rope", make("llama", [](SynthSpec& s) { s.tied_output = true; s.llama3_rope = true; s.rope_theta = 500000; })},
    {"llama_mha_partial_rope", make("llama", [](SynthSpec& s) { s.n_head_kv = 4; s.rope_dim = 4; })},
    {"qwen2_bias_tied", make("qwen2", [](SynthSpec& s) { s.qkv_bias = true; s.tied_output = true; s.n_head_kv = 1; s.rope_theta = 1000000; })},
    {"qwen3_qknorm_wide_heads", make("qwen3", [](SynthSpec& s) { s.qk_norm = true; s.head_dim = 16; s.tied_output = true; })},
    {"qwen3_untied_q8", make("qwen3", [](SynthSpec& s) { s.qk_norm = true; s.head_dim = 16; s.n_embd = 64; s.n_ff = 64; s.matrix_type = DType::Q8_0; })},
    {"llama_f16", make("llama", [](SynthSpec& s) { s.matrix_type = DType::F16; })},
    {"qwen2_q4k", make("qwen2", [](SynthSpec& s) { s.qkv_bias = true; s.n_embd = 256; s.n_head = 8; s.n_head_kv = 2; s.n_ff = 256; s.n_layer = 1; s.matrix_type = DType::Q4_K; })},
    // Caps small enough to bend these models' scores (at gemma2's 50/30 tanh is near-linear
    // here and a missing cap would go unnoticed); a 4-token window over 11 tokens.
    {"gemma2_caps_window", make("gemma2", [](SynthSpec& s) { s.n_layer = 3; s.head_dim = 16; s.tied_output = true; s.attn_softcap = 1.5f; s.final_softcap = 2.0f; s.sliding_window = 4; })},
    {"gemma2_defaults_f16", make("gemma2", [](SynthSpec& s) { s.n_embd = 64; s.head_dim = 16; s.n_ff = 64; s.tied_output = true; s.matrix_type = DType::F16; })},
    // Local layers 0 and 2 (pattern 2) with a 3-token window and base 10000; the global layer
    // at base 1e6 with linear scaling x4.
    {"gemma3_window_local_rope", make("gemma3", [](SynthSpec& s) { s.n_layer = 3; s.qk_norm = true; s.head_dim = 16; s.tied_output = true; s.rope_theta = 1000000; s.sliding_window = 3; s.sliding_window_pattern = 2; s.rope_linear_factor = 4; })},
    {"gemma3_final_cap_q8", make("gemma3", [](SynthSpec& s) { s.n_embd = 64; s.n_ff = 64; s.qk_norm = true; s.head_dim = 32; s.tied_output = true; s.final_softcap = 2.5f; s.sliding_window = 5; s.matrix_type = DType::Q8_0; })},
    // Context 64 > original 32: the long factors and the attention factor apply; all layers in a 5-token window.
    {"phi3_fused_longrope_window", make("phi3", [](SynthSpec& s) { s.n_head_kv = 4; s.longrope = true; s.longrope_original_ctx = 32; s.sliding_window = 5; })},
    {"phi3_gqa_short_factors", make("phi3", [](SynthSpec& s) { s.longrope = true; s.longrope_original_ctx = 128; s.tied_output = true; })},
    {"smollm3_no_rope_layer", make("smollm3", [](SynthSpec& s) { s.n_layer = 4; s.tied_output = true; s.rope_theta = 5000000; })},
};

class RandomModelTest : public ::testing::TestWithParam<ArchCase> {};

double max_abs(std::span<const float> v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

TEST_P(RandomModelTest, MatchesFloat64ReferenceAndDecodeMatchesPrefill) {
  const SynthSpec& spec = GetParam().spec;
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes()), GetParam().name),
                                &reference_kernels());
  const int n_vocab = model->config().n_vocab;
  const std::vector<int32_t> tokens = {1, 77, 300 - 1, 5, 42, 42, 128, 260, 3, 99, 17};
  const int n = static_cast<int>(tokens.size());

  ForwardPass prefill(*model, 64, nullptr);
  const std::vector<float> batched = [&] {
    auto span = prefill.eval(tokens, true);
    return std::vector<float>(span.begin(), span.end());
  }();

  ThreadPool pool(2);
  ForwardPass decode(*model, 64, &pool);
  Reference reference(model->file(), spec, 64);
  for (int pos = 0; pos < n; ++pos) {
    const int32_t token[1] = {tokens[static_cast<size_t>(pos)]};
    const std::span<const float> stepped = decode.eval(token);
    const Vec expected = reference.step(tokens[static_cast<size_t>(pos)], pos);
    const std::span<const float> row(batched.data() + static_cast<size_t>(pos) * n_vocab, static_cast<size_t>(n_vocab));
    // f32 arithmetic against f64: relative error of a few ulps per accumulation over
    // O(100)-term dot products and a handful of layers stays far below 1e-4 of the logits' scale.
    const double tolerance = 1e-4 * std::max(1.0, max_abs(row));
    for (int v = 0; v < n_vocab; ++v) {
      ASSERT_NEAR(row[static_cast<size_t>(v)], expected[static_cast<size_t>(v)], tolerance) << "prefill pos " << pos << " token " << v;
      // Prefill and decode run the same arithmetic on different batch shapes.
      ASSERT_NEAR(stepped[static_cast<size_t>(v)], row[static_cast<size_t>(v)], 1e-5 * std::max(1.0, max_abs(row)))
          << "decode pos " << pos << " token " << v;
    }
  }
  // Logits must carry signal (not all equal), or the comparison would prove nothing.
  EXPECT_GT(max_abs(batched), 0.05);
}

// Continuing after a prefill, and rewinding to re-run a suffix, give the same logits.
TEST(ForwardPassTest, ChunkedPrefillAndRewindMatchOneBatch) {
  SynthSpec spec;
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes())), &reference_kernels());
  const std::vector<int32_t> tokens = {1, 10, 20, 30, 40, 50, 60};
  ForwardPass whole(*model, 16, nullptr);
  auto expect = whole.eval(tokens);
  const std::vector<float> last(expect.begin(), expect.end());

  ForwardPass chunked(*model, 16, nullptr);
  chunked.eval(std::span(tokens).first(3));
  chunked.eval(std::span(tokens).subspan(3, 2));
  chunked.eval(std::vector<int32_t>{99, 98});  // wrong suffix, then rewind and redo
  chunked.rewind(5);
  auto got = chunked.eval(std::span(tokens).subspan(5));
  ASSERT_EQ(got.size(), last.size());
  for (size_t i = 0; i < last.size(); ++i) EXPECT_NEAR(got[i], last[i], 1e-5);
}

TEST(ForwardPassTest, RejectsBadTokensAndFullContext) {
  SynthSpec spec;
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes())), &reference_kernels());
  ForwardPass forward(*model, 4, nullptr);
  EXPECT_THROW(forward.eval(std::vector<int32_t>{300}), Error);
  EXPECT_THROW(forward.eval(std::vector<int32_t>{-1}), Error);
  EXPECT_THROW(forward.eval(std::vector<int32_t>{}), Error);
  EXPECT_THROW(forward.eval(std::vector<int32_t>{1, 2, 3, 4, 5}), Error);
  forward.eval(std::vector<int32_t>{1, 2, 3, 4});
  try {
    forward.eval(std::vector<int32_t>{5});
    FAIL() << "expected a full-context error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context is full"), std::string::npos) << e.what();
  }
  EXPECT_THROW(forward.rewind(5), Error);
}

INSTANTIATE_TEST_SUITE_P(Archs, RandomModelTest, ::testing::ValuesIn(kArchCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace rpu
