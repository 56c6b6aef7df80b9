// The trainer's bf16 panel kernels (kernels/bf16_panels.h): the reference against bf16 rounding
// computed independently (in double), and the hardware set against the reference on random
// panels, ragged tiles included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/rng.h"
#include "kernels/bf16_panels.h"

namespace rpu {
namespace {

float from_bits(uint32_t bits) {
  float x = 0.0f;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

float bf16_value(uint32_t half) { return from_bits((half & 0xFFFFu) << 16); }

// x rounded to bf16 (nearest, ties to even) by search in double: the nearest of the two bf16
// neighbours that bracket x (truncation and the next value up in magnitude).
double rounded_in_double(float x) {
  uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  const double down = from_bits(bits & 0xFFFF0000u);
  const double up = from_bits((bits & 0xFFFF0000u) + 0x10000u);
  const double to_down = std::fabs(static_cast<double>(x) - down), to_up = std::fabs(up - static_cast<double>(x));
  if (to_down != to_up) return to_down < to_up ? down : up;
  return ((bits >> 16) & 1u) == 0 ? down : up;  // a tie: the even one
}

std::vector<float> random_floats(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>((2.0 * rng.uniform() - 1.0) * std::exp2(8.0 * rng.uniform() - 4.0));
  return v;
}

std::vector<uint32_t> random_pairs(size_t n, uint64_t seed) {
  const std::vector<float> values = random_floats(2 * n, seed);
  std::vector<uint32_t> out(n);
  bf16_panels_reference().to_pairs(values.data(), 1, static_cast<int>(n), out.data());
  return out;
}

TEST(Bf16Panels, ReferenceRoundsToNearestEven) {
  std::vector<float> staged = random_floats(2 * 64, 1);
  // Exact ties between two bf16 values: 1 + 2^-8 lies between 1 and 1 + 2^-7 (goes down to the
  // even 1); 1 + 3 * 2^-8 between 1 + 2^-7 and 1 + 2^-6 (goes up to the even 1 + 2^-6).
  staged[0] = 1.0f + 0x1.0p-8f;
  staged[1] = 1.0f + 3 * 0x1.0p-8f;
  staged[2] = -(1.0f + 3 * 0x1.0p-8f);
  staged[3] = std::numeric_limits<float>::infinity();
  staged[4] = std::numeric_limits<float>::max();  // rounds up to infinity
  std::vector<uint32_t> out(64);
  bf16_panels_reference().to_pairs(staged.data(), 1, 64, out.data());
  EXPECT_EQ(bf16_value(out[0]), 1.0f);
  EXPECT_EQ(bf16_value(out[1]), 1.0f + 0x1.0p-6f);
  EXPECT_EQ(bf16_value(out[2]), -(1.0f + 0x1.0p-6f));
  EXPECT_EQ(bf16_value(out[3]), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bf16_value(out[4]), std::numeric_limits<float>::infinity());
  for (int j = 0; j < 64; ++j) {
    if (j > 4) {  // (the oracle has no infinity handling; those above are checked directly)
      EXPECT_EQ(bf16_value(out[j]), static_cast<float>(rounded_in_double(staged[j]))) << "even row, column " << j;
    }
    EXPECT_EQ(bf16_value(out[j] >> 16), static_cast<float>(rounded_in_double(staged[64 + j]))) << "odd row, column " << j;
  }
  staged[5] = std::numeric_limits<float>::quiet_NaN();
  bf16_panels_reference().to_pairs(staged.data(), 1, 64, out.data());
  EXPECT_TRUE(std::isnan(bf16_value(out[5])));
}

TEST(Bf16Panels, ReferenceTileIsTheProductOfTheRoundedValues) {
  const int64_t pairs = 37;
  const std::vector<uint32_t> a = random_pairs(pairs * kBf16PanelRows, 2), b = random_pairs(pairs * kBf16PanelCols, 3);
  std::vector<float> c(kBf16PanelRows * 40, 0.5f);
  bf16_panels_reference().multiply_tile(pairs, a.data(), b.data(), c.data(), 40, kBf16PanelRows, kBf16PanelCols);
  for (int r = 0; r < kBf16PanelRows; ++r) {
    for (int j = 0; j < 40; ++j) {
      if (j >= kBf16PanelCols) {
        EXPECT_EQ(c[r * 40 + j], 0.5f) << "a column past the tile was written";
        continue;
      }
      double exact = 0.0, magnitude = 0.0;
      for (int64_t p = 0; p < pairs; ++p) {
        const uint32_t av = a[p * kBf16PanelRows + r], bv = b[p * kBf16PanelCols + j];
        for (const int shift : {0, 16}) {
          const double product = static_cast<double>(bf16_value(av >> shift)) * bf16_value(bv >> shift);
          exact += product;
          magnitude += std::fabs(product);
        }
      }
      // 2 * pairs f32 additions, then one more into C.
      EXPECT_NEAR(c[r * 40 + j], 0.5 + exact, (2 * pairs + 1) * 0x1.0p-24 * (magnitude + 0.5) + 1e-30);
    }
  }
}

TEST(Bf16Panels, NativeSetMatchesTheReference) {
  const Bf16PanelKernels* native = bf16_panels_native();
  if (native == nullptr) GTEST_SKIP() << "this CPU has no bf16 panel kernels (AVX512-BF16)";
  const Bf16PanelKernels& ref = bf16_panels_reference();
  // Rounding: bit for bit on normal values, at both widths the kernel handles (16 and 8 lanes).
  for (const int width : {kBf16PanelRows, kBf16PanelCols, 24}) {
    const int64_t pairs = 19;
    const std::vector<float> staged = random_floats(static_cast<size_t>(2 * pairs * width), 10 + width);
    std::vector<uint32_t> want(pairs * width), got(pairs * width, 0xDEADBEEFu);
    ref.to_pairs(staged.data(), pairs, width, want.data());
    native->to_pairs(staged.data(), pairs, width, got.data());
    EXPECT_EQ(got, want) << native->name << " to_pairs, width " << width;
  }
  // Tiles: every ragged shape; the sum order is the same, so only the hardware's handling of
  // subnormal intermediates could differ, which these magnitudes never reach.
  Rng rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t pairs = 1 + static_cast<int64_t>(rng.uniform() * 150);
    const int rows = 1 + static_cast<int>(rng.uniform() * kBf16PanelRows);
    const int cols = 1 + static_cast<int>(rng.uniform() * kBf16PanelCols);
    const std::vector<uint32_t> a = random_pairs(pairs * kBf16PanelRows, 100 + trial);
    const std::vector<uint32_t> b = random_pairs(pairs * kBf16PanelCols, 200 + trial);
    const int64_t ldc = kBf16PanelCols + 3;
    std::vector<float> want = random_floats(kBf16PanelRows * ldc, 300 + trial), got = want;
    ref.multiply_tile(pairs, a.data(), b.data(), want.data(), ldc, rows, cols);
    native->multiply_tile(pairs, a.data(), b.data(), got.data(), ldc, rows, cols);
    for (int r = 0; r < kBf16PanelRows; ++r) {
      for (int64_t j = 0; j < ldc; ++j) {
        const float w = want[r * ldc + j], g = got[r * ldc + j];
        EXPECT_NEAR(g, w, 1e-5f * (1.0f + std::fabs(w))) << native->name << " tile " << pairs << " pairs, " << rows
                                                          << " x " << cols << ", at " << r << "," << j;
      }
    }
  }
}

}  // namespace
}  // namespace rpu
