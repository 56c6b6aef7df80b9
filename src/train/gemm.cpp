#include "train/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/bf16_panels.h"

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

// ---- bf16: both operands are packed whole, once per product (rounding costs O(mk + kn)
// against the product's O(mkn)), then tiles of C run over the packed panels.
constexpr int64_t kBf16BlockRows = 8 * kBf16PanelRows;   // C tile rows: A panels of a tile, 64 KiB at k 2048
constexpr int64_t kBf16BlockCols = 8 * kBf16PanelCols;   // C tile columns
constexpr int64_t kBf16BlockPairs = 128;          // k pairs per pass: a B panel slice is 16 KiB (L1)

void for_range(ThreadPool* pool, int64_t count, const std::function<void(int64_t, int64_t)>& body) {
  if (pool == nullptr || count <= 1) {
    body(0, count);
  } else {
    pool->parallel_for(count, body);
  }
}

// Two f32 values as one bf16 pair, the even k in the low half (the panel layout of
// kernels/bf16_panels.h), each rounded to nearest even as core/fp16.h does. Packing straight
// from A and B in one pass replaced an f32 staging copy (zero-filled, then read again by the
// kernels' to_pairs): the packing was a fifth of the product's time at these shapes.
RPU_ALWAYS_INLINE uint32_t bf16_pair(float even, float odd) {
  return static_cast<uint32_t>(f32_to_bf16(even)) | (static_cast<uint32_t>(f32_to_bf16(odd)) << 16);
}

// pack_pairs for lines (rows of A, columns of B) contiguous along k, e_stride apart: runs of
// kRun pairs of every line are converted contiguously (vectorises), then written out a panel
// row (kWidth pairs, contiguous) at a time; spreading each line's run down the panel with
// one scattered 4-byte store per pair was most of the packing time.
template <int kWidth>
RPU_ALWAYS_INLINE void pack_lines(const float* data, int64_t e_stride, int64_t count, int64_t k, int64_t pairs,
                                  uint32_t* out) {
  constexpr int64_t kRun = 32;
  uint32_t runs[kWidth][kRun];
  const int64_t full = k / 2;
  for (int64_t q0 = 0; q0 < full; q0 += kRun) {
    const int64_t len = std::min(kRun, full - q0);
    for (int64_t e = 0; e < kWidth; ++e) {
      if (e < count) {
        const float* line = data + e * e_stride + 2 * q0;
        for (int64_t q = 0; q < len; ++q) runs[e][q] = bf16_pair(line[2 * q], line[2 * q + 1]);
      } else {
        for (int64_t q = 0; q < len; ++q) runs[e][q] = 0;
      }
    }
    for (int64_t q = 0; q < len; ++q) {
      uint32_t* dst = out + (q0 + q) * kWidth;
      for (int e = 0; e < kWidth; ++e) dst[e] = runs[e][q];
    }
  }
  if (full < pairs) {  // odd k: the last pair's odd half is zero
    uint32_t* dst = out + full * kWidth;
    for (int64_t e = 0; e < kWidth; ++e) dst[e] = e < count ? bf16_pair(data[e * e_stride + 2 * full], 0.0f) : 0;
  }
}

