// The training ops' backward passes against central finite differences (double precision),
// the blocked float products against a double reference, and closed forms of the losses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "core/error.h"
#include "train/gemm.h"
#include "train/ops.h"
#include "train_precision.h"

namespace rpu::train {
namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  Vec v(n);
  for (double& x : v) x = normal(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// For each (input, analytic gradient) pair: perturbs every coordinate of the input by +-h
// and compares (loss(+h) - loss(-h)) / 2h with the analytic gradient. The error is relative
// to the gradient's largest entry, so tiny entries do not dominate.
void expect_gradients(const std::function<double()>& loss, const std::vector<std::pair<Vec*, const Vec*>>& checks,
                      double tolerance = 1e-6) {
  const double h = 1e-5;
  for (size_t c = 0; c < checks.size(); ++c) {
    Vec& x = *checks[c].first;
    const Vec& grad = *checks[c].second;
    ASSERT_EQ(x.size(), grad.size());
    double max_err = 0, max_grad = 1e-12;
    for (size_t i = 0; i < x.size(); ++i) {
      const double saved = x[i];
      x[i] = saved + h;
      const double up = loss();
      x[i] = saved - h;
      const double down = loss();
      x[i] = saved;
      const double numeric = (up - down) / (2 * h);
      max_err = std::max(max_err, std::fabs(numeric - grad[i]));
      max_grad = std::max(max_grad, std::fabs(numeric));
    }
    EXPECT_LT(max_err / max_grad, tolerance) << "input " << c << ": max error " << max_err << ", max |grad| " << max_grad;
    EXPECT_GT(max_grad, 1e-6) << "input " << c << " has no gradient: the check would be vacuous";
  }
}

TEST(TrainOps, EmbeddingScatterAddsRepeatedTokens) {
  std::mt19937_64 rng(1);
  const int vocab = 7, dim = 5;
  const std::vector<int32_t> tokens = {3, 1, 3, 6, 0, 3};
  Vec table = random_vec(vocab * dim, rng), r = random_vec(tokens.size() * dim, rng);
  Vec out(r.size()), dtable(table.size(), 0.0);
  auto loss = [&] {
    embedding_forward<double>(tokens, table.data(), vocab, dim, out.data());
    return dot(out, r);
  };
  embedding_backward<double>(tokens, r.data(), dim, dtable.data());
  expect_gradients(loss, {{&table, &dtable}});
  // Row 2 is never looked up, row 3 three times.
  for (int i = 0; i < dim; ++i) EXPECT_EQ(dtable[2 * dim + i], 0.0);
  EXPECT_DOUBLE_EQ(dtable[3 * dim], r[0] + r[2 * dim] + r[5 * dim]);
  const std::vector<int32_t> bad = {7};
  EXPECT_THROW(embedding_forward<double>(bad, table.data(), vocab, dim, out.data()), Error);
}

TEST(TrainOps, RmsNormGradients) {
  std::mt19937_64 rng(2);
  // Rows of a hidden state, and the per-head case (rows = tokens * heads, dim = head_dim).
  for (const auto& shape : {std::pair{3, 8}, std::pair{12, 4}}) {
    const int rows = shape.first, dim = shape.second;  // named, not bound: clang < 16 cannot capture bindings
    Vec x = random_vec(rows * dim, rng), w = random_vec(dim, rng), r = random_vec(rows * dim, rng);
    Vec y(x.size()), inv(rows), dx(x.size(), 0.0), dw(dim, 0.0);
    auto loss = [&] {
      rmsnorm_forward<double>(x.data(), w.data(), rows, dim, 1e-5, y.data(), inv.data());
      return dot(y, r);
    };
    loss();
    rmsnorm_backward<double>(x.data(), w.data(), inv.data(), r.data(), rows, dim, dx.data(), dw.data());
    expect_gradients(loss, {{&x, &dx}, {&w, &dw}});
    // Closed form: a row of constant c normalises to weight * sign(c) (up to eps).
    Vec c(dim, 3.0), ones(dim, 1.0), yc(dim), ic(1);
    rmsnorm_forward<double>(c.data(), ones.data(), 1, dim, 0.0, yc.data(), ic.data());
    EXPECT_NEAR(yc[0], 1.0, 1e-12);
  }
}

TEST(TrainOps, LinearGradientsWithBias) {
  std::mt19937_64 rng(3);
  const int n = 5, in = 7, out = 9;
  Vec x = random_vec(n * in, rng), w = random_vec(out * in, rng), b = random_vec(out, rng), r = random_vec(n * out, rng);
  Vec y(n * out), dx(x.size(), 0.0), dw(w.size(), 0.0), db(out, 0.0);
  auto loss = [&] {
    linear_forward<double>(x.data(), w.data(), b.data(), n, in, out, y.data(), nullptr);
    return dot(y, r);
  };
  linear_backward<double>(x.data(), w.data(), r.data(), n, in, out, dx.data(), dw.data(), db.data(), nullptr);
  expect_gradients(loss, {{&x, &dx}, {&w, &dw}, {&b, &db}});
}

TEST(TrainOps, LoraGradients) {
  std::mt19937_64 rng(4);
  const int n = 4, in = 6, out = 5, rank = 3;
  const double scale = 2.0 / rank;
  Vec x = random_vec(n * in, rng), a = random_vec(rank * in, rng), b = random_vec(out * rank, rng);
  Vec r = random_vec(n * out, rng), base = random_vec(n * out, rng);
  Vec y(n * out), xa(n * rank), dx(x.size(), 0.0), da(a.size(), 0.0), db(b.size(), 0.0);
  auto loss = [&] {
    y = base;  // the adapter adds onto the base layer's output
    lora_forward<double>(x.data(), a.data(), b.data(), scale, n, in, out, rank, xa.data(), y.data(), nullptr);
    return dot(y, r);
  };
  loss();
  lora_backward<double>(x.data(), a.data(), b.data(), scale, xa.data(), r.data(), n, in, out, rank, dx.data(),
                        da.data(), db.data(), nullptr);
  expect_gradients(loss, {{&x, &dx}, {&a, &da}, {&b, &db}});
}

// The cache-blocked float product, threaded, on sizes with ragged edges in every blocking
// dimension, in all three orientations the linear layers use, against a double reference.
TEST(TrainOps, BlockedFloatProductMatchesDouble) {
  const test::GemmPrecisionScope f32(GemmPrecision::kF32);
  std::mt19937_64 rng(5);
  ThreadPool pool(2);
  const int64_t m = 101, n = 300, k = 263;
  const Vec ad = random_vec(m * k, rng), bd = random_vec(k * n, rng), cd = random_vec(m * n, rng);
  const std::vector<float> af(ad.begin(), ad.end()), bf(bd.begin(), bd.end());
  struct Orientation {
    bool a_transposed, b_transposed;
  };
  for (Orientation o : {Orientation{false, false}, Orientation{false, true}, Orientation{true, false}}) {
    // A [m, k] stored as [m, k] or [k, m]; B [k, n] as [k, n] or [n, k].
    const StridedMatrix<float> a = o.a_transposed ? StridedMatrix<float>{af.data(), 1, m} : StridedMatrix<float>{af.data(), k, 1};
    const StridedMatrix<float> b = o.b_transposed ? StridedMatrix<float>{bf.data(), 1, k} : StridedMatrix<float>{bf.data(), n, 1};
    std::vector<float> c(cd.begin(), cd.end());
    gemm_accumulate<float>(m, n, k, a, b, c.data(), n, &pool);
    double max_err = 0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double ref = cd[i * n + j];
        for (int64_t kk = 0; kk < k; ++kk) ref += static_cast<double>(a.at(i, kk)) * b.at(kk, j);
        max_err = std::max(max_err, std::fabs(ref - c[i * n + j]));
      }
    }
    EXPECT_LT(max_err, 1e-3) << "orientation " << o.a_transposed << o.b_transposed;  // sums of 263 O(1) terms
  }
}

