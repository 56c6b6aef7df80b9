// The integer matmul over the row-pair layout of neon.h, written once for three instruction
// sets. Included only by int8_neon.cpp, int8_dotprod.cpp and int8_i8mm.cpp, after their
// includes and their `#pragma GCC target`, with RPU_NEON_ISA set to 0 (ASIMD: SMULL + pairwise
// adds), 1 (SDOT) or 2 (SDOT + SMMLA); everything here has internal linkage, so each file's copy
// is compiled for its own instruction set and none can stand in for another at link time.
//
// Arithmetic. Weights are unpacked to signed bytes (Q4_0: q - 8, Q6_K: q - 32, Q4_K: q in
// 0..15, Q8_0 as stored) and multiplied by the int8 activations into int32 per 32-column block:
//   ASIMD: SMULL/SMULL2 give 8 int16 products per row half; ADDP adds neighbours (at most
//          2 * 128 * 127 = 32512, no overflow); SADALP widens into the int32 lanes r0 r0 r1 r1.
//   SDOT:  one instruction per 16-byte chunk, the same lanes.
//   SMMLA: one instruction per chunk and token pair: lanes r0t0 r0t1 r1t0 r1t1.
// The block's int32 sums are then scaled in f32 by d_w (x the sub-block scale) x d_x; Q4_K's
// mins are subtracted as dmin * m * d_x * sum(q_x), Q6_K's two 16-value sub-blocks are combined
// in int32 (scale * dot, at most 127 * 16 * 32 * 127 each) before the one conversion.
#ifndef RPU_NEON_ISA
#error "define RPU_NEON_ISA before including int8_impl.h"
#endif

namespace rpu::neon {
namespace {

constexpr int kIsa = RPU_NEON_ISA;

// acc += products of the 16 weight bytes w (8 of row 0, 8 of row 1) and the activations x.
template <bool kMm>
inline int32x4_t mac(int32x4_t acc, int8x16_t w, int8x16_t x) {
#if RPU_NEON_ISA >= 2
  if constexpr (kMm) return vmmlaq_s32(acc, w, x);
#endif
#if RPU_NEON_ISA >= 1
  return vdotq_s32(acc, w, x);
#else
  const int16x8_t pairs = vpaddq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(x)), vmull_high_s8(w, x));
  return vpadalq_s16(acc, pairs);
#endif
}

// {a, a, b, b}
inline float32x4_t row_pair(float a, float b) { return vcombine_f32(vdup_n_f32(a), vdup_n_f32(b)); }
inline int32x4_t row_pair_s32(int32_t a, int32_t b) { return vcombine_s32(vdup_n_s32(a), vdup_n_s32(b)); }

// Two f16 scales (little-endian at p) as {d0, d0, d1, d1}.
inline float32x4_t f16_pair(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  const uint64_t lo = bits & 0xffffu, hi = bits >> 16;
  return vcvt_f32_f16(vreinterpret_f16_u16(vcreate_u16(lo | (lo << 16) | (hi << 32) | (hi << 48))));
}

// Four f16 values at p as floats.
inline float32x4_t f16x4(const uint8_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p)))); }

// The activations of one token group (one token, or two for SMMLA) for NG groups.
template <bool kMm, int NG>
struct Tokens {
  static constexpr int kPer = kMm ? 2 : 1;
  const int8_t* q[NG * kPer];
  const float* d[NG * kPer];
  const int32_t* sum[NG * kPer];

