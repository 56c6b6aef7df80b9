// Every fast kernel set against the scalar reference on random inputs: ragged shapes (rows
// not a multiple of the 16-row groups, token counts around the 4-token tiles), poisoned
// outputs, row sub-ranges, and tolerances derived from the arithmetic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

#include "core/error.h"
#include "core/fp16.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "kernels/kv_rows.h"
#include "kernels/quant.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"

namespace rpu {
namespace {

constexpr float kEps = 0x1.0p-24f;  // unit roundoff of f32

std::vector<float> random_values(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * static_cast<float>(2.0 * rng.uniform() - 1.0);
  // A few outliers so per-block scales vary.
  for (size_t i = 0; i < n; i += 37) v[i] *= 4.0f;
  return v;
}

// The sets under test: every one this CPU has, or those RPU_TEST_KERNELS=a,b names (the ARM64
// cross-build tests each set on one qemu CPU model: scripts/cross-arm64.sh).
std::vector<const KernelSet*> tested_sets() {
  std::vector<const KernelSet*> sets;
  const char* only = std::getenv("RPU_TEST_KERNELS");
  std::string list = ",";  // ",a,b," (built by appending: GCC 12 warns on "," + std::string)
  if (only != nullptr) list.append(only).append(",");
  for (const KernelSet* set : available_kernels()) {
    std::string key = ",";
    key.append(set->name).append(",");
    if (only == nullptr || list.find(key) != std::string::npos) sets.push_back(set);
  }
  return sets;
}

std::vector<const KernelSet*> fast_sets() {
  auto sets = tested_sets();
  std::erase(sets, &reference_kernels());  // the oracle itself
  return sets;
}

struct Matrix {
  DType type;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
  std::vector<float> dequantized;  // [rows, cols]
  MatrixView view() const {
    return MatrixView{type, bytes.data(), rows, cols, dtype_row_bytes(type, static_cast<uint64_t>(cols))};
  }
};

Matrix random_matrix(DType type, int64_t rows, int64_t cols, uint64_t seed) {
  Matrix m{type, rows, cols, {}, {}};
  const uint64_t row_bytes = dtype_row_bytes(type, static_cast<uint64_t>(cols));
  m.bytes.resize(row_bytes * rows);
  const auto values = random_values(static_cast<size_t>(rows * cols), seed, 0.5f);
  m.dequantized.resize(values.size());
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row(type, values.data() + r * cols, m.bytes.data() + r * row_bytes, cols);
    dequantize_row(type, m.bytes.data() + r * row_bytes, m.dequantized.data() + r * cols, cols);
  }
  return m;
}

TEST(KernelSetTest, ReferenceComesFirstAndNamesResolve) {
  const auto sets = available_kernels();
  ASSERT_FALSE(sets.empty());
  EXPECT_STREQ(sets.front()->name, "ref");
  for (const KernelSet* set : sets) EXPECT_EQ(&find_kernels(set->name), set);
  EXPECT_THROW(find_kernels("no-such-set"), Error);
}

TEST(KernelSetTest, QuantizedInputIsBitIdenticalToReference) {
  for (const KernelSet* set : fast_sets()) {
    for (int64_t cols : {32, 96, 576}) {
      const auto x = random_values(static_cast<size_t>(3 * cols), 7 + cols);
      QuantizedInput ref, fast;
      quantize_input_ref(x.data(), 3, cols, ref);
      set->quantize_input(x.data(), 3, cols, fast);
      EXPECT_EQ(fast.q, ref.q) << set->name;
      EXPECT_EQ(fast.d, ref.d) << set->name;
      EXPECT_EQ(fast.sum, ref.sum) << set->name;
      EXPECT_EQ(fast.sum16, ref.sum16) << set->name;
    }
  }
}

struct Shape {
  int64_t rows, cols;
};

// set.matmul on m and x[n_tokens, m.cols] against the exact product.
void check_matmul(const KernelSet& set, const Matrix& m, const std::vector<float>& x, int64_t n_tokens) {
  const Shape shape{m.rows, m.cols};
  WeightMatrix w;
  set.pack(m.view(), w);
  QuantizedInput xq;
  const bool quantized = set.wants_quantized_input(w);
  if (quantized) set.quantize_input(x.data(), n_tokens, shape.cols, xq);

  // The exact product the kernel should compute: the dequantized weights times either x or,
  // for integer kernels, x as the kernel sees it after quantization (d * q).
  std::vector<double> x_seen(x.begin(), x.end());
  if (quantized) {
    for (size_t i = 0; i < x_seen.size(); ++i) x_seen[i] = static_cast<double>(xq.d[i / 32]) * xq.q[i];
  }

  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> y(static_cast<size_t>(n_tokens * shape.rows), nan);
  // Two row ranges split at a granule boundary, leaving the last row(s) of a group ragged.
  const int64_t split = std::min(shape.rows, w.row_granule * ((shape.rows / 2 + w.row_granule - 1) / w.row_granule));
  set.matmul(w, x.data(), xq, n_tokens, y.data(), 0, split);
  set.matmul(w, x.data(), xq, n_tokens, y.data(), split, shape.rows);

  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < shape.rows; ++r) {
      double exact = 0, magnitude = 0;
      for (int64_t c = 0; c < shape.cols; ++c) {
        const double p = static_cast<double>(m.dequantized[r * shape.cols + c]) * x_seen[t * shape.cols + c];
        exact += p;
        magnitude += std::fabs(p);
      }
      // Any summation order of n f32 products errs by at most ~n * eps * sum |w x| (the
      // scale factors d_w * d_x add a few more roundings per block: counted in the 4).
      const double tolerance = 4.0 * (shape.cols + 8) * kEps * magnitude + 1e-30;
      const float got = y[t * shape.rows + r];
      ASSERT_FALSE(std::isnan(got)) << "row " << r << " token " << t << " was not written";
      ASSERT_NEAR(got, exact, tolerance) << "row " << r << " token " << t;
    }
  }
}