// x rounded to bf16 (nearest, ties to even), computed independently of the packing code.
double to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
  float r;
  std::memcpy(&r, &bits, sizeof r);
  return r;
}

// The bf16 product in the three orientations of the linear layers (y = x W^T: A plain, B
// transposed; dx = dy W: both plain; dW = dy^T x: A transposed), on sizes with ragged edges in
// every block (odd k: a half-empty last pair; k spans two k blocks; n two column tiles with a
// 12-column last panel; m two row tiles with a 5-row last panel), threaded. Two oracles per
// element, both in double: (1) the exact product of the bf16-rounded operands, which the f32
// accumulation must match to within k f32 roundings of sum |a b|; (2) the unrounded product,
// within the bf16 bound: each rounded operand is off by at most u = 2^-8 relatively, so each
// term by (2u + u^2) |a b|. Oracle (1) fails if the operands are not rounded, or rounded the
// wrong way; (2) bounds the error the trainer sees.
TEST(TrainOps, Bf16ProductMatchesTheRoundedDoubleProduct) {
  if (!bf16_gemm_supported()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  const test::GemmPrecisionScope bf16(GemmPrecision::kBf16);
  std::mt19937_64 rng(15);
  ThreadPool pool(2);
  const int64_t m = 69, n = 300, k = 263;
  const Vec ad = random_vec(m * k, rng), bd = random_vec(k * n, rng), cd = random_vec(m * n, rng);
  const std::vector<float> af(ad.begin(), ad.end()), bf(bd.begin(), bd.end());
  struct Orientation {
    bool a_transposed, b_transposed;
  };
  const double u = std::ldexp(1.0, -8), f32_eps = std::ldexp(1.0, -24);
  for (Orientation o : {Orientation{false, true}, Orientation{false, false}, Orientation{true, false}}) {
    const StridedMatrix<float> a = o.a_transposed ? StridedMatrix<float>{af.data(), 1, m} : StridedMatrix<float>{af.data(), k, 1};
    const StridedMatrix<float> b = o.b_transposed ? StridedMatrix<float>{bf.data(), 1, k} : StridedMatrix<float>{bf.data(), n, 1};
    std::vector<float> c(cd.begin(), cd.end());
    gemm_accumulate<float>(m, n, k, a, b, c.data(), n, &pool);
    double worst_rounded = 0, worst_bound = 0, max_err = 0;  // errors as fractions of their bounds
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double exact = cd[i * n + j], rounded = cd[i * n + j], magnitude = std::fabs(cd[i * n + j]);
        for (int64_t kk = 0; kk < k; ++kk) {
          exact += static_cast<double>(a.at(i, kk)) * b.at(kk, j);
          rounded += to_bf16(a.at(i, kk)) * to_bf16(b.at(kk, j));
          magnitude += std::fabs(static_cast<double>(a.at(i, kk)) * b.at(kk, j));
        }
        const double got = c[i * n + j];
        worst_rounded = std::max(worst_rounded, std::fabs(got - rounded) / ((k + 2) * f32_eps * magnitude));
        worst_bound = std::max(worst_bound, std::fabs(got - exact) / ((2 * u + u * u + (k + 2) * f32_eps) * magnitude));
        max_err = std::max(max_err, std::fabs(got - exact));
      }
    }
    const std::string what = "orientation " + std::to_string(o.a_transposed) + std::to_string(o.b_transposed);
    EXPECT_LE(worst_rounded, 1.0) << what;
    EXPECT_LE(worst_bound, 1.0) << what;
    EXPECT_GT(max_err, 1e-4) << what << ": no bf16 rounding visible, the f32 path ran";
  }
}