  Tokens(const QuantizedInput& xq, int64_t t0) {
    const int64_t nb = xq.cols / 32;
    for (int i = 0; i < NG * kPer; ++i) {
      q[i] = xq.q.data() + (t0 + i) * xq.cols;
      d[i] = xq.d.data() + (t0 + i) * nb;
      sum[i] = xq.sum.data() + (t0 + i) * nb;
    }
  }
  // Columns 32b + 8k .. +7: duplicated (one token) or token 0 | token 1 (SMMLA).
  int8x16_t chunk(int g, int64_t b, int k) const {
    if constexpr (kMm) {
      return vcombine_s8(vld1_s8(q[2 * g] + 32 * b + 8 * k), vld1_s8(q[2 * g + 1] + 32 * b + 8 * k));
    } else {
      int64_t bits;
      std::memcpy(&bits, q[g] + 32 * b + 8 * k, 8);
      return vreinterpretq_s8_s64(vdupq_n_s64(bits));
    }
  }
  // d_x of block b in the group's lane order.
  float32x4_t scale(int g, int64_t b) const {
    if constexpr (kMm) {
      const float32x2_t two = {d[2 * g][b], d[2 * g + 1][b]};
      return vcombine_f32(two, two);
    } else {
      return vdupq_n_f32(d[g][b]);
    }
  }
  // d_x * sum(q_x) of block b in the group's lane order.
  float32x4_t scaled_sum(int g, int64_t b) const {
    if constexpr (kMm) {
      const float32x2_t two = {d[2 * g][b] * static_cast<float>(sum[2 * g][b]),
                               d[2 * g + 1][b] * static_cast<float>(sum[2 * g + 1][b])};
      return vcombine_f32(two, two);
    } else {
      return vdupq_n_f32(d[g][b] * static_cast<float>(sum[g][b]));
    }
  }
};

// The int32 dot of the 4 weight chunks of a block with group g's activations.
template <bool kMm, int NG>
inline int32x4_t block_dot(const int8x16_t w[4], const Tokens<kMm, NG>& x, int g, int64_t b) {
  int32x4_t id = vdupq_n_s32(0);
  for (int k = 0; k < 4; ++k) id = mac<kMm>(id, w[k], x.chunk(g, b, k));
  return id;
}

inline int8x16_t low_nibbles(uint8x16_t v) { return vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))); }
inline int8x16_t high_nibbles(uint8x16_t v) { return vreinterpretq_s8_u8(vshrq_n_u8(v, 4)); }

