#include "model/matmul_batch.h"

#include <algorithm>

namespace rpu {

void matmul_batch(const KernelSet& kernels, ThreadPool* pool, QuantizedInput& xq, std::initializer_list<MatmulJob> jobs,
                  const float* x, int n_tokens) {
  // Threads claim units of rows: whole tiles when several tokens share the weights (a SmolLM2
  // prefill ran ~15% of its int8 products in the narrower tiles at cut tile ends), else the
  // set's granule, the finest split for one token.
  auto unit_rows = [&](const WeightMatrix& w) { return n_tokens > 1 && w.tile_rows > 0 ? w.tile_rows : w.row_granule; };
  bool quantize = false;
  int64_t total_units = 0;  // over all jobs
  int64_t macs = 0;
  for (const MatmulJob& job : jobs) {
    quantize = quantize || kernels.wants_quantized_input(*job.w);
    total_units += (job.w->view.rows + unit_rows(*job.w) - 1) / unit_rows(*job.w);
    macs += job.w->view.rows * job.w->view.cols * n_tokens;
  }
  if (quantize) kernels.quantize_input(x, n_tokens, jobs.begin()->w->view.cols, xq);
  auto run_units = [&](int64_t begin, int64_t end) {
    int64_t first = 0;  // first unit of the current job
    for (const MatmulJob& job : jobs) {
      const WeightMatrix& w = *job.w;
      const int64_t rows_per_unit = unit_rows(w);
      const int64_t units = (w.view.rows + rows_per_unit - 1) / rows_per_unit;
      const int64_t lo = std::max(begin, first), hi = std::min(end, first + units);
      if (lo < hi) {
        kernels.matmul(w, x, xq, n_tokens, job.y, (lo - first) * rows_per_unit,
                       std::min(w.view.rows, (hi - first) * rows_per_unit));
      }
      first += units;
    }
  };
  if (pool == nullptr || macs < kSerialMacs) {
    run_units(0, total_units);
  } else {
    pool->parallel_for(total_units, run_units);
  }
}

void for_each_token(ThreadPool* pool, int n_tokens, int64_t values_per_token, const std::function<void(int)>& fn) {
  if (pool == nullptr || n_tokens == 1 || n_tokens * values_per_token < kSerialValues) {
    for (int t = 0; t < n_tokens; ++t) fn(t);
    return;
  }
  pool->parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(static_cast<int>(t));
  });
}

}  // namespace rpu
