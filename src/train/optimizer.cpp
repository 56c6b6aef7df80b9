#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <istream>
#include <ostream>

#include "core/error.h"
#include "train/gemm.h"  // RPU_VECTOR_CLONES

namespace rpu {

float LearningRateSchedule::at(int step) const { return at(step, 0.0); }

float LearningRateSchedule::at(int step, double time_done) const {
  if (warmup_steps > 0 && step < warmup_steps) return peak * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
  const int decay_steps = std::max(1, total_steps - warmup_steps);
  const double progress =
      std::clamp(std::max(static_cast<double>(step - warmup_steps) / decay_steps, time_done), 0.0, 1.0);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));  // 1 -> 0
  return static_cast<float>(peak * (final_ratio + (1.0 - final_ratio) * cosine));
}

void AdamW::add(std::string name, std::span<float> values, std::span<float> grads, bool decay) {
  if (values.size() != grads.size()) fail("optimizer: '{}' has {} values but {} gradients", name, values.size(), grads.size());
  Tensor t{std::move(name), values, grads, decay, std::vector<float>(values.size(), 0.0f), std::vector<float>(values.size(), 0.0f)};
  tensors_.push_back(std::move(t));
}

void AdamW::scale_grads(float factor) {
  if (factor == 1.0f) return;  // every step without gradient accumulation
  for (Tensor& t : tensors_) {
    for (float& g : t.grads) g *= factor;
  }
}

namespace {

// Tensors are split into blocks of this many values: the unit of work for the pool, and of
// the norm's partial sums (so the sum's order, hence its rounding, is the same for any
// number of threads).
constexpr size_t kBlockValues = size_t{1} << 16;

// sum g^2 in double over 8 interleaved partial sums (one running sum is an add's latency per
// value; the compiler may not reorder it itself).
RPU_VECTOR_CLONES double sum_squares(const float* g, size_t n) {
  double partial[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) partial[l] += static_cast<double>(g[i + l]) * g[i + l];
  }
  double sum = 0.0;
  for (; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
  for (double x : partial) sum += x;
  return sum;
}

struct UpdateConstants {
  float clip, b1, b2, correction1, correction2, eps, lr, decay;
};

// The AdamW update of n values (the formula in optimizer.h), compiled per instruction set.
RPU_VECTOR_CLONES void update_values(const UpdateConstants& u, float* p, float* g, float* m, float* v, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float gi = g[i] * u.clip;
    m[i] = u.b1 * m[i] + (1.0f - u.b1) * gi;
    v[i] = u.b2 * v[i] + (1.0f - u.b2) * gi * gi;
    const float update = (m[i] / u.correction1) / (std::sqrt(v[i] / u.correction2) + u.eps);
    p[i] -= u.lr * (update + u.decay * p[i]);
    g[i] = 0.0f;
  }
}

void for_blocks(ThreadPool* pool, size_t count, const std::function<void(int64_t, int64_t)>& body) {
  if (pool == nullptr || count <= 1) {
    body(0, static_cast<int64_t>(count));
  } else {
    pool->parallel_for(static_cast<int64_t>(count), body);
  }
}

}  // namespace

std::vector<AdamW::Block> AdamW::blocks() const {
  std::vector<Block> out;
  for (size_t t = 0; t < tensors_.size(); ++t) {
    const size_t n = tensors_[t].values.size();
    for (size_t begin = 0; begin < n; begin += kBlockValues) out.push_back({t, begin, std::min(n, begin + kBlockValues)});
  }
  return out;
}

float AdamW::grad_norm(ThreadPool* pool) const {
  const std::vector<Block> work = blocks();
  std::vector<double> partial(work.size());
  for_blocks(pool, work.size(), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const Block& k = work[static_cast<size_t>(b)];
      partial[static_cast<size_t>(b)] = sum_squares(tensors_[k.tensor].grads.data() + k.begin, k.end - k.begin);
    }
  });
  double sum = 0.0;
  for (double x : partial) sum += x;
  return static_cast<float>(std::sqrt(sum));
}

float AdamW::step(float lr, ThreadPool* pool) {
  const float norm = grad_norm(pool);
  // A non-finite gradient would poison the moments for good: refuse the step instead.
  if (!std::isfinite(norm)) fail("optimizer: the gradient is not finite (norm {}); lower the learning rate", norm);
  const float clip = options_.clip_norm > 0 && norm > options_.clip_norm ? options_.clip_norm / norm : 1.0f;
  ++t_;
  const float b1 = options_.beta1, b2 = options_.beta2;
  const float correction1 = 1.0f - static_cast<float>(std::pow(b1, static_cast<double>(t_)));
  const float correction2 = 1.0f - static_cast<float>(std::pow(b2, static_cast<double>(t_)));
  const std::vector<Block> work = blocks();
  for_blocks(pool, work.size(), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const Block& k = work[static_cast<size_t>(b)];
      Tensor& t = tensors_[k.tensor];
      const UpdateConstants u{clip, b1, b2, correction1, correction2, options_.eps, lr,
                              t.decay ? options_.weight_decay : 0.0f};
      update_values(u, t.values.data() + k.begin, t.grads.data() + k.begin, t.m.data() + k.begin,
                    t.v.data() + k.begin, k.end - k.begin);
    }
  });
  return norm;
}

void AdamW::save(std::ostream& out) const {
  const uint64_t count = tensors_.size();
  out.write(reinterpret_cast<const char*>(&t_), sizeof t_);
  out.write(reinterpret_cast<const char*>(&count), sizeof count);
  for (const Tensor& t : tensors_) {
    const uint64_t name_size = t.name.size(), n = t.m.size();
    out.write(reinterpret_cast<const char*>(&name_size), sizeof name_size);
    out.write(t.name.data(), static_cast<std::streamsize>(name_size));
    out.write(reinterpret_cast<const char*>(&n), sizeof n);
    out.write(reinterpret_cast<const char*>(t.m.data()), static_cast<std::streamsize>(n * sizeof(float)));
    out.write(reinterpret_cast<const char*>(t.v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  }
}

void AdamW::load(std::istream& in) {
  uint64_t count = 0;
  int64_t t = 0;
  in.read(reinterpret_cast<char*>(&t), sizeof t);
  in.read(reinterpret_cast<char*>(&count), sizeof count);
  if (!in || count != tensors_.size()) fail("optimizer state: expected {} tensors, the checkpoint has {}", tensors_.size(), count);
  for (Tensor& tensor : tensors_) {
    uint64_t name_size = 0, n = 0;
    in.read(reinterpret_cast<char*>(&name_size), sizeof name_size);
    if (!in || name_size > 4096) fail("optimizer state is truncated or corrupt");
    std::string name(name_size, '\0');
    in.read(name.data(), static_cast<std::streamsize>(name_size));
    in.read(reinterpret_cast<char*>(&n), sizeof n);
    if (!in || name != tensor.name || n != tensor.m.size()) {
      fail("optimizer state: expected tensor '{}' of {} values, found '{}' of {}", tensor.name, tensor.m.size(), name, n);
    }
    in.read(reinterpret_cast<char*>(tensor.m.data()), static_cast<std::streamsize>(n * sizeof(float)));
    in.read(reinterpret_cast<char*>(tensor.v.data()), static_cast<std::streamsize>(n * sizeof(float)));
    if (!in) fail("optimizer state is truncated");
  }
  t_ = t;
}

}  // namespace rpu