// Y for one row pair and NG token groups (y rows row0 and, if `second`, row0 + 1).
template <DType kType, bool kMm, int NG>
void pair_kernel(const uint8_t* pair, int64_t n_blocks, const QuantizedInput& xq, int64_t t0, float* y, int64_t rows,
                 int64_t row0, bool second) {
  constexpr int64_t kBytes = kType == DType::Q8_0 ? 68 : kType == DType::Q4_0 ? 36 : kType == DType::Q4_K ? 296 : 420;
  // In one-token lanes (r0 r0 r1 r1) both lanes of a row are summed at the end: a per-row
  // term added to both is halved.
  constexpr float kPerLane = kMm ? 1.0f : 0.5f;
  const Tokens<kMm, NG> x(xq, t0);
  float32x4_t acc[NG];
  for (int g = 0; g < NG; ++g) acc[g] = vdupq_n_f32(0.0f);
  for (int64_t sb = 0; sb < n_blocks; ++sb) {
    const uint8_t* blk = pair + sb * kBytes;
    // 1 KiB ahead along the packed weights (read front to back); never faults, and the address
    // is formed as an integer so no out-of-range pointer exists.
    __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(blk) + 1024));
    if constexpr (kType == DType::Q8_0 || kType == DType::Q4_0) {
      int8x16_t w[4];
      if constexpr (kType == DType::Q8_0) {
        for (int k = 0; k < 4; ++k) w[k] = vld1q_s8(reinterpret_cast<const int8_t*>(blk) + 16 * k);
      } else {
        const uint8x16_t c0 = vld1q_u8(blk), c1 = vld1q_u8(blk + 16);
        const int8x16_t eight = vdupq_n_s8(8);
        w[0] = vsubq_s8(low_nibbles(c0), eight);
        w[1] = vsubq_s8(low_nibbles(c1), eight);
        w[2] = vsubq_s8(high_nibbles(c0), eight);
        w[3] = vsubq_s8(high_nibbles(c1), eight);
      }
      const float32x4_t dw = f16_pair(blk + (kType == DType::Q8_0 ? 64 : 32));
      for (int g = 0; g < NG; ++g) {
        acc[g] = vfmaq_f32(acc[g], vcvtq_f32_s32(block_dot<kMm, NG>(w, x, g, sb)), vmulq_f32(dw, x.scale(g, sb)));
      }
    } else if constexpr (kType == DType::Q4_K) {
      const float32x4_t dd = f16x4(blk + 256);  // d0 d1 dmin0 dmin1
      const float d0 = vgetq_lane_f32(dd, 0), d1 = vgetq_lane_f32(dd, 1);
      const float m0 = vgetq_lane_f32(dd, 2) * kPerLane, m1 = vgetq_lane_f32(dd, 3) * kPerLane;
      const uint8_t* sc = blk + 264;
      const uint8_t* mn = blk + 280;
      for (int p = 0; p < 4; ++p) {
        uint8x16_t c[4];
        for (int k = 0; k < 4; ++k) c[k] = vld1q_u8(blk + 16 * (4 * p + k));
        for (int h = 0; h < 2; ++h) {
          const int j = 2 * p + h;
          const int64_t b = sb * 8 + j;
          int8x16_t w[4];
          for (int k = 0; k < 4; ++k) w[k] = h == 0 ? low_nibbles(c[k]) : high_nibbles(c[k]);
          const float32x4_t ws = row_pair(d0 * static_cast<float>(sc[2 * j]), d1 * static_cast<float>(sc[2 * j + 1]));
          const float32x4_t wm = row_pair(m0 * static_cast<float>(mn[2 * j]), m1 * static_cast<float>(mn[2 * j + 1]));
          for (int g = 0; g < NG; ++g) {
            acc[g] = vfmaq_f32(acc[g], vcvtq_f32_s32(block_dot<kMm, NG>(w, x, g, b)), vmulq_f32(ws, x.scale(g, b)));
            acc[g] = vfmsq_f32(acc[g], wm, x.scaled_sum(g, b));
          }
        }
      }
    } else {  // Q6_K
      const float32x4_t dw = f16_pair(blk + 416);
      const auto* sc = reinterpret_cast<const int8_t*>(blk + 384);
      const uint8x16_t low2 = vdupq_n_u8(3);
      const int8x16_t offset = vdupq_n_s8(32);
      for (int h = 0; h < 2; ++h) {
        uint8x16_t qa[4], qb[4], qh[4];
        for (int k = 0; k < 4; ++k) {
          qa[k] = vld1q_u8(blk + 16 * (8 * h + k));
          qb[k] = vld1q_u8(blk + 16 * (8 * h + 4 + k));
          qh[k] = vld1q_u8(blk + 256 + 16 * (4 * h + k));
        }
        for (int s = 0; s < 4; ++s) {
          int8x16_t w[4];
          for (int k = 0; k < 4; ++k) {
            uint8x16_t nib, top;
            switch (s) {
              case 0: nib = vandq_u8(qa[k], vdupq_n_u8(0x0f)); top = vandq_u8(qh[k], low2); break;
              case 1: nib = vandq_u8(qb[k], vdupq_n_u8(0x0f)); top = vandq_u8(vshrq_n_u8(qh[k], 2), low2); break;
              case 2: nib = vshrq_n_u8(qa[k], 4); top = vandq_u8(vshrq_n_u8(qh[k], 4), low2); break;
              default: nib = vshrq_n_u8(qb[k], 4); top = vshrq_n_u8(qh[k], 6); break;
            }
            w[k] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(nib, vshlq_n_u8(top, 4))), offset);
          }
          const int local = 4 * h + s;  // block within the super-block: sub-blocks 2*local, 2*local + 1
          const int64_t b = sb * 8 + local;
          const int8_t* s4 = sc + 4 * local;
          const int32x4_t sa = row_pair_s32(s4[0], s4[1]), sbv = row_pair_s32(s4[2], s4[3]);
          for (int g = 0; g < NG; ++g) {
            int32x4_t da = vdupq_n_s32(0), db = vdupq_n_s32(0);
            da = mac<kMm>(da, w[0], x.chunk(g, b, 0));
            da = mac<kMm>(da, w[1], x.chunk(g, b, 1));
            db = mac<kMm>(db, w[2], x.chunk(g, b, 2));
            db = mac<kMm>(db, w[3], x.chunk(g, b, 3));
            const int32x4_t id = vmlaq_s32(vmulq_s32(da, sa), db, sbv);
            acc[g] = vfmaq_f32(acc[g], vcvtq_f32_s32(id), vmulq_f32(dw, x.scale(g, b)));
          }
        }
      }
    }
  }
  for (int g = 0; g < NG; ++g) {
    if constexpr (kMm) {
      float lanes[4];
      vst1q_f32(lanes, acc[g]);
      y[(t0 + 2 * g) * rows + row0] = lanes[0];
      y[(t0 + 2 * g + 1) * rows + row0] = lanes[1];
      if (second) {
        y[(t0 + 2 * g) * rows + row0 + 1] = lanes[2];
        y[(t0 + 2 * g + 1) * rows + row0 + 1] = lanes[3];
      }
    } else {
      const float32x4_t sums = vpaddq_f32(acc[g], acc[g]);  // r0, r1, r0, r1
      y[(t0 + g) * rows + row0] = vgetq_lane_f32(sums, 0);
      if (second) y[(t0 + g) * rows + row0 + 1] = vgetq_lane_f32(sums, 1);
    }
  }
}

