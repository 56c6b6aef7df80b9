#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <istream>
#include <ostream>

#include "core/error.h"

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
  for (Tensor& t : tensors_) {
    for (float& g : t.grads) g *= factor;
  }
}

float AdamW::grad_norm() const {
  double sum = 0.0;
  for (const Tensor& t : tensors_) {
    for (float g : t.grads) sum += static_cast<double>(g) * g;
  }
  return static_cast<float>(std::sqrt(sum));
}

float AdamW::step(float lr) {
  const float norm = grad_norm();
  // A non-finite gradient would poison the moments for good: refuse the step instead.
  if (!std::isfinite(norm)) fail("optimizer: the gradient is not finite (norm {}); lower the learning rate", norm);
  const float clip = options_.clip_norm > 0 && norm > options_.clip_norm ? options_.clip_norm / norm : 1.0f;
  ++t_;
  const float b1 = options_.beta1, b2 = options_.beta2;
  const float correction1 = 1.0f - static_cast<float>(std::pow(b1, static_cast<double>(t_)));
  const float correction2 = 1.0f - static_cast<float>(std::pow(b2, static_cast<double>(t_)));
  for (Tensor& t : tensors_) {
    const float decay = t.decay ? options_.weight_decay : 0.0f;
    float* p = t.values.data();
    float* g = t.grads.data();
    float* m = t.m.data();
    float* v = t.v.data();
    const size_t n = t.values.size();
    for (size_t i = 0; i < n; ++i) {
      const float gi = g[i] * clip;
      m[i] = b1 * m[i] + (1.0f - b1) * gi;
      v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
      const float update = (m[i] / correction1) / (std::sqrt(v[i] / correction2) + options_.eps);
      p[i] -= lr * (update + decay * p[i]);
      g[i] = 0.0f;
    }
  }
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