// out[q * width + e] = the pair (X(e, 2q), X(e, 2q + 1)) for e < count (0 past it, and 0 for the
// odd k past k), where X(e, kk) = data[e * e_stride + kk * k_stride]: rows of an A panel
// (e = row) or columns of a B panel (e = column). Walks whichever direction is contiguous.
RPU_VECTOR_CLONES
void pack_pairs(const float* data, int64_t e_stride, int64_t k_stride, int64_t count, int width, int64_t k,
                int64_t pairs, uint32_t* out) {
  const int64_t full = k / 2;  // pairs with both halves inside k
  if (e_stride == 1) {
    // Consecutive e are adjacent: one k pair of the whole panel width at a time (vectorises).
    for (int64_t q = 0; q < pairs; ++q) {
      const float* even = data + 2 * q * k_stride;
      const float* odd = even + k_stride;
      uint32_t* dst = out + q * width;
      if (q < full && count == width) {
        // A constant trip count, so an 8-wide A panel vectorises too (a loop of `count` runs
        // its vector body in steps of 16 and would leave 8 to the scalar tail).
        if (width == kBf16PanelRows) {
          for (int e = 0; e < kBf16PanelRows; ++e) dst[e] = bf16_pair(even[e], odd[e]);
        } else {
          for (int e = 0; e < kBf16PanelCols; ++e) dst[e] = bf16_pair(even[e], odd[e]);
        }
      } else if (q < full) {
        for (int64_t e = 0; e < count; ++e) dst[e] = bf16_pair(even[e], odd[e]);
      } else {
        for (int64_t e = 0; e < count; ++e) dst[e] = bf16_pair(even[e], 0.0f);
      }
      for (int64_t e = count; e < width; ++e) dst[e] = 0;
    }
    return;
  }
  if (k_stride == 1 && width == kBf16PanelRows) {
    pack_lines<kBf16PanelRows>(data, e_stride, count, k, pairs, out);
    return;
  }
  if (k_stride == 1 && width == kBf16PanelCols) {
    pack_lines<kBf16PanelCols>(data, e_stride, count, k, pairs, out);
    return;
  }
  // Each row (or column) along k, strided.
  for (int64_t e = 0; e < width; ++e) {
    uint32_t* dst = out + e;
    if (e >= count) {
      for (int64_t q = 0; q < pairs; ++q) dst[q * width] = 0;
      continue;
    }
    const float* line = data + e * e_stride;
    for (int64_t q = 0; q < full; ++q) dst[q * width] = bf16_pair(line[2 * q * k_stride], line[(2 * q + 1) * k_stride]);
    if (full < pairs) dst[full * width] = bf16_pair(line[2 * full * k_stride], 0.0f);
  }
}

// Rows [p * kBf16PanelRows, +kBf16PanelRows) of A [m, k] as a bf16 panel over `pairs` k pairs.
void pack_a_panel(StridedMatrix<float> a, int64_t m, int64_t k, int64_t p, int64_t pairs, uint32_t* out) {
  const int64_t i0 = p * kBf16PanelRows;
  pack_pairs(a.data + i0 * a.row_stride, a.row_stride, a.col_stride, std::min<int64_t>(kBf16PanelRows, m - i0),
             kBf16PanelRows, k, pairs, out);
}

// Columns [q * kBf16PanelCols, +kBf16PanelCols) of B [k, n] as a bf16 panel, likewise.
void pack_b_panel(StridedMatrix<float> b, int64_t n, int64_t k, int64_t q, int64_t pairs, uint32_t* out) {
  const int64_t j0 = q * kBf16PanelCols;
  pack_pairs(b.data + j0 * b.col_stride, b.col_stride, b.row_stride, std::min<int64_t>(kBf16PanelCols, n - j0),
             kBf16PanelCols, k, pairs, out);
}