TEST(TrainOps, TrainingPrecisionNamesAndRefusals) {
  EXPECT_EQ(parse_gemm_precision("f32", "test"), GemmPrecision::kF32);
  EXPECT_EQ(parse_gemm_precision("bf16", "test"), GemmPrecision::kBf16);
  EXPECT_THROW(parse_gemm_precision("fp16", "test"), Error);
  EXPECT_STREQ(to_string(GemmPrecision::kBf16), "bf16");
  if (!bf16_gemm_supported()) {
    EXPECT_THROW(set_gemm_precision(GemmPrecision::kBf16), Error);
  }
}

TEST(TrainOps, RopeGradientIsInverseRotation) {
  std::mt19937_64 rng(6);
  for (RopeStyle style : {RopeStyle::kAdjacent, RopeStyle::kHalves}) {
    Rope rope;
    rope.style = style;
    rope.head_dim = 8;
    rope.rope_dim = 6;  // the last two dims of each head pass through
    rope.position_scale = 0.5;
    rope.inv_freq = {1.0, 0.3, 0.05};
    const int n = 4, heads = 3;
    const std::vector<int32_t> positions = {0, 5, 2, 17};
    Vec x = random_vec(n * heads * 8, rng), r = random_vec(x.size(), rng), dx(x.size(), 0.0);
    auto loss = [&] {
      Vec y = x;
      rope_forward<double>(rope, positions.data(), n, heads, y.data());
      return dot(y, r);
    };
    rope_backward<double>(rope, positions.data(), n, heads, r.data(), dx.data());
    expect_gradients(loss, {{&x, &dx}});
    // A rotation keeps each pair's length, and position 0 is the identity.
    Vec y = x;
    rope_forward<double>(rope, positions.data(), n, heads, y.data());
    for (int i = 0; i < heads * 8; ++i) EXPECT_DOUBLE_EQ(y[i], x[i]);
    EXPECT_NEAR(dot(y, y), dot(x, x), 1e-9);
    // A table of mscale cos / sin for positions 0..9 (position 17 stays computed) gives the
    // same values bit for bit, forward and backward.
    Rope tabled = rope;
    tabled.mscale = rope.mscale = 1.25;
    tabled.table_positions = 10;
    for (int p = 0; p < 10; ++p) {
      for (double f : rope.inv_freq) {
        tabled.cos_sin.push_back(1.25 * std::cos(p * 0.5 * f));
        tabled.cos_sin.push_back(1.25 * std::sin(p * 0.5 * f));
      }
    }
    Vec y_plain = x, y_tabled = x, d_plain(x.size(), 0.0), d_tabled(x.size(), 0.0);
    rope_forward<double>(rope, positions.data(), n, heads, y_plain.data());
    rope_forward<double>(tabled, positions.data(), n, heads, y_tabled.data());
    rope_backward<double>(rope, positions.data(), n, heads, r.data(), d_plain.data());
    rope_backward<double>(tabled, positions.data(), n, heads, r.data(), d_tabled.data());
    EXPECT_EQ(y_plain, y_tabled);
    EXPECT_EQ(d_plain, d_tabled);
    EXPECT_NE(y_plain, x);
  }
}

