// Y_i = X W_i^T for several weight matrices reading the same input X[n_tokens, cols], in one
// parallel dispatch: threads split the matrices' combined rows, and X is quantized once when
// any kernel wants it. The decoder (model/forward.h) and the encoder (model/encoder_forward.h)
// both run their projections through it.
#pragma once

#include <functional>
#include <initializer_list>

#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace rpu {

struct MatmulJob {
  const WeightMatrix* w;
  float* y;  // [n_tokens, w->view.rows]
};

// Runs fn(t) for t in [0, n_tokens), split across `pool` (null or one token: in this thread);
// the element-wise steps between projections (norms, activations, attention per token).
void for_each_token(ThreadPool* pool, int n_tokens, const std::function<void(int)>& fn);

// `pool` may be null (single-threaded); `xq` is scratch kept by the caller across calls.
void matmul_batch(const KernelSet& kernels, ThreadPool* pool, QuantizedInput& xq, std::initializer_list<MatmulJob> jobs,
                  const float* x, int n_tokens);

}  // namespace rpu
