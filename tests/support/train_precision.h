// Pins the training products' precision (train/gemm.h) for one test and restores the previous
// one after, so tests that compare f32 numerics do not depend on the CPU's default (bf16
// where AVX512-BF16 exists).
#pragma once

#include "train/gemm.h"

namespace rpu::test {

class GemmPrecisionScope {
 public:
  explicit GemmPrecisionScope(train::GemmPrecision precision) : saved_(train::gemm_precision()) {
    train::set_gemm_precision(precision);
  }
  ~GemmPrecisionScope() { train::set_gemm_precision(saved_); }
  GemmPrecisionScope(const GemmPrecisionScope&) = delete;
  GemmPrecisionScope& operator=(const GemmPrecisionScope&) = delete;

 private:
  train::GemmPrecision saved_;
};

}  // namespace rpu::test
