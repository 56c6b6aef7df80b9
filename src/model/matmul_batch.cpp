#include "model/matmul_batch.h"

#include <algorithm>

namespace rpu {

void matmul_batch(const KernelSet& kernels, ThreadPool* pool, MatmulScratch& scratch,
                  std::initializer_list<MatmulJob> jobs, const float* x, int n_tokens, ReadAhead then) {
  // Threads claim units of rows: whole tiles when several tokens share the weights (a SmolLM2
  // prefill ran ~15% of its int8 products in the narrower tiles at cut tile ends), else the
  // set's granule, the finest split for one token.
  auto unit_rows = [&](const WeightMatrix& w) { return n_tokens > 1 && w.tile_rows > 0 ? w.tile_rows : w.row_granule; };
  bool quantize = false;
  int64_t row_units = 0;  // over all jobs
  int64_t macs = 0;
  const int64_t cols = jobs.begin()->w->view.cols;
  for (const MatmulJob& job : jobs) {
    quantize = quantize || kernels.wants_quantized_input(*job.w);
    row_units += (job.w->view.rows + unit_rows(*job.w) - 1) / unit_rows(*job.w);
    macs += job.w->view.rows * job.w->view.cols * n_tokens;
  }
  const bool serial = pool == nullptr || macs < kSerialMacs;
  // Token blocks [first_token(i), first_token(i + 1)).
  const int64_t n_blocks = serial ? 1 : std::max(1, n_tokens / kTokenBlock);
  auto first_token = [&](int64_t i) { return i * n_tokens / n_blocks; };
  if (scratch.blocks.size() < static_cast<size_t>(n_blocks)) scratch.blocks.resize(static_cast<size_t>(n_blocks));
  auto quantize_blocks = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t0 = first_token(i);
      kernels.quantize_input(x + t0 * cols, first_token(i + 1) - t0, cols, scratch.blocks[static_cast<size_t>(i)]);
    }
  };
  // Unit u: token block u / row_units, row unit u % row_units (counted over the jobs in order).
  auto run_units = [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end;) {
      const int64_t block = u / row_units, t0 = first_token(block), tokens = first_token(block + 1) - t0;
      const int64_t lo_unit = u % row_units, hi_unit = std::min(row_units, lo_unit + (end - u));
      int64_t first = 0;  // first unit of the current job
      for (const MatmulJob& job : jobs) {
        const WeightMatrix& w = *job.w;
        const int64_t rows_per_unit = unit_rows(w);
        const int64_t units = (w.view.rows + rows_per_unit - 1) / rows_per_unit;
        const int64_t lo = std::max(lo_unit, first), hi = std::min(hi_unit, first + units);
        if (lo < hi) {
          kernels.matmul(w, x + t0 * cols, scratch.blocks[static_cast<size_t>(block)], tokens, job.y + t0 * w.view.rows,
                         (lo - first) * rows_per_unit, std::min(w.view.rows, (hi - first) * rows_per_unit));
        }
        first += units;
      }
      u += hi_unit - lo_unit;
    }
  };
  if (quantize) {
    if (n_blocks > 1) {
      pool->parallel_for(n_blocks, quantize_blocks);
    } else {
      quantize_blocks(0, 1);
    }
  }
  if (serial) {
    run_units(0, row_units);  // n_blocks is 1
  } else {
    pool->parallel_for(row_units * n_blocks, run_units, then);
  }
}

namespace {
// The bytes a matmul through w reads: its packed layout, or the file's rows.
ReadAhead::Range weight_range(const WeightMatrix& w) {
  if (w.packed) return {w.packed.get(), w.packed_bytes};
  return {w.view.data, static_cast<size_t>(w.view.rows) * static_cast<size_t>(w.view.row_bytes)};
}
}  // namespace

ReadAhead weight_bytes(const WeightMatrix& w) {
  const ReadAhead::Range range = weight_range(w);
  return {range.data, range.bytes};
}

ReadAhead weight_bytes(std::initializer_list<const WeightMatrix*> matrices) {
  ReadAhead ahead;
  for (const WeightMatrix* w : matrices) {
    if (w == nullptr || w->view.rows == 0) continue;
    const ReadAhead::Range range = weight_range(*w);
    ahead.add(range.data, range.bytes);
  }
  return ahead;
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
