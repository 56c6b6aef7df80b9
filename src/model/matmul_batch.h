// Y_i = X W_i^T for several weight matrices reading the same input X[n_tokens, cols], in one
// parallel dispatch: threads split the matrices' combined rows, and X is quantized once when
// any kernel wants it. The decoder (model/forward.h) and the encoder (model/encoder_forward.h)
// both run their projections through it.
#pragma once

#include <functional>
#include <initializer_list>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace rpu {

struct MatmulJob {
  const WeightMatrix* w;
  float* y;  // [n_tokens, w->view.rows]
};

// Below these sizes a loop runs in the calling thread rather than the pool. A hand-off
// (publish, wake, wait for the last chunk) costs a few microseconds, more than such a loop, and
// on a busy machine a worker that was descheduled after claiming a chunk makes the caller wait
// for it: perf on `rpu serve` answering n:8 with the built-in model (n_embd 256) showed the
// worker doing almost none of the work while the pool's wake-ups cost ~20% of the CPU. The
// split never changes results (every token, row and head is computed alike either way).
constexpr int64_t kSerialValues = int64_t{1} << 13;  // element-wise: tokens x values per token
constexpr int64_t kSerialMacs = int64_t{1} << 18;    // projections: tokens x rows x columns

// Runs fn(t) for t in [0, n_tokens), split across `pool` unless pool is null or n_tokens *
// values_per_token < kSerialValues (then in this thread); the element-wise steps between
// projections (norms, activations, rotary embeddings, residuals).
void for_each_token(ThreadPool* pool, int n_tokens, int64_t values_per_token, const std::function<void(int)>& fn);

// A prompt of at least 2 x kTokenBlock tokens is also split by tokens, into blocks of about
// kTokenBlock: the threads' units are (rows, token block) pairs, and each block is quantized
// on its own, in parallel. With rows alone, a small model's matrices gave 2 threads too few
// units to share evenly (SmolLM2-135M: 576 rows = 12 tiles of 48), and quantizing a whole
// prompt was a serial step the other thread waited through. Each token's arithmetic is the
// same in any block (batch invariance), so results do not change.
constexpr int kTokenBlock = 64;

// Quantized activations kept by the caller across calls (no allocation once grown): one per
// token block.
struct MatmulScratch {
  std::vector<QuantizedInput> blocks;
};

// `pool` may be null (single-threaded). Runs in this thread when the jobs' n_tokens x rows x
// columns is below kSerialMacs. `then`: the memory the caller reads next (the next matrix),
// read ahead by idle workers (core/thread_pool.h).
void matmul_batch(const KernelSet& kernels, ThreadPool* pool, MatmulScratch& scratch,
                  std::initializer_list<MatmulJob> jobs, const float* x, int n_tokens, ReadAhead then = {});

// The bytes a matmul through w reads: its packed layout, or the file's rows.
ReadAhead weight_bytes(const WeightMatrix& w);
// The bytes of one dispatch's matrices, in the order matmul_batch's units cover them (null
// entries and matrices without rows are skipped).
ReadAhead weight_bytes(std::initializer_list<const WeightMatrix*> matrices);

}  // namespace rpu