void gemm_bf16(const Bf16PanelKernels& panels, int64_t m, int64_t n, int64_t k, StridedMatrix<float> a,
               StridedMatrix<float> b, float* c, int64_t ldc, ThreadPool* pool) {
  const int64_t pairs = (k + 1) / 2;
  const int64_t a_panels = (m + kBf16PanelRows - 1) / kBf16PanelRows, b_panels = (n + kBf16PanelCols - 1) / kBf16PanelCols;
  const int64_t a_panel_size = pairs * kBf16PanelRows, b_panel_size = pairs * kBf16PanelCols;
  // The calling thread's buffers, grown once; workers reach them through these pointers (a
  // thread_local named inside the lambdas would be each worker's own).
  thread_local std::vector<uint32_t> ap, bp;
  ap.resize(static_cast<size_t>(a_panels * a_panel_size));
  bp.resize(static_cast<size_t>(b_panels * b_panel_size));
  uint32_t* const a_packed = ap.data();
  uint32_t* const b_packed = bp.data();
  for_range(pool, a_panels + b_panels, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      if (t < a_panels) {
        pack_a_panel(a, m, k, t, pairs, a_packed + t * a_panel_size);
      } else {
        pack_b_panel(b, n, k, t - a_panels, pairs, b_packed + (t - a_panels) * b_panel_size);
      }
    }
  });
  const int64_t m_tiles = (m + kBf16BlockRows - 1) / kBf16BlockRows, n_tiles = (n + kBf16BlockCols - 1) / kBf16BlockCols;
  for_range(pool, m_tiles * n_tiles, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i0 = (t / n_tiles) * kBf16BlockRows, j0 = (t % n_tiles) * kBf16BlockCols;
      const int64_t i1 = std::min(m, i0 + kBf16BlockRows), j1 = std::min(n, j0 + kBf16BlockCols);
      for (int64_t p0 = 0; p0 < pairs; p0 += kBf16BlockPairs) {
        const int64_t pc = std::min(kBf16BlockPairs, pairs - p0);
        for (int64_t j = j0; j < j1; j += kBf16PanelCols) {
          const uint32_t* b_panel = b_packed + (j / kBf16PanelCols) * b_panel_size + p0 * kBf16PanelCols;
          for (int64_t i = i0; i < i1; i += kBf16PanelRows) {
            const uint32_t* a_panel = a_packed + (i / kBf16PanelRows) * a_panel_size + p0 * kBf16PanelRows;
            panels.multiply_tile(pc, a_panel, b_panel, c + i * ldc + j, ldc,
                                      static_cast<int>(std::min<int64_t>(kBf16PanelRows, i1 - i)),
                                      static_cast<int>(std::min<int64_t>(kBf16PanelCols, j1 - j)));
          }
        }
      }
    }
  });
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

std::atomic<int> g_precision{-1};  // -1: not chosen yet

void require_supported(GemmPrecision precision, std::string_view source) {
  if (precision == GemmPrecision::kBf16 && !bf16_gemm_supported()) {
    fail("{}: bf16 training products need a CPU with AVX512-BF16 (this one has none); use f32", source);
  }
}

}  // namespace

bool bf16_gemm_supported() { return bf16_panels_native() != nullptr; }

const char* to_string(GemmPrecision precision) { return precision == GemmPrecision::kBf16 ? "bf16" : "f32"; }

GemmPrecision parse_gemm_precision(std::string_view text, std::string_view source) {
  if (text == "f32") return GemmPrecision::kF32;
  if (text == "bf16") return GemmPrecision::kBf16;
  fail("{}: unknown training precision '{}' (expected f32 or bf16)", source, text);
}

GemmPrecision gemm_precision() {
  const int current = g_precision.load(std::memory_order_relaxed);
  if (current >= 0) return static_cast<GemmPrecision>(current);
  // bf16 where the CPU has the products: about a quarter less CPU per step than f32 on the
  // built-in model's recipe, final held-out loss within 2% (bench/RESULTS.md, "Training
  // speed"). --precision f32 gives the same numbers on every CPU.
  GemmPrecision chosen = bf16_gemm_supported() ? GemmPrecision::kBf16 : GemmPrecision::kF32;
  if (const char* forced = std::getenv("RPU_TRAIN_GEMM"); forced != nullptr && *forced != '\0') {
    chosen = parse_gemm_precision(forced, "RPU_TRAIN_GEMM");
    require_supported(chosen, "RPU_TRAIN_GEMM");
  }
  g_precision.store(static_cast<int>(chosen), std::memory_order_relaxed);
  return chosen;
}

void set_gemm_precision(GemmPrecision precision) {
  require_supported(precision, "training precision");
  g_precision.store(static_cast<int>(precision), std::memory_order_relaxed);
}

template <typename T>
void gemm_accumulate(int64_t m, int64_t n, int64_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c, int64_t ldc,
                     ThreadPool* pool) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_precision() == GemmPrecision::kBf16) {
      gemm_bf16(*bf16_panels_native(), m, n, k, a, b, c, ldc, pool);  // set only where the CPU has them
      return;
    }
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