template <DType kType>
void matmul_type(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end) {
  const int64_t n_blocks = w.view.cols / dtype_info(kType).block_size;
  const int64_t pair_bytes = n_blocks * pair_block_bytes(kType);
  const int64_t rows = w.view.rows;
  for (int64_t row0 = row_begin; row0 < row_end; row0 += kRowsPerPair) {
    const uint8_t* pair = w.packed.get() + (row0 / kRowsPerPair) * pair_bytes;
    const bool second = row0 + 1 < row_end;
    int64_t t = 0;
#if RPU_NEON_ISA >= 2
    // SMMLA on token pairs (prefill); a last odd token (and decode) takes SDOT.
    for (; t + 4 <= n_tokens; t += 4) pair_kernel<kType, true, 2>(pair, n_blocks, xq, t, y, rows, row0, second);
    if (n_tokens - t >= 2) {
      pair_kernel<kType, true, 1>(pair, n_blocks, xq, t, y, rows, row0, second);
      t += 2;
    }
    if (t < n_tokens) pair_kernel<kType, false, 1>(pair, n_blocks, xq, t, y, rows, row0, second);
#else
    // Four tokens per pass share every weight load and unpack; a remainder of 1..3 in one pass.
    for (; t + 4 <= n_tokens; t += 4) pair_kernel<kType, false, 4>(pair, n_blocks, xq, t, y, rows, row0, second);
    switch (n_tokens - t) {
      case 3: pair_kernel<kType, false, 3>(pair, n_blocks, xq, t, y, rows, row0, second); break;
      case 2: pair_kernel<kType, false, 2>(pair, n_blocks, xq, t, y, rows, row0, second); break;
      case 1: pair_kernel<kType, false, 1>(pair, n_blocks, xq, t, y, rows, row0, second); break;
      default: break;
    }
#endif
  }
}

void matmul_int8_impl(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                      int64_t row_end) {
  if (row_begin % kRowsPerPair != 0) fail("row range must start at a multiple of {}", kRowsPerPair);
  switch (w.view.type) {
    case DType::Q8_0: return matmul_type<DType::Q8_0>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q4_0: return matmul_type<DType::Q4_0>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q4_K: return matmul_type<DType::Q4_K>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q6_K: return matmul_type<DType::Q6_K>(w, xq, n_tokens, y, row_begin, row_end);
    default: fail("no NEON integer kernel for {}", dtype_name(w.view.type));
  }
}

}  // namespace
}  // namespace rpu::neon