void check_type(const KernelSet& set, DType type, Shape shape, int64_t n_tokens, uint64_t seed) {
  SCOPED_TRACE(testing::Message() << set.name << " " << dtype_name(type) << " rows " << shape.rows << " cols "
                                  << shape.cols << " tokens " << n_tokens);
  const Matrix m = random_matrix(type, shape.rows, shape.cols, seed);
  const auto x = random_values(static_cast<size_t>(n_tokens * shape.cols), seed + 1);
  check_matmul(set, m, x, n_tokens);
}

TEST(KernelSetTest, MatmulMatchesExactProductOnRaggedShapes) {
  const DType types[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q5_0,
                         DType::Q4_1, DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  uint64_t seed = 100;
  for (const KernelSet* set : tested_sets()) {
    for (DType type : types) {
      const int64_t block = dtype_info(type).block_size;
      for (Shape shape : {Shape{1, block}, Shape{17, 3 * block}, Shape{40, 9 * block > 600 ? 2 * block : 9 * block}}) {
        for (int64_t n_tokens : {1, 3, 4, 9}) check_type(*set, type, shape, n_tokens, ++seed);
      }
    }
  }
}

// Prefill tiles of the integer kernels: several 16-row groups by several tokens per pass
// (AVX-512: up to 3 groups x 4 tokens, then 2 or 1 group for what a row range leaves; steps
// of 2-16 tokens take the one-sweep decode-batch tile with up to 4 such sub-tiles).
// Row counts give row ranges (split in check_matmul at a group boundary) of 1 to 5 groups
// with a ragged last group inside a tile (33: [0,16) [16,33); 70: [0,48) [48,70); 96:
// [0,48) [48,96); 130: [0,80) [80,130)); token counts leave every remainder of 4- and
// 8-token tiles. K-quants are included for the tiles they take: groups x 4 tokens over a panel
// unpacked once (Q4_K / Q5_K 3 groups, Q6_K 2) from 17 tokens, one group of 4 tokens below.
TEST(KernelSetTest, IntegerPrefillTilesMatchExactProduct) {
  uint64_t seed = 900;
  for (const KernelSet* set : tested_sets()) {
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      const int64_t cols = dtype_info(type).block_size == 256 ? 512 : 96;
      for (int64_t rows : {33, 70, 96, 130}) {
        for (int64_t n_tokens : {5, 8, 11, 13, 16, 19}) check_type(*set, type, Shape{rows, cols}, n_tokens, ++seed);
      }
    }
  }
}

// The same for matrices too large to stay in a core's L2 (over 512 KiB packed: avx512's
// kCacheResidentBytes), the only ones whose decode batches of 2-16 tokens take the DRAM-streaming
// panel passes (the smaller matrices above take the plain tiles): 1,037 rows (a ragged
// last group) x 1,024 columns, so 0.6-1.1 MB packed in every integer format.
TEST(KernelSetTest, DecodeBatchSweepOfALargeMatrixMatchesExactProduct) {
  uint64_t seed = 1900;
  for (const KernelSet* set : tested_sets()) {
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q5_0}) {
      for (int64_t n_tokens : {2, 3, 5, 8, 13, 16}) check_type(*set, type, Shape{1037, 1024}, n_tokens, ++seed);
    }
  }
}

// ---- Integer kernels at the extremes of their codes ------------------------------------
// Hand-built blocks with every weight code at its limits (Q8_0: -128 / 127; Q4_0: 15;
// Q5_0: 31) against activations that quantize to +-127 with equal, opposite and alternating
// signs. These are the inputs where 8-bit x 8-bit multiply-adds into 16 bits (AVX2
// maddubs) would saturate if the kernel combined them unsafely, e.g. |q| * sign(w, q) with
// w = -128, or too many int16 partial sums of 4/5-bit codes. Token counts cover every
// remainder of the 4-token tiles.
Matrix extreme_matrix(DType type, int64_t rows, int64_t cols) {
  Matrix m{type, rows, cols, {}, {}};
  const uint64_t row_bytes = dtype_row_bytes(type, static_cast<uint64_t>(cols));
  m.bytes.resize(row_bytes * rows);
  const int64_t nb = cols / 32;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = m.bytes.data() + r * row_bytes + b * dtype_info(type).type_size;
      const uint16_t d = f32_to_f16(b % 2 == 0 ? 1.0f : 0.25f);
      std::memcpy(blk, &d, 2);
      const int pattern = static_cast<int>((r + b) % 4);  // 0, 1: all one extreme; 2, 3: mixed
      uint8_t codes[32];  // Q8_0: 127 / -128; Q4_0: 15 / 0 (values 7 / -8); Q5_0: 31 / 0 (15 / -16)
      for (int i = 0; i < 32; ++i) {
        const bool high = pattern == 0 || (pattern == 2 && i % 2 == 0) || (pattern == 3 && i < 16);
        const uint8_t top = type == DType::Q8_0 ? 127 : type == DType::Q4_0 ? 15 : 31;
        codes[i] = high ? top : type == DType::Q8_0 ? static_cast<uint8_t>(-128) : 0;
      }
      if (type == DType::Q8_0) {
        std::memcpy(blk + 2, codes, 32);
      } else {
        // Value j sits in the low nibble of qs[j], value j + 16 in its high nibble; Q5_0's
        // fifth bit of value j is bit j of qh.
        uint8_t* qs = blk + (type == DType::Q4_0 ? 2 : 6);
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((codes[j] & 15) | ((codes[j + 16] & 15) << 4));
        for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>(codes[j] >> 4) << j;
        if (type == DType::Q5_0) std::memcpy(blk + 2, &qh, 4);
      }
    }
  }
  m.dequantized.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(type, m.bytes.data() + r * row_bytes, m.dequantized.data() + r * cols, cols);
  }
  return m;
}