TEST(TrainOps, AttentionGradientsGroupedQueryPacked) {
  std::mt19937_64 rng(7);
  const AttentionShape shape{4, 2, 3};
  // Three packed sequences: tokens 0-2, 3-5, 6.
  const std::vector<int32_t> seg = {0, 0, 0, 3, 3, 3, 6};
  const int n = 7, q_dim = 12, kv_dim = 6;
  Vec q = random_vec(n * q_dim, rng), k = random_vec(n * kv_dim, rng), v = random_vec(n * kv_dim, rng);
  Vec r = random_vec(n * q_dim, rng), out(n * q_dim);
  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    AttentionSaved<double> saved;
    auto loss = [&] {
      attention_forward<double>(q.data(), k.data(), v.data(), seg, shape, out.data(), saved, p);
      return dot(out, r);
    };
    loss();
    Vec dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
    attention_backward<double>(q.data(), k.data(), v.data(), seg, shape, saved, r.data(), dq.data(), dk.data(),
                               dv.data(), p);
    expect_gradients(loss, {{&q, &dq}, {&k, &dk}, {&v, &dv}});
  }
}

// gemma2's capped scores with a query scale other than 1/sqrt(head_dim), over windowed starts
// (a sliding window is a later segment start: token t sees t-1 and t only).
TEST(TrainOps, AttentionGradientsSoftCappedScaledWindowed) {
  std::mt19937_64 rng(17);
  const AttentionShape shape{4, 2, 3, 0.9, 1.2};
  const std::vector<int32_t> starts = {0, 0, 1, 2, 4, 4, 5};
  const int n = 7, q_dim = 12, kv_dim = 6;
  Vec q = random_vec(n * q_dim, rng), k = random_vec(n * kv_dim, rng), v = random_vec(n * kv_dim, rng);
  Vec r = random_vec(n * q_dim, rng), out(n * q_dim);
  AttentionSaved<double> saved;
  auto loss = [&] {
    attention_forward<double>(q.data(), k.data(), v.data(), starts, shape, out.data(), saved, nullptr);
    return dot(out, r);
  };
  loss();
  Vec dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
  attention_backward<double>(q.data(), k.data(), v.data(), starts, shape, saved, r.data(), dq.data(), dk.data(),
                             dv.data(), nullptr);
  expect_gradients(loss, {{&q, &dq}, {&k, &dk}, {&v, &dv}});
  // The cap is applied: a huge cap gives plain (scaled) attention, a small one differs.
  Vec capped = out, plain(out.size());
  attention_forward<double>(q.data(), k.data(), v.data(), starts, {4, 2, 3, 0.9, 1e9}, plain.data(), saved, nullptr);
  double diff = 0;
  for (size_t i = 0; i < out.size(); ++i) diff = std::max(diff, std::fabs(capped[i] - plain[i]));
  EXPECT_GT(diff, 1e-3);
}

