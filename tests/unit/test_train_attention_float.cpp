// The float attention kernels (vector accumulators, 16-key blocks, four-key register tiles,
// per-task transposed keys, the vectorised exp) against a plain float64 implementation of the
// formulas in train/ops.h, in the shapes those kernels specialise for: head_dim a multiple of
// 16 (plus one that is not), windows longer than one 64-key block, sequences that cross the
// 64-token task blocks, one-token sequences, grouped query heads and sliding windows. The
// finite-difference tests in test_train_ops.cpp check the double instantiation's gradients
// on small shapes; this checks that the float path computes the same thing at real sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "train/ops.h"
#include "train/vector_math.h"

namespace rpu::train {
namespace {

struct Reference {
  std::vector<double> out, dq, dk, dv;
};

// out = softmax(q k^T * scale) v per head and token over [start[t], t]; the gradients of
// sum(out * r) by the textbook backward (dP = r v^T, dS = P (dP - rowsum(P dP))).
Reference reference_attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                              const std::vector<float>& r, const std::vector<int32_t>& start, AttentionShape s) {
  const int64_t n = static_cast<int64_t>(start.size());
  const int hd = s.head_dim, group = s.n_head / s.n_head_kv;
  const int64_t qd = static_cast<int64_t>(s.n_head) * hd, kd = static_cast<int64_t>(s.n_head_kv) * hd;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  Reference ref{std::vector<double>(n * qd), std::vector<double>(n * qd), std::vector<double>(n * kd),
                std::vector<double>(n * kd)};
  for (int h = 0; h < s.n_head; ++h) {
    const int64_t qo = static_cast<int64_t>(h) * hd, ko = static_cast<int64_t>(h / group) * hd;
    for (int64_t t = 0; t < n; ++t) {
      const int64_t first = start[t], len = t - first + 1;
      std::vector<double> p(len), dp(len);
      double max_s = -1e300;
      for (int64_t j = 0; j < len; ++j) {
        double dot = 0;
        for (int i = 0; i < hd; ++i) dot += double(q[t * qd + qo + i]) * k[(first + j) * kd + ko + i];
        p[j] = dot * scale;
        max_s = std::max(max_s, p[j]);
      }
      double total = 0;
      for (double& x : p) total += (x = std::exp(x - max_s));
      for (double& x : p) x /= total;
      double weighted = 0;
      for (int64_t j = 0; j < len; ++j) {
        double dot = 0;
        for (int i = 0; i < hd; ++i) {
          ref.out[t * qd + qo + i] += p[j] * v[(first + j) * kd + ko + i];
          dot += double(r[t * qd + qo + i]) * v[(first + j) * kd + ko + i];
        }
        dp[j] = dot;
        weighted += p[j] * dot;
      }
      for (int64_t j = 0; j < len; ++j) {
        const double ds = p[j] * (dp[j] - weighted);
        for (int i = 0; i < hd; ++i) {
          ref.dq[t * qd + qo + i] += ds * k[(first + j) * kd + ko + i] * scale;
          ref.dk[(first + j) * kd + ko + i] += ds * q[t * qd + qo + i] * scale;
          ref.dv[(first + j) * kd + ko + i] += p[j] * r[t * qd + qo + i];
        }
      }
    }
  }
  return ref;
}

// Largest |got - want| over the largest |want|.
double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0, size = 1e-30;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::fabs(got[i] - want[i]));
    size = std::max(size, std::fabs(want[i]));
  }
  return err / size;
}

void check_float_attention(AttentionShape shape, const std::vector<int32_t>& start, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = static_cast<int64_t>(start.size());
  const int64_t qd = static_cast<int64_t>(shape.n_head) * shape.head_dim;
  const int64_t kd = static_cast<int64_t>(shape.n_head_kv) * shape.head_dim;
  auto random = [&](int64_t count) {
    std::vector<float> x(static_cast<size_t>(count));
    for (float& value : x) value = normal(rng);
    return x;
  };
  const std::vector<float> q = random(n * qd), k = random(n * kd), v = random(n * kd), r = random(n * qd);
  const Reference ref = reference_attention(q, k, v, r, start, shape);
  ThreadPool pool(3);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    std::vector<float> out(n * qd), dq(n * qd, 0.0f), dk(n * kd, 0.0f), dv(n * kd, 0.0f);
    AttentionSaved<float> saved;
    attention_forward<float>(q.data(), k.data(), v.data(), start, shape, out.data(), saved, p);
    attention_backward<float>(q.data(), k.data(), v.data(), start, shape, saved, r.data(), dq.data(), dk.data(),
                              dv.data(), p);
    EXPECT_LT(relative_error(out, ref.out), 2e-5) << "out, head_dim " << shape.head_dim;
    EXPECT_LT(relative_error(dq, ref.dq), 2e-5) << "dq, head_dim " << shape.head_dim;
    EXPECT_LT(relative_error(dk, ref.dk), 2e-5) << "dk, head_dim " << shape.head_dim;
    EXPECT_LT(relative_error(dv, ref.dv), 2e-5) << "dv, head_dim " << shape.head_dim;
  }
}

// Packed sequences of 1, 150 (longer than two 64-token blocks and two 64-key score blocks),
// 37, 1, 90 and 21 tokens.
std::vector<int32_t> packed_starts() {
  std::vector<int32_t> start;
  for (int len : {1, 150, 37, 1, 90, 21}) {
    const int32_t first = static_cast<int32_t>(start.size());
    for (int j = 0; j < len; ++j) start.push_back(first);
  }
  return start;
}

TEST(TrainAttentionFloat, PackedGroupedHeadsMatchFloat64Reference) {
  check_float_attention({8, 4, 32}, packed_starts(), 1);
  check_float_attention({4, 1, 64}, packed_starts(), 2);
  check_float_attention({2, 2, 20}, packed_starts(), 3);  // 16 dims in vectors, 4 in the scalar tail
}

TEST(TrainAttentionFloat, SlidingWindowsMatchFloat64Reference) {
  // One 200-token sequence seen through a 70-token window: starts rise inside the sequence.
  std::vector<int32_t> start(200);
  for (int t = 0; t < 200; ++t) start[t] = std::max(0, t - 69);
  check_float_attention({6, 2, 32}, start, 4);
}

TEST(TrainAttentionFloat, VectorisableExpMatchesTheLibrary) {
  double worst = 0;
  for (double x = -87.0; x <= 88.0; x += 0.01337) {
    const double want = std::exp(x);
    worst = std::max(worst, std::fabs(exp_vectorizable(static_cast<float>(x)) - std::exp(double(float(x)))) / want);
  }
  EXPECT_LT(worst, 3e-7);  // a few float ulps
  EXPECT_GT(exp_vectorizable(-1000.0f), 0.0f);  // clamped, not a denormal or zero
  EXPECT_LT(exp_vectorizable(-1000.0f), 2e-38f);
  EXPECT_FLOAT_EQ(exp_vectorizable(0.0f), 1.0f);
}

}  // namespace
}  // namespace rpu::train