TEST(KernelSetTest, IntegerKernelsAtCodeExtremes) {
  for (const KernelSet* set : tested_sets()) {
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q5_0}) {
      const Matrix m = extreme_matrix(type, 19, 128);
      for (int64_t n_tokens : {1, 2, 3, 4, 5, 6, 7}) {
        SCOPED_TRACE(testing::Message() << set->name << " " << dtype_name(type) << " tokens " << n_tokens);
        std::vector<float> x(static_cast<size_t>(n_tokens * m.cols));
        for (int64_t t = 0; t < n_tokens; ++t) {
          for (int64_t c = 0; c < m.cols; ++c) {
            // +1, -1, alternating, halves: every element of a block quantizes to +-127.
            const int kind = static_cast<int>(t % 4);
            const bool negative = kind == 1 || (kind == 2 && c % 2 == 1) || (kind == 3 && c % 32 >= 16);
            x[static_cast<size_t>(t * m.cols + c)] = negative ? -1.0f : 1.0f;
          }
        }
        check_matmul(*set, m, x, n_tokens);
      }
    }
  }
}

// Attention for one head against a float64 evaluation of the same formula. The dot products
// err by ~head_dim * eps relative to sum |q k|, which moves each softmax weight by a relative
// ~scale * head_dim * eps * sum|q k|; the output errs by that times max |v|.
TEST(KernelSetTest, AttentionMatchesExactSoftmax) {
  for (const KernelSet* set : tested_sets()) {
    for (int64_t head_dim : {32, 40, 64, 128, 80}) {
      for (int64_t n_pos : {1, 2, 17, 300}) {
        const int64_t stride = head_dim * 3 + 16;
        const auto q = random_values(static_cast<size_t>(head_dim), 5 + n_pos, 2.0f);
        const auto k = random_values(static_cast<size_t>(n_pos * stride), 6 + n_pos, 2.0f);
        const auto v = random_values(static_cast<size_t>(n_pos * stride), 7 + n_pos);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        std::vector<float> scores(static_cast<size_t>(n_pos)), out(static_cast<size_t>(head_dim), NAN);
        AttentionParams params;
        params.head_dim = head_dim;
        params.scale = scale;
        set->attend(q.data(), f32_rows(k.data(), v.data(), stride, 0), n_pos - 1, params, scores.data(), out.data());
        std::vector<double> s(static_cast<size_t>(n_pos));
        double max_s = -1e300, total = 0, max_qk = 0, max_v = 0;
        for (int64_t p = 0; p < n_pos; ++p) {
          double dot = 0, mag = 0;
          for (int64_t i = 0; i < head_dim; ++i) {
            dot += static_cast<double>(q[i]) * k[p * stride + i];
            mag += std::fabs(static_cast<double>(q[i]) * k[p * stride + i]);
            max_v = std::max(max_v, static_cast<double>(std::fabs(v[p * stride + i])));
          }
          s[p] = dot * scale;
          max_s = std::max(max_s, s[p]);
          max_qk = std::max(max_qk, mag);
        }
        for (double& x : s) total += (x = std::exp(x - max_s));
        const double tolerance = max_v * (4.0 * scale * (head_dim + n_pos) * kEps * max_qk + 8.0 * n_pos * kEps) + 1e-6;
        for (int64_t i = 0; i < head_dim; ++i) {
          double exact = 0;
          for (int64_t p = 0; p < n_pos; ++p) exact += s[p] / total * v[p * stride + i];
          ASSERT_NEAR(out[i], exact, tolerance) << set->name << " head_dim " << head_dim << " n_pos " << n_pos;
        }
      }
    }
  }
}

// Attention with the usual 1/sqrt(head_dim) scale, optionally soft-capped and windowed.
AttentionParams attention_params(int64_t head_dim, float softcap = 0.0f, int64_t window = 0) {
  AttentionParams params;
  params.head_dim = head_dim;
  params.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  params.softcap = softcap;
  params.window = window;
  return params;
}