TEST(TrainOps, PackedSequencesDoNotSeeEachOther) {
  std::mt19937_64 rng(8);
  const AttentionShape shape{2, 1, 4};
  const std::vector<int32_t> packed = {0, 0, 2, 2, 2}, alone = {0, 0, 0};
  Vec q = random_vec(5 * 8, rng), k = random_vec(5 * 4, rng), v = random_vec(5 * 4, rng), out(5 * 8), out2(3 * 8);
  AttentionSaved<double> saved;
  attention_forward<double>(q.data(), k.data(), v.data(), packed, shape, out.data(), saved, nullptr);
  // The second sequence (tokens 2..4) run on its own gives the same outputs.
  attention_forward<double>(q.data() + 2 * 8, k.data() + 2 * 4, v.data() + 2 * 4, alone, shape, out2.data(), saved,
                            nullptr);
  for (int i = 0; i < 3 * 8; ++i) EXPECT_NEAR(out[2 * 8 + i], out2[i], 1e-12);
  // A token alone in its window copies its value vector.
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[2 * 8 + i], v[2 * 4 + i], 1e-12);
  const std::vector<int32_t> future = {0, 2, 2}, backwards = {0, 1, 0};
  EXPECT_THROW(attention_forward<double>(q.data(), k.data(), v.data(), future, shape, out.data(), saved, nullptr), Error);
  EXPECT_THROW(attention_forward<double>(q.data(), k.data(), v.data(), backwards, shape, out.data(), saved, nullptr),
               Error);
}

TEST(TrainOps, SwigluGradients) {
  std::mt19937_64 rng(9);
  Vec g = random_vec(20, rng, 2.0), u = random_vec(20, rng), r = random_vec(20, rng), out(20);
  Vec dg(20, 0.0), du(20, 0.0);
  auto loss = [&] {
    swiglu_forward<double>(g.data(), u.data(), 20, out.data());
    return dot(out, r);
  };
  swiglu_backward<double>(g.data(), u.data(), r.data(), 20, dg.data(), du.data());
  expect_gradients(loss, {{&g, &dg}, {&u, &du}});
}

TEST(TrainOps, GegluAndSoftcapGradients) {
  std::mt19937_64 rng(19);
  Vec g = random_vec(20, rng, 2.0), u = random_vec(20, rng), r = random_vec(20, rng), out(20);
  Vec dg(20, 0.0), du(20, 0.0);
  auto loss = [&] {
    geglu_forward<double>(g.data(), u.data(), 20, out.data());
    return dot(out, r);
  };
  geglu_backward<double>(g.data(), u.data(), r.data(), 20, dg.data(), du.data());
  expect_gradients(loss, {{&g, &dg}, {&u, &du}});
  // gelu(1) in its tanh form, by hand: 0.5 (1 + tanh(0.79788456 * 1.044715)) = 0.841192.
  const Vec one = {1.0}, unit = {1.0};
  Vec y(1);
  geglu_forward<double>(one.data(), unit.data(), 1, y.data());
  EXPECT_NEAR(y[0], 0.8411920, 1e-6);

  Vec x = random_vec(20, rng, 3.0), capped(20), dx(20, 0.0);
  auto capped_loss = [&] {
    capped = x;
    softcap_forward<double>(capped.data(), 20, 2.0);
    return dot(capped, r);
  };
  capped_loss();
  for (double c : capped) EXPECT_LT(std::fabs(c), 2.0);
  softcap_backward<double>(capped.data(), r.data(), 20, 2.0, dx.data());
  expect_gradients(capped_loss, {{&x, &dx}});
}

