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

struct Reference {
  const GgufFile& file;
  const SynthSpec& spec;
  int head_dim, rope_dim;
  std::vector<std::vector<Vec>> keys, values;  // [layer][pos] -> [kv_dim]

  Reference(const GgufFile& f, const SynthSpec& s) : file(f), spec(s) {
    head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
    rope_dim = s.rope_dim > 0 ? s.rope_dim : head_dim;
    keys.resize(static_cast<size_t>(s.n_layer));
    values.resize(static_cast<size_t>(s.n_layer));
  }

  // Rotates each head of v in place for position pos. Llama in GGUF pairs adjacent dims;
  // Qwen pairs dim i with i + rope_dim/2.
  void rope(Vec& v, int n_heads, int pos) const {
    const bool adjacent = spec.arch == "llama";
    const Vec factors = tensor(file, "rope_freqs.weight");
    for (int h = 0; h < n_heads; ++h) {
      for (int i = 0; i < rope_dim / 2; ++i) {
        double freq = std::pow(static_cast<double>(spec.rope_theta), -2.0 * i / rope_dim);
        if (!factors.empty()) freq /= factors[static_cast<size_t>(i)];
        const double angle = pos * freq;
        const size_t a = static_cast<size_t>(h * head_dim + (adjacent ? 2 * i : i));
        const size_t b = static_cast<size_t>(h * head_dim + (adjacent ? 2 * i + 1 : i + rope_dim / 2));
        const double x0 = v[a], x1 = v[b];
        v[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
        v[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
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

  // Logits for token at position pos (positions must be fed in order).
  Vec step(int32_t token, int pos) {
    const int d = spec.n_embd;
    const Vec embd = tensor(file, "token_embd.weight");
    Vec x(embd.begin() + static_cast<long>(token) * d, embd.begin() + static_cast<long>(token + 1) * d);
    for (int l = 0; l < spec.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const Vec h = rmsnorm(x, tensor(file, p + "attn_norm.weight"), spec.rms_eps);
      Vec q = matvec(tensor(file, p + "attn_q.weight"), h);
      Vec k = matvec(tensor(file, p + "attn_k.weight"), h);
      Vec v = matvec(tensor(file, p + "attn_v.weight"), h);
      add(q, tensor(file, p + "attn_q.bias"));
      add(k, tensor(file, p + "attn_k.bias"));
      add(v, tensor(file, p + "attn_v.bias"));
      head_norm(q, spec.n_head, tensor(file, p + "attn_q_norm.weight"));
      head_norm(k, spec.n_head_kv, tensor(file, p + "attn_k_norm.weight"));
      rope(q, spec.n_head, pos);
      rope(k, spec.n_head_kv, pos);
      keys[static_cast<size_t>(l)].push_back(k);
      values[static_cast<size_t>(l)].push_back(v);
      Vec attn(static_cast<size_t>(spec.n_head * head_dim), 0.0);
      for (int hq = 0; hq < spec.n_head; ++hq) {
        const int hk = hq / (spec.n_head / spec.n_head_kv);  // grouped-query attention
        std::vector<double> scores;
        for (int t = 0; t <= pos; ++t) {
          double dot = 0;
          for (int i = 0; i < head_dim; ++i) dot += q[static_cast<size_t>(hq * head_dim + i)] * keys[static_cast<size_t>(l)][static_cast<size_t>(t)][static_cast<size_t>(hk * head_dim + i)];
          scores.push_back(dot / std::sqrt(static_cast<double>(head_dim)));
        }
        const double m = *std::max_element(scores.begin(), scores.end());
        double total = 0;
        for (double& s : scores) total += (s = std::exp(s - m));
        for (int t = 0; t <= pos; ++t) {
          for (int i = 0; i < head_dim; ++i) {
            attn[static_cast<size_t>(hq * head_dim + i)] += scores[static_cast<size_t>(t)] / total * values[static_cast<size_t>(l)][static_cast<size_t>(t)][static_cast<size_t>(hk * head_dim + i)];
          }
        }
      }
      add(x, matvec(tensor(file, p + "attn_output.weight"), attn));
      const Vec h2 = rmsnorm(x, tensor(file, p + "ffn_norm.weight"), spec.rms_eps);
      const Vec g = matvec(tensor(file, p + "ffn_gate.weight"), h2);
      const Vec u = matvec(tensor(file, p + "ffn_up.weight"), h2);
      Vec act(g.size());
      for (size_t i = 0; i < g.size(); ++i) act[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      add(x, matvec(tensor(file, p + "ffn_down.weight"), act));
    }
    const Vec out = rmsnorm(x, tensor(file, "output_norm.weight"), spec.rms_eps);
    const Vec head = spec.tied_output ? tensor(file, "token_embd.weight") : tensor(file, "output.weight");
    return matvec(head, out);
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
  Reference reference(model->file(), spec);
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