// K/V rows of n_pos positions in one layout: contiguous, or pages of kPage positions placed in
// a shuffled order with unused pages between them (the paged KV cache's view, kv_cache.h).
struct RowLayout {
  static constexpr int64_t kPage = 16;
  std::vector<uint8_t> k, v;
  std::vector<int32_t> pages;
  KvRows rows;
};
RowLayout lay_out_rows(const std::vector<uint8_t>& k_rows, const std::vector<uint8_t>& v_rows, int64_t kb, int64_t vb,
                       int64_t n_pos, bool paged, const KvRows& types) {
  RowLayout out;
  out.rows = types;
  out.rows.k_row_bytes = kb;
  out.rows.v_row_bytes = vb;
  if (!paged) {
    out.k = k_rows;
    out.v = v_rows;
  } else {
    const int64_t n_pages = (n_pos + RowLayout::kPage - 1) / RowLayout::kPage, pool = 2 * n_pages + 1;
    for (int64_t i = 0; i < n_pages; ++i) out.pages.push_back(static_cast<int32_t>((7 * i + 3) % pool));
    out.k.assign(static_cast<size_t>(pool * RowLayout::kPage * kb), 0xff);  // unused rows: NaN f32/f16 bytes
    out.v.assign(static_cast<size_t>(pool * RowLayout::kPage * vb), 0xff);
    for (int64_t p = 0; p < n_pos; ++p) {
      const int64_t at = out.pages[static_cast<size_t>(p / RowLayout::kPage)] * RowLayout::kPage + p % RowLayout::kPage;
      std::memcpy(out.k.data() + at * kb, k_rows.data() + p * kb, static_cast<size_t>(kb));
      std::memcpy(out.v.data() + at * vb, v_rows.data() + p * vb, static_cast<size_t>(vb));
    }
    out.rows.pages = out.pages.data();
    out.rows.page_size = RowLayout::kPage;
    out.rows.k_page_bytes = RowLayout::kPage * kb;
    out.rows.v_page_bytes = RowLayout::kPage * vb;
  }
  out.rows.k = out.k.data();
  out.rows.v = out.v.data();
  return out;
}

// K and V values [n_pos, kv_dim] stored as rows of k_type / v_type, read at head `offset`.
struct TypedRows {
  std::vector<uint8_t> k, v;
  int64_t kb = 0, vb = 0;  // bytes per row
  KvRows types;
  RowLayout lay_out(int64_t n_pos, bool paged) const { return lay_out_rows(k, v, kb, vb, n_pos, paged, types); }
};
TypedRows typed_rows(const std::vector<float>& k, const std::vector<float>& v, int64_t n_pos, int64_t kv_dim,
                     DType k_type, DType v_type, int64_t offset) {
  TypedRows rows;
  rows.kb = kv_row_bytes(k_type, kv_dim);
  rows.vb = kv_row_bytes(v_type, kv_dim);
  rows.k.resize(static_cast<size_t>(n_pos * rows.kb));
  rows.v.resize(static_cast<size_t>(n_pos * rows.vb));
  for (int64_t p = 0; p < n_pos; ++p) {
    quantize_row(k_type, k.data() + p * kv_dim, rows.k.data() + p * rows.kb, kv_dim);
    quantize_row(v_type, v.data() + p * kv_dim, rows.v.data() + p * rows.vb, kv_dim);
  }
  rows.types.k_type = k_type;
  rows.types.v_type = v_type;
  rows.types.offset = offset;
  return rows;
}

// Every set's attend and attend_block over every KV type (f32 / f16 / Q8_0 for K and V
// independently), contiguous or paged rows, plain causal, a sliding window, gemma2's soft cap
// and both, against attend_ref over the same values in contiguous rows. Head 2 of 4 in a row
// (offset 2 * head_dim): head_dim 64 and 128 are read by the sets' typed loads, 40 and 8 take
// their conversion paths (8 also puts a Q8_0 head inside a block). Decode queries at
// positions 0, 5 and 99; prefill blocks of 16 and 7 queries from positions 0 and 84.
TEST(KernelSetTest, AttentionOverTypedPagedRowsMatchesReference) {
  const DType types[] = {DType::F32, DType::F16, DType::Q8_0};
  const int64_t n_pos = 100;
  struct Mode {
    const char* name;
    float softcap;
    int64_t window;
  };
  const Mode modes[] = {{"causal", 0, 0}, {"window", 0, 24}, {"softcap", 2.5f, 0}, {"window+softcap", 2.5f, 7}};
  for (int64_t head_dim : {64, 128, 40, 8}) {
    const int64_t kv_dim = 4 * head_dim, offset = 2 * head_dim;
    const auto k = random_values(static_cast<size_t>(n_pos * kv_dim), 21 + head_dim, 2.0f);
    const auto v = random_values(static_cast<size_t>(n_pos * kv_dim), 22 + head_dim);
    const auto q = random_values(static_cast<size_t>(16 * head_dim), 23 + head_dim, 2.0f);
    for (DType k_type : types) {
      for (DType v_type : types) {
        const TypedRows rows = typed_rows(k, v, n_pos, kv_dim, k_type, v_type, offset);
        const RowLayout plain = rows.lay_out(n_pos, false);
        for (bool paged : {false, true}) {
          const RowLayout layout = rows.lay_out(n_pos, paged);
          for (const Mode& mode : modes) {
            const AttentionParams params = attention_params(head_dim, mode.softcap, mode.window);
            std::vector<float> scores(static_cast<size_t>(n_pos)), expected(static_cast<size_t>(head_dim));
            auto check = [&](const float* got, int64_t pos, const KernelSet& set, const char* path) {
              attend_ref(q.data() + (pos % 16) * head_dim, plain.rows, pos, params, scores.data(), expected.data());
              for (int64_t i = 0; i < head_dim; ++i) {
                // f32 evaluations of one softmax over the same values; 2e-5 covers their
                // different summation orders (|v| <= 4, scores of a few units).
                ASSERT_NEAR(got[i], expected[i], 2e-5)
                    << set.name << " " << path << " K " << kv_cache_type_name(k_type) << " V "
                    << kv_cache_type_name(v_type) << " hd " << head_dim << (paged ? " paged " : " contiguous ")
                    << mode.name << " pos " << pos << " i " << i;
              }
            };
            for (const KernelSet* set : tested_sets()) {
              std::vector<float> out(static_cast<size_t>(16 * head_dim), NAN);
              for (int64_t pos : {0, 5, 99}) {
                set->attend(q.data() + (pos % 16) * head_dim, layout.rows, pos, params, scores.data(), out.data());
                check(out.data(), pos, *set, "attend");
              }
              if (set->attend_block == nullptr) continue;
              for (auto [first, n_q] : {std::pair<int64_t, int64_t>{0, 16}, {84, 16}, {84, 7}}) {
                // Query j sits at first + j; its q row is (first + j) % 16 of q, as above.
                std::vector<float> qs(static_cast<size_t>(n_q * head_dim));
                for (int64_t j = 0; j < n_q; ++j) {
                  std::copy_n(q.data() + ((first + j) % 16) * head_dim, head_dim, qs.data() + j * head_dim);
                }
                std::fill(out.begin(), out.end(), NAN);
                set->attend_block(qs.data(), head_dim, n_q, 1, layout.rows, first, params, out.data(), head_dim);
                for (int64_t j = 0; j < n_q; ++j) check(out.data() + j * head_dim, first + j, *set, "attend_block");
              }
            }
          }
        }
      }
    }
  }
}