TEST(TrainOps, LossGradientsHardDistilledAndMixed) {
  std::mt19937_64 rng(10);
  const int n = 4, vocab = 6;
  const std::vector<int32_t> targets = {2, -1, 5, 0};  // token 1 has weight 0: its target is ignored
  const std::vector<float> weights = {1.0f, 0.0f, 2.5f, 0.5f};
  Vec z = random_vec(n * vocab, rng, 2.0), teacher = random_vec(n * vocab, rng, 2.0);
  for (LossOptions options : {LossOptions{0.0, 1.0}, LossOptions{1.0, 2.0}, LossOptions{0.3, 1.7}}) {
    auto loss = [&] {
      return loss_forward<double>(z.data(), n, vocab, targets, weights, teacher.data(), options, nullptr).total;
    };
    Vec dz(z.size(), 0.0);
    loss_backward<double>(z.data(), n, vocab, targets, weights, teacher.data(), options, 1.0, dz.data(), nullptr);
    expect_gradients(loss, {{&z, &dz}});
    for (int j = 0; j < vocab; ++j) EXPECT_EQ(dz[vocab + j], 0.0);  // the unweighted token
  }
}

TEST(TrainOps, LossClosedForms) {
  const int vocab = 8;
  const Vec uniform(2 * vocab, 0.5);
  const std::vector<int32_t> targets = {3, 4};
  const std::vector<float> weights = {1.0f, 1.0f};
  LossValue v = loss_forward<double>(uniform.data(), 2, vocab, targets, weights, nullptr, {}, nullptr);
  EXPECT_NEAR(v.total, std::log(8.0), 1e-12);
  // A student equal to its teacher has zero KL; the mix then is (1 - alpha) * CE.
  v = loss_forward<double>(uniform.data(), 2, vocab, targets, weights, uniform.data(), {0.25, 3.0}, nullptr);
  EXPECT_NEAR(v.distill_kl, 0.0, 1e-12);
  EXPECT_NEAR(v.total, 0.75 * std::log(8.0), 1e-12);
  // KL of two-point distributions in closed form.
  const Vec student = {0.0, 0.0}, teacher = {std::log(3.0), 0.0};  // teacher (3/4, 1/4), student (1/2, 1/2)
  const std::vector<int32_t> one_target = {0};
  const std::vector<float> one_weight = {1.0f};
  v = loss_forward<double>(student.data(), 1, 2, one_target, one_weight, teacher.data(), {1.0, 1.0}, nullptr);
  EXPECT_NEAR(v.total, 0.75 * std::log(1.5) + 0.25 * std::log(0.5), 1e-12);
  // No weighted token: no loss, no gradient.
  const std::vector<float> zero = {0.0f, 0.0f};
  EXPECT_EQ(loss_forward<double>(uniform.data(), 2, vocab, targets, zero, nullptr, {}, nullptr).total, 0.0);
  // Bad input is an error, not a crash.
  const std::vector<int32_t> bad_targets = {3, 8};
  EXPECT_THROW(loss_forward<double>(uniform.data(), 2, vocab, bad_targets, weights, nullptr, {}, nullptr), Error);
  EXPECT_THROW(loss_forward<double>(uniform.data(), 2, vocab, targets, weights, nullptr, {0.5, 1.0}, nullptr), Error);
  const std::vector<float> negative = {1.0f, -1.0f};
  EXPECT_THROW(loss_forward<double>(uniform.data(), 2, vocab, targets, negative, nullptr, {}, nullptr), Error);
}

}  // namespace
}  // namespace rpu::train
