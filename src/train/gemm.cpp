#include "train/gemm.h"

#include <algorithm>
#include <vector>

namespace rpu::train {
namespace {

// Register tile of the float micro-kernel: kMR rows of A times kNR columns of B, held in
// kMR * kNR accumulators (6 x 32 floats = 12 AVX-512 or 24 AVX2 registers' worth). Macro
// blocks: an A block [kMC, kKC] stays in L2, a B micro-panel [kKC, kNR] (32 KiB) in L1.
constexpr int kMR = 6;
constexpr int kNR = 32;
constexpr int64_t kMC = 16 * kMR;
constexpr int64_t kNC = 256;
constexpr int64_t kKC = 256;

// Packs rows [i0, i0 + mc) x cols [k0, k0 + kc) of A into micro-panels of kMR rows:
// panel p is ap[p * kc * kMR + k * kMR + r]. Rows past mc are zero, so the micro-kernel
// always runs a full tile.
void pack_a(StridedMatrix<float> a, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* ap) {
  for (int64_t p = 0; p < mc; p += kMR) {
    const int64_t rows = std::min<int64_t>(kMR, mc - p);
    float* dst = ap + p * kc;
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t r = 0; r < kMR; ++r) dst[k * kMR + r] = r < rows ? a.at(i0 + p + r, k0 + k) : 0.0f;
    }
  }
}

// Packs rows [k0, k0 + kc) x cols [j0, j0 + nc) of B into micro-panels of kNR columns:
// panel q is bp[q * kc * kNR + k * kNR + j], zero-padded past nc.
void pack_b(StridedMatrix<float> b, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* bp) {
  for (int64_t q = 0; q < nc; q += kNR) {
    const int64_t cols = std::min<int64_t>(kNR, nc - q);
    float* dst = bp + q * kc;
    if (b.row_stride == 1) {
      // B is a transposed row-major matrix (y = x W^T): read each W row contiguously and
      // scatter it down a column of the panel, which is small enough to stay in L1.
      for (int64_t j = 0; j < kNR; ++j) {
        if (j >= cols) {
          for (int64_t k = 0; k < kc; ++k) dst[k * kNR + j] = 0.0f;
          continue;
        }
        const float* src = b.data + k0 + (j0 + q + j) * b.col_stride;
        for (int64_t k = 0; k < kc; ++k) dst[k * kNR + j] = src[k];
      }
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = b.data + (k0 + k) * b.row_stride + (j0 + q) * b.col_stride;
      if (b.col_stride == 1) {
        std::copy_n(src, cols, dst + k * kNR);
      } else {
        for (int64_t j = 0; j < cols; ++j) dst[k * kNR + j] = src[j * b.col_stride];
      }
      std::fill(dst + k * kNR + cols, dst + (k + 1) * kNR, 0.0f);
    }
  }
}

// C block [mc, nc] += packed A block x packed B block, one kMR x kNR register tile at a time.
RPU_VECTOR_CLONES
void multiply_packed(int64_t mc, int64_t nc, int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc) {
  for (int64_t q = 0; q < nc; q += kNR) {
    const float* b_panel = bp + q * kc;
    const int64_t cols = std::min<int64_t>(kNR, nc - q);
    for (int64_t p = 0; p < mc; p += kMR) {
      const float* a_panel = ap + p * kc;
      float acc[kMR][kNR] = {};
      for (int64_t k = 0; k < kc; ++k) {
        const float* bk = b_panel + k * kNR;
        const float* ak = a_panel + k * kMR;
        for (int r = 0; r < kMR; ++r) {
          const float av = ak[r];
          for (int j = 0; j < kNR; ++j) acc[r][j] += av * bk[j];
        }
      }
      const int64_t rows = std::min<int64_t>(kMR, mc - p);
      for (int64_t r = 0; r < rows; ++r) {
        float* crow = c + (p + r) * ldc + q;
        for (int64_t j = 0; j < cols; ++j) crow[j] += acc[r][j];
      }
    }
  }
}

void gemm_f32_tile(int64_t i0, int64_t mc, int64_t j0, int64_t nc, int64_t k, StridedMatrix<float> a,
                   StridedMatrix<float> b, float* c, int64_t ldc) {
  thread_local std::vector<float> ap, bp;  // per thread, grown once
  const size_t a_size = static_cast<size_t>((kMC + kMR) * kKC), b_size = static_cast<size_t>((kNC + kNR) * kKC);
  if (ap.size() < a_size) ap.resize(a_size);
  if (bp.size() < b_size) bp.resize(b_size);
  for (int64_t k0 = 0; k0 < k; k0 += kKC) {
    const int64_t kc = std::min(kKC, k - k0);
    pack_a(a, i0, mc, k0, kc, ap.data());
    pack_b(b, k0, kc, j0, nc, bp.data());
    multiply_packed(mc, nc, kc, ap.data(), bp.data(), c + i0 * ldc + j0, ldc);
  }
}

void gemm_f32(int64_t m, int64_t n, int64_t k, StridedMatrix<float> a, StridedMatrix<float> b, float* c, int64_t ldc,
              ThreadPool* pool) {
  const int64_t m_tiles = (m + kMC - 1) / kMC, n_tiles = (n + kNC - 1) / kNC;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i0 = (t / n_tiles) * kMC, j0 = (t % n_tiles) * kNC;
      gemm_f32_tile(i0, std::min(kMC, m - i0), j0, std::min(kNC, n - j0), k, a, b, c, ldc);
    }
  };
  if (pool == nullptr || m_tiles * n_tiles == 1) {
    run(0, m_tiles * n_tiles);
  } else {
    pool->parallel_for(m_tiles * n_tiles, run);
  }
}

// Plain triple loop (double precision gradient checks); rows of C split across threads.
template <typename T>
void gemm_plain(int64_t m, int64_t n, int64_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c, int64_t ldc,
                ThreadPool* pool) {
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T* crow = c + i * ldc;
      for (int64_t kk = 0; kk < k; ++kk) {
        const T av = a.at(i, kk);
        for (int64_t j = 0; j < n; ++j) crow[j] += av * b.at(kk, j);
      }
    }
  };
  if (pool == nullptr) {
    run(0, m);
  } else {
    pool->parallel_for(m, run);
  }
}

}  // namespace

template <typename T>
void gemm_accumulate(int64_t m, int64_t n, int64_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c, int64_t ldc,
                     ThreadPool* pool) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  if constexpr (std::is_same_v<T, float>) {
    gemm_f32(m, n, k, a, b, c, ldc, pool);
  } else {
    gemm_plain(m, n, k, a, b, c, ldc, pool);
  }
}

template void gemm_accumulate<float>(int64_t, int64_t, int64_t, StridedMatrix<float>, StridedMatrix<float>, float*,
                                     int64_t, ThreadPool*);
template void gemm_accumulate<double>(int64_t, int64_t, int64_t, StridedMatrix<double>, StridedMatrix<double>, double*,
                                      int64_t, ThreadPool*);

}  // namespace rpu::train