// attend_span (each set that has it, and the reference's) over spans of a long context, joined
// by merge_attention_spans, against attend_ref over the whole context, for every KV type, paged
// and contiguous rows, plain and soft-capped; one span alone against attend_span_ref, log-sum-exp
// included. The cuts include spans of one position and spans across page boundaries.
TEST(KernelSetTest, AttentionSpansJoinIntoAttend) {
  const DType types[] = {DType::F32, DType::F16, DType::Q8_0};
  const int64_t n_pos = 100, head_dim = 64, kv_dim = 3 * head_dim, offset = head_dim;
  const auto k = random_values(static_cast<size_t>(n_pos * kv_dim), 31, 2.0f);
  const auto v = random_values(static_cast<size_t>(n_pos * kv_dim), 32);
  const auto q = random_values(static_cast<size_t>(head_dim), 33, 2.0f);
  using SpanFn = float (*)(const float*, const KvRows&, int64_t, int64_t, const AttentionParams&, float*, float*);
  std::vector<std::pair<const char*, SpanFn>> spans_of{{"ref", &attend_span_ref}};
  for (const KernelSet* set : tested_sets()) {
    if (set->attend_span != nullptr) spans_of.emplace_back(set->name, set->attend_span);
  }
  const std::vector<std::vector<int64_t>> cuts = {{0, 100}, {0, 50, 100}, {0, 1, 17, 33, 99, 100}, {0, 64, 100}};
  for (DType k_type : types) {
    for (DType v_type : types) {
      const TypedRows rows = typed_rows(k, v, n_pos, kv_dim, k_type, v_type, offset);
      const RowLayout plain = rows.lay_out(n_pos, false);
      for (bool paged : {false, true}) {
        const RowLayout layout = rows.lay_out(n_pos, paged);
        for (float softcap : {0.0f, 2.5f}) {
          const AttentionParams params = attention_params(head_dim, softcap);
          std::vector<float> scores(static_cast<size_t>(n_pos)), expected(static_cast<size_t>(head_dim));
          attend_ref(q.data(), plain.rows, n_pos - 1, params, scores.data(), expected.data());
          for (const auto& [name, attend_span] : spans_of) {
            for (const std::vector<int64_t>& cut : cuts) {
              const int64_t n = static_cast<int64_t>(cut.size()) - 1;
              std::vector<float> outs(static_cast<size_t>(n * head_dim), NAN), lse(static_cast<size_t>(n));
              for (int64_t i = 0; i < n; ++i) {
                lse[static_cast<size_t>(i)] = attend_span(q.data(), layout.rows, cut[static_cast<size_t>(i)],
                                                          cut[static_cast<size_t>(i) + 1], params, scores.data(),
                                                          outs.data() + i * head_dim);
              }
              std::vector<float> got(static_cast<size_t>(head_dim), NAN);
              merge_attention_spans(outs.data(), head_dim, lse.data(), n, head_dim, got.data());
              for (int64_t i = 0; i < head_dim; ++i) {
                ASSERT_NEAR(got[static_cast<size_t>(i)], expected[static_cast<size_t>(i)], 2e-5)
                    << name << " K " << kv_cache_type_name(k_type) << " V " << kv_cache_type_name(v_type)
                    << (paged ? " paged" : " contiguous") << " softcap " << softcap << " spans " << n << " i " << i;
              }
            }
            // One span, out and log-sum-exp, against the reference's arithmetic.
            std::vector<float> ref_out(static_cast<size_t>(head_dim)), out(static_cast<size_t>(head_dim));
            const float ref_lse = attend_span_ref(q.data(), plain.rows, 17, 81, params, scores.data(), ref_out.data());
            const float got_lse = attend_span(q.data(), layout.rows, 17, 81, params, scores.data(), out.data());
            EXPECT_NEAR(got_lse, ref_lse, 1e-5f * std::max(1.0f, std::fabs(ref_lse))) << name;
            for (int64_t i = 0; i < head_dim; ++i) ASSERT_NEAR(out[static_cast<size_t>(i)], ref_out[static_cast<size_t>(i)], 2e-5) << name;
          }
        }
      }
    }
  }
}

