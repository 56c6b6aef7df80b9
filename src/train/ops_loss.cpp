// Training loss over logits: cross-entropy against targets mixed with distillation from a
// teacher's logits (see ops.h for the formula).
//
// Per weighted token, with z the logits, p = softmax(z), tau the temperature,
// pS = softmax(z / tau), pT = softmax(teacher / tau) and alpha the distillation weight:
//   loss_t = (1 - alpha) (lse(z) - z[target]) + alpha tau^2 sum_j pT_j (log pT_j - log pS_j)
//   d loss_t / dz = (1 - alpha) (p - onehot(target)) + alpha tau (pS - pT)
#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.h"
#include "train/ops.h"

namespace rpu::train {
namespace {

struct TokenLoss {
  double cross_entropy = 0.0;
  double kl = 0.0;
};

// log(sum_j exp(z_j * inv_tau)), stable.
template <typename T>
double log_sum_exp(const T* z, int vocab, double inv_tau) {
  double max_z = -INFINITY;
  for (int j = 0; j < vocab; ++j) max_z = std::max(max_z, static_cast<double>(z[j]) * inv_tau);
  double sum = 0.0;
  for (int j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(z[j]) * inv_tau - max_z);
  return max_z + std::log(sum);
}

bool uses_hard_targets(const LossOptions& o) { return o.distill_weight < 1.0; }
bool uses_teacher(const LossOptions& o) { return o.distill_weight > 0.0; }

template <typename T>
double check_inputs(int64_t n, int vocab, std::span<const int32_t> targets, std::span<const float> weights,
                    const T* teacher_logits, const LossOptions& options) {
  if (static_cast<int64_t>(targets.size()) != n || static_cast<int64_t>(weights.size()) != n) {
    fail("loss: {} targets and {} weights for {} tokens", targets.size(), weights.size(), n);
  }
  if (!(options.distill_weight >= 0.0 && options.distill_weight <= 1.0)) {
    fail("loss: distillation weight {} is not in [0, 1]", options.distill_weight);
  }
  if (!(options.temperature > 0.0 && std::isfinite(options.temperature))) {
    fail("loss: temperature {} must be positive", options.temperature);
  }
  if (uses_teacher(options) && teacher_logits == nullptr) fail("loss: distillation needs teacher logits");
  double weight_sum = 0.0;
  for (int64_t t = 0; t < n; ++t) {
    const float w = weights[t];
    if (!(w >= 0.0f && std::isfinite(w))) fail("loss: token {} has weight {} (must be >= 0)", t, w);
    if (w > 0.0f && uses_hard_targets(options) && (targets[t] < 0 || targets[t] >= vocab)) {
      fail("loss: token {} has target {} outside the vocabulary (0..{})", t, targets[t], vocab - 1);
    }
    weight_sum += w;
  }
  return weight_sum;
}

void for_tokens(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& fn) {
  if (pool == nullptr) {
    for (int64_t t = 0; t < n; ++t) fn(t);
    return;
  }
  pool->parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(t);
  });
}

}  // namespace

template <typename T>
LossValue loss_forward(const T* logits, int64_t n, int vocab, std::span<const int32_t> targets,
                       std::span<const float> weights, const T* teacher_logits, const LossOptions& options,
                       ThreadPool* pool) {
  LossValue value;
  value.weight_sum = check_inputs(n, vocab, targets, weights, teacher_logits, options);
  if (value.weight_sum == 0.0) return value;
  const double inv_tau = 1.0 / options.temperature;
  std::vector<TokenLoss> per_token(static_cast<size_t>(n));
  for_tokens(pool, n, [&](int64_t t) {
    if (weights[t] == 0.0f) return;
    const T* z = logits + t * vocab;
    TokenLoss& out = per_token[static_cast<size_t>(t)];
    if (uses_hard_targets(options)) out.cross_entropy = log_sum_exp(z, vocab, 1.0) - z[targets[t]];
    if (uses_teacher(options)) {
      // KL = sum_j pT_j ((zt_j - zs_j) / tau) - lse(zt / tau) + lse(zs / tau)
      const T* zt = teacher_logits + t * vocab;
      const double lse_teacher = log_sum_exp(zt, vocab, inv_tau), lse_student = log_sum_exp(z, vocab, inv_tau);
      double kl = lse_student - lse_teacher;
      for (int j = 0; j < vocab; ++j) {
        const double pt = std::exp(static_cast<double>(zt[j]) * inv_tau - lse_teacher);
        kl += pt * (static_cast<double>(zt[j]) - static_cast<double>(z[j])) * inv_tau;
      }
      out.kl = kl;
    }
  });
  for (int64_t t = 0; t < n; ++t) {  // in token order: the sum does not depend on the threads
    value.cross_entropy += weights[t] * per_token[static_cast<size_t>(t)].cross_entropy;
    value.distill_kl += weights[t] * per_token[static_cast<size_t>(t)].kl;
  }
  value.cross_entropy /= value.weight_sum;
  value.distill_kl /= value.weight_sum;
  const double alpha = options.distill_weight;
  value.total = (1.0 - alpha) * value.cross_entropy +
                alpha * options.temperature * options.temperature * value.distill_kl;
  return value;
}

template <typename T>
void loss_backward(const T* logits, int64_t n, int vocab, std::span<const int32_t> targets,
                   std::span<const float> weights, const T* teacher_logits, const LossOptions& options, double dloss,
                   T* dlogits, ThreadPool* pool) {
  const double weight_sum = check_inputs(n, vocab, targets, weights, teacher_logits, options);
  if (weight_sum == 0.0) return;
  const double alpha = options.distill_weight, tau = options.temperature, inv_tau = 1.0 / tau;
  for_tokens(pool, n, [&](int64_t t) {
    if (weights[t] == 0.0f) return;
    const double token_scale = dloss * weights[t] / weight_sum;
    const T* z = logits + t * vocab;
    T* dz = dlogits + t * vocab;
    if (uses_hard_targets(options)) {
      const double lse = log_sum_exp(z, vocab, 1.0), c = token_scale * (1.0 - alpha);
      for (int j = 0; j < vocab; ++j) dz[j] += static_cast<T>(c * std::exp(static_cast<double>(z[j]) - lse));
      dz[targets[t]] -= static_cast<T>(c);
    }
    if (uses_teacher(options)) {
      const T* zt = teacher_logits + t * vocab;
      const double lse_teacher = log_sum_exp(zt, vocab, inv_tau), lse_student = log_sum_exp(z, vocab, inv_tau);
      const double c = token_scale * alpha * tau;
      for (int j = 0; j < vocab; ++j) {
        const double ps = std::exp(static_cast<double>(z[j]) * inv_tau - lse_student);
        const double pt = std::exp(static_cast<double>(zt[j]) * inv_tau - lse_teacher);
        dz[j] += static_cast<T>(c * (ps - pt));
      }
    }
  });
}

#define RPU_INSTANTIATE(T)                                                                                      \
  template LossValue loss_forward<T>(const T*, int64_t, int, std::span<const int32_t>, std::span<const float>, \
                                     const T*, const LossOptions&, ThreadPool*);                               \
  template void loss_backward<T>(const T*, int64_t, int, std::span<const int32_t>, std::span<const float>,     \
                                 const T*, const LossOptions&, double, T*, ThreadPool*);
RPU_INSTANTIATE(float)
RPU_INSTANTIATE(double)
#undef RPU_INSTANTIATE

}  // namespace rpu::train
