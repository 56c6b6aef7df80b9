// The kernel dispatch table. Every variant (scalar reference, AVX2, AVX-512, ...) fills
// one KernelSet; the engine calls through the set chosen once at start-up, which the
// environment variable RPU_KERNELS can force (e.g. RPU_KERNELS=ref).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace rpu {

struct KernelSet {
  const char* name;
  // Rows [row_begin, row_end) of Y = X W^T, for X[n_tokens, w.cols] and Y[n_tokens, w.rows]
  // (both f32, row-major). Callers split rows across threads.
  void (*matmul)(const MatrixView& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end);
};

const KernelSet& reference_kernels();
std::vector<const KernelSet*> available_kernels();  // those this CPU can run, reference first
const KernelSet& find_kernels(const std::string& name);  // throws naming the choices
// Chosen on first use: RPU_KERNELS if set, else the fastest available.
const KernelSet& active_kernels();

}  // namespace rpu