// attend_block over a GQA group's query heads in one call (n_heads 2, 3, 4 and 7: qwen2.5's 7
// splits into a 4 and a 3 inside the avx512 set) against attend_ref for every (head, query),
// and bit for bit the results of each head in a call of its own (batch invariance: grouping
// follows the model's shape, never the batch). The queries are token rows of n_heads heads
// (q_stride = n_heads * head_dim + 8, the output rows another stride), K/V f32, f16 or Q8_0,
// paged, causal and window + soft cap; head_dim 40 takes the narrow-slice and conversion paths,
// 32 (the built-in model's, one Q8_0 block a head) the whole-block ones. Blocks of 16 queries at
// 70, and partial ones: 13 at 0 (a prompt's first block), 7 at 33 (an odd tail in a later page).
TEST(KernelSetTest, BlockAttentionOfAGqaGroupMatchesReference) {
  const int64_t n_pos = 90;
  for (int64_t head_dim : {64, 40, 32}) {
    const int64_t kv_dim = 4 * head_dim, offset = head_dim;  // Q8_0 rows: whole blocks
    const auto k = random_values(static_cast<size_t>(n_pos * kv_dim), 41 + head_dim, 2.0f);
    const auto v = random_values(static_cast<size_t>(n_pos * kv_dim), 42 + head_dim);
    for (DType type : {DType::F32, DType::F16, DType::Q8_0}) {
      const int64_t rb = kv_row_bytes(type, kv_dim);
      std::vector<uint8_t> k_rows(static_cast<size_t>(n_pos * rb)), v_rows(static_cast<size_t>(n_pos * rb));
      for (int64_t p = 0; p < n_pos; ++p) {
        quantize_row(type, k.data() + p * kv_dim, k_rows.data() + p * rb, kv_dim);
        quantize_row(type, v.data() + p * kv_dim, v_rows.data() + p * rb, kv_dim);
      }
      KvRows typed;
      typed.k_type = typed.v_type = type;
      typed.offset = offset;
      const RowLayout plain = lay_out_rows(k_rows, v_rows, rb, rb, n_pos, false, typed);
      const RowLayout paged = lay_out_rows(k_rows, v_rows, rb, rb, n_pos, true, typed);
      for (auto [softcap, window] : {std::pair<float, int64_t>{0.0f, 0}, {2.5f, 24}}) {
        const AttentionParams params = attention_params(head_dim, softcap, window);
        for (auto [first, n_q] : {std::pair<int64_t, int64_t>{70, 16}, {0, 13}, {33, 7}}) {
          for (int64_t n_heads : {2, 3, 4, 7}) {
            const int64_t q_stride = n_heads * head_dim + 8, out_stride = n_heads * head_dim + 3;
            const auto q = random_values(static_cast<size_t>(n_q * q_stride), 43 + n_heads, 2.0f);
            std::vector<float> out(static_cast<size_t>(n_q * out_stride), NAN), alone(out.size(), NAN);
            std::vector<float> scores(static_cast<size_t>(n_pos)), expected(static_cast<size_t>(head_dim));
            for (const KernelSet* set : tested_sets()) {
              if (set->attend_block == nullptr) continue;
              SCOPED_TRACE(std::string(set->name) + " " + kv_cache_type_name(type) + " hd " + std::to_string(head_dim) +
                           " heads " + std::to_string(n_heads) + " queries " + std::to_string(first) + "+" +
                           std::to_string(n_q) + (window > 0 ? " window+softcap" : " causal"));
              set->attend_block(q.data(), q_stride, n_q, n_heads, paged.rows, first, params, out.data(), out_stride);
              for (int64_t h = 0; h < n_heads; ++h) {
                set->attend_block(q.data() + h * head_dim, q_stride, n_q, 1, paged.rows, first, params,
                                  alone.data() + h * head_dim, out_stride);
                for (int64_t j = 0; j < n_q; ++j) {
                  const float* got = out.data() + j * out_stride + h * head_dim;
                  ASSERT_EQ(0, std::memcmp(got, alone.data() + j * out_stride + h * head_dim, head_dim * sizeof(float)))
                      << "head " << h << " query " << j;
                  attend_ref(q.data() + j * q_stride + h * head_dim, plain.rows, first + j, params, scores.data(),
                             expected.data());
                  for (int64_t i = 0; i < head_dim; ++i) {
                    ASSERT_NEAR(got[i], expected[i], 2e-5) << "head " << h << " query " << j << " i " << i;
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

// attend_group against attend: for each query of a GQA group, bit for bit the output attend gives
// it alone (the contract that keeps a sequence's results independent of how heads are grouped;
// attend itself is checked against attend_ref above). f32 V takes the paired value pass for
// head_dim 32/64/128, f16/Q8_0 V and head_dim 40 the per-query fallback; groups of 1-4 queries
// (odd sizes end with a lone query), contiguous and paged rows, causal, window and soft cap.
TEST(KernelSetTest, AttendGroupIsAttendPerQuery) {
  const int64_t n_pos = 100;
  for (const KernelSet* set : tested_sets()) {
    if (set->attend_group == nullptr) continue;
    for (int64_t head_dim : {32, 64, 128, 40}) {
      const int64_t kv_dim = 4 * head_dim, offset = head_dim;
      const auto k = random_values(static_cast<size_t>(n_pos * kv_dim), 31 + head_dim, 2.0f);
      const auto v = random_values(static_cast<size_t>(n_pos * kv_dim), 32 + head_dim);
      const auto q = random_values(static_cast<size_t>(4 * head_dim), 33 + head_dim, 2.0f);
      for (DType type : {DType::F32, DType::F16, DType::Q8_0}) {
        const TypedRows rows = typed_rows(k, v, n_pos, kv_dim, DType::F32, type, offset);
        for (bool paged : {false, true}) {
          const RowLayout layout = rows.lay_out(n_pos, paged);
          for (auto [softcap, window] : {std::pair<float, int64_t>{0, 0}, {0, 24}, {2.5f, 7}}) {
            const AttentionParams params = attention_params(head_dim, softcap, window);
            for (int64_t pos : {0, 17, 99}) {
              for (int64_t n_q = 1; n_q <= 4; ++n_q) {
                std::vector<float> scores(static_cast<size_t>(4 * n_pos)), got(static_cast<size_t>(4 * head_dim), NAN);
                set->attend_group(q.data(), head_dim, n_q, layout.rows, pos, params, scores.data(), got.data(), head_dim);
                for (int64_t j = 0; j < n_q; ++j) {
                  std::vector<float> want(static_cast<size_t>(head_dim));
                  set->attend(q.data() + j * head_dim, layout.rows, pos, params, scores.data(), want.data());
                  ASSERT_EQ(std::memcmp(got.data() + j * head_dim, want.data(), want.size() * sizeof(float)), 0)
                      << set->name << " head_dim " << head_dim << " V " << dtype_name(type) << " paged " << paged
                      << " pos " << pos << " query " << j << " of " << n_q;
                }
              }
            }
          }
        }
      }
    }
  }
}

// attend_span_group against attend_span: each query of a GQA group gets, bit for bit, the output
// and log-sum-exp attend_span gives it alone (attend_span itself is checked against the
// reference above). K and V of each type, heads of whole Q8_0 blocks (32, 64) and not (40),
// contiguous and paged rows, spans within a page, across pages and of one position, 1-4 queries
// at strides other than head_dim, plain and soft-capped.
TEST(KernelSetTest, AttendSpanGroupIsAttendSpanPerQuery) {
  const int64_t n_pos = 100;
  for (const KernelSet* set : tested_sets()) {
    if (set->attend_span_group == nullptr) continue;
    for (int64_t head_dim : {32, 64, 40}) {
      const int64_t kv_dim = 4 * head_dim, offset = head_dim, q_stride = head_dim + 8, out_stride = head_dim + 3;
      const auto k = random_values(static_cast<size_t>(n_pos * kv_dim), 51 + head_dim, 2.0f);
      const auto v = random_values(static_cast<size_t>(n_pos * kv_dim), 52 + head_dim);
      const auto q = random_values(static_cast<size_t>(4 * q_stride), 53 + head_dim, 2.0f);
      for (DType type : {DType::F32, DType::F16, DType::Q8_0}) {
        const TypedRows rows = typed_rows(k, v, n_pos, kv_dim, type, type, offset);
        for (bool paged : {false, true}) {
          const RowLayout layout = rows.lay_out(n_pos, paged);
          for (float softcap : {0.0f, 2.5f}) {
            const AttentionParams params = attention_params(head_dim, softcap);
            for (auto [first, end] : {std::pair<int64_t, int64_t>{0, 100}, {17, 81}, {3, 12}, {63, 64}}) {
              for (int64_t n_q = 1; n_q <= 4; ++n_q) {
                SCOPED_TRACE(testing::Message() << set->name << " head_dim " << head_dim << " " << dtype_name(type)
                                                << (paged ? " paged" : " contiguous") << " softcap " << softcap
                                                << " span " << first << ".." << end << " queries " << n_q);
                std::vector<float> scores(static_cast<size_t>(4 * n_pos)), got(static_cast<size_t>(4 * out_stride), NAN);
                // Log-sum-exps three apart, as the forward pass's span slots are.
                std::vector<float> lse(12, NAN), want(static_cast<size_t>(head_dim));
                set->attend_span_group(q.data(), q_stride, n_q, layout.rows, first, end, params, scores.data(),
                                       got.data(), out_stride, lse.data(), 3);
                for (int64_t j = 0; j < n_q; ++j) {
                  const float want_lse =
                      set->attend_span(q.data() + j * q_stride, layout.rows, first, end, params, scores.data(), want.data());
                  ASSERT_EQ(std::memcmp(got.data() + j * out_stride, want.data(), want.size() * sizeof(float)), 0)
                      << "query " << j;
                  ASSERT_EQ(std::memcmp(&lse[static_cast<size_t>(3 * j)], &want_lse, sizeof want_lse), 0) << "query " << j;
                }
              }
            }
          }
        }
      }
    }
  }
}

// SwiGLU against a float64 evaluation of g / (1 + e^-g) * u: every set's own (or swiglu_ref when a
// set has none, which is what the forward pass then calls), in place as the forward pass runs it
// (out == gate), over lengths with and without a partial vector, values from tiny to beyond
// e^-g's overflow (|g| > 88), where silu is g or -0.
TEST(KernelSetTest, SwiGluMatchesExactFormula) {
  for (const KernelSet* set : tested_sets()) {
    const auto swiglu = set->swiglu != nullptr ? set->swiglu : &swiglu_ref;
    for (int64_t n : {1, 15, 16, 33, 768}) {
      std::vector<float> gate = random_values(static_cast<size_t>(n), 40 + n, 12.0f);
      const std::vector<float> up = random_values(static_cast<size_t>(n), 41 + n, 3.0f);
      const float extremes[] = {-100.0f, 100.0f, -88.5f, 88.5f, 0.0f, 1e-30f, -1e-30f, -20.0f};
      for (size_t i = 0; i < std::size(extremes) && i < gate.size(); ++i) gate[i * 3 % gate.size()] = extremes[i];
      const std::vector<float> g0 = gate;
      swiglu(gate.data(), up.data(), n, gate.data());
      for (int64_t i = 0; i < n; ++i) {
        const double g = g0[static_cast<size_t>(i)], u = up[static_cast<size_t>(i)];
        const double exact = g / (1.0 + std::exp(-g)) * u;
        // Four roundings (exp, add, divide, multiply) of at most ~2 ulp each, relative to the result.
        ASSERT_NEAR(gate[static_cast<size_t>(i)], exact, 16 * kEps * std::fabs(exact) + 1e-37)
            << set->name << " n " << n << " g " << g << " u " << u;
      }
    }
  }
}

// The bandwidth probe's read: every set's sum mod 2^64 equals the plain loop's, bit for bit
// (integer adds in any order), over lengths and start offsets with and without partial vectors
// and lines, with words large enough that the sums wrap.
TEST(KernelSetTest, SumWordsMatchesThePlainSum) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> words(1024 + 16);
  for (uint64_t& w : words) w = rng();
  for (const KernelSet* set : tested_sets()) {
    const auto sum_words = set->sum_words != nullptr ? set->sum_words : &sum_words_ref;
    for (int64_t offset : {0, 1, 3, 7, 8}) {
      for (int64_t n : {0, 1, 5, 31, 32, 33, 100, 1000}) {
        const uint64_t* p = words.data() + offset;
        uint64_t expected = 0;
        for (int64_t i = 0; i < n; ++i) expected += p[i];
        ASSERT_EQ(sum_words(p, n), expected) << set->name << " offset " << offset << " n " << n;
      }
    }
  }
}

// Whole models: the fast path's logits against the reference path's. Integer kernels see
// activations rounded to 8 bits per 32-value block (relative error up to 1/254 per value),
// which through a few layers moves logits by well under 2% of their range.
class FastPathTest : public ::testing::TestWithParam<DType> {};

TEST_P(FastPathTest, LogitsMatchReferencePath) {
  const std::pair<const char*, SynthSpec> specs[] = {
      {"llama", [] { SynthSpec s; s.arch = "llama"; s.n_embd = 64; s.n_ff = 96; s.llama3_rope = true; return s; }()},
      {"qwen2", [] { SynthSpec s; s.arch = "qwen2"; s.n_embd = 64; s.n_ff = 96; s.qkv_bias = true; s.tied_output = true; return s; }()},
      {"qwen3", [] { SynthSpec s; s.arch = "qwen3"; s.n_embd = 64; s.n_ff = 96; s.head_dim = 32; s.qk_norm = true; return s; }()},
  };
  for (auto [name, spec] : specs) {
    spec.matrix_type = GetParam();
    if (spec.n_embd % dtype_info(spec.matrix_type).block_size != 0) {
      spec.n_embd = spec.n_ff = 256;  // K-quant rows are whole 256-value super-blocks
      if (spec.head_dim != 0) spec.head_dim = 64;
    }
    SCOPED_TRACE(name);
    const std::vector<uint8_t> bytes = synth_model(spec).to_bytes();
    auto reference = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes)), &reference_kernels());
    const std::vector<int32_t> tokens = {1, 40, 41, 290, 7, 100, 100, 3};
    ForwardPass ref_pass(*reference, 32);
    const auto ref_span = ref_pass.eval(tokens, true);
    const std::vector<float> expected(ref_span.begin(), ref_span.end());
    double max_abs = 0;
    for (float v : expected) max_abs = std::max(max_abs, static_cast<double>(std::fabs(v)));
    for (const KernelSet* set : fast_sets()) {
      auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes)), set);
      ThreadPool pool(2);
      ForwardPass prefill(*model, 32, &pool);
      const auto got = prefill.eval(tokens, true);
      ForwardPass decode(*model, 32, &pool);
      for (size_t t = 0; t < tokens.size(); ++t) {
        const auto row = decode.eval(std::span(tokens).subspan(t, 1));
        for (size_t v = 0; v < row.size(); ++v) {
          const float want = expected[t * row.size() + v];
          ASSERT_NEAR(got[t * row.size() + v], want, 0.02 * max_abs) << set->name << " prefill t " << t << " v " << v;
          ASSERT_NEAR(row[v], want, 0.02 * max_abs) << set->name << " decode t " << t << " v " << v;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, FastPathTest,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q5_0,
                                           DType::Q4_K, DType::Q5_K, DType::Q6_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace rpu
