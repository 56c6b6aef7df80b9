// AdamW (decoupled weight decay) over f32 parameter tensors, global-norm gradient clipping,
// and the learning-rate schedule: linear warmup, then cosine decay to a floor.
//
//   g <- g * min(1, clip / ||g||)                      (||g|| over every registered tensor)
//   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
//   p <- p - lr * ( m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p )   (wd only where decayed)
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"

namespace rpu {

struct AdamWOptions {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // applied to tensors registered with decay = true (matrices, not norms)
  float clip_norm = 1.0f;     // <= 0: no clipping
};

struct LearningRateSchedule {
  float peak = 1e-3f;
  int warmup_steps = 0;
  int total_steps = 1;
  float final_ratio = 0.1f;  // the cosine ends at peak * final_ratio
  float at(int step) const;  // step counts from 0
  // A run bounded by wall time: the cosine follows whichever is further along, the steps or
  // time_done (the share of the time budget used, 0..1), so a time-boxed run still anneals.
  float at(int step, double time_done) const;
};

class AdamW {
 public:
  explicit AdamW(const AdamWOptions& options = {}) : options_(options) {}

  // Registers a tensor and its gradient buffer (same size); both must outlive the optimizer.
  void add(std::string name, std::span<float> values, std::span<float> grads, bool decay);
  // Multiplies every gradient by `factor` (e.g. 1 / micro-batches for gradient accumulation).
  void scale_grads(float factor);
  // L2 norm over all registered gradients; `pool` (may be null) shares the work, and the
  // result does not depend on it.
  float grad_norm(ThreadPool* pool = nullptr) const;
  // Clips, updates every tensor, zeroes the gradients; returns the norm before clipping.
  float step(float learning_rate, ThreadPool* pool = nullptr);
  int64_t steps_taken() const { return t_; }

  // Moments and step count, for checkpoints; load() checks names and sizes match.
  void save(std::ostream& out) const;
  void load(std::istream& in);

 private:
  struct Tensor {
    std::string name;
    std::span<float> values, grads;
    bool decay;
    std::vector<float> m, v;
  };
  struct Block {  // values [begin, end) of tensors_[tensor]
    size_t tensor, begin, end;
  };
  std::vector<Block> blocks() const;

  AdamWOptions options_;
  std::vector<Tensor> tensors_;
  int64_t t_ = 0;
};

}  // namespace rpu
