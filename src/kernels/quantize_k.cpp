// Scalar reference quantizers for the K super-block formats (Q2_K ... Q8_K).
//
// A K super-block holds 256 values in sub-blocks of 16 or 32, each with its own small
// integer scale (and min, for the affine formats) that multiplies one f16 super-scale.
// Quantizing therefore happens in three stages:
//   1. fit each sub-block on its own in float: search the integer grid's scale (and offset)
//      for the lowest weighted squared error, then polish it by alternating "round every
//      value to the nearest level" and "solve the least-squares scale for those levels";
//   2. size the f16 super-scale by the largest sub-block scale, and give each sub-block
//      whichever neighbouring integer scale (and min) decodes to the lower error;
//   3. re-round every value against the scales as they will actually be decoded, then
//      refine the super-scales by least squares over the whole super-block while that
//      lowers the error.
// The error weights favour large-magnitude values, following the heuristics that ggml's
// reference quantizers use for model weights when no importance matrix is available.
// Whatever the fit does, step 3 ends with every value on the nearest level of its decoded
// sub-block grid, which is what the tests check against.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "kernels/blocks.h"

namespace rpu {
namespace {

// Groups whose largest magnitude is below this are treated as all zero.
constexpr float kTiny = 1e-30f;

int round_clamp(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (!(v < static_cast<float>(hi))) return hi;
  // Adding 1.5 * 2^23 leaves round-to-nearest-even(v) in the low mantissa bits (valid for
  // |v| < 2^22, which the clamp guarantees). Unlike std::nearbyint, this never becomes a
  // libm call on baseline x86-64, and the quantizers call it for every candidate level.
  const float shifted = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// ---- Sub-block fits ----------------------------------------------------------------------

// Least-squares fit of x ~ s * L + b over given levels, with the offset constrained to b <= 0
// (the K formats subtract a non-negative min). Returns false when the levels are degenerate.
bool solve_affine(const float* x, const float* w, const int* L, int n, float& s, float& b) {
  // Sums in float (16 or 32 terms), the 2x2 solve in double where cancellation can bite.
  float sw = 0, sx = 0, sl = 0, sl2 = 0, sxl = 0;
  for (int i = 0; i < n; ++i) {
    const float l = static_cast<float>(L[i]);
    sw += w[i];
    sx += w[i] * x[i];
    sl += w[i] * l;
    sl2 += w[i] * l * l;
    sxl += w[i] * x[i] * l;
  }
  const double det = static_cast<double>(sw) * sl2 - static_cast<double>(sl) * sl;
  if (!(det > 0)) return false;
  double scale = (static_cast<double>(sw) * sxl - static_cast<double>(sx) * sl) / det;
  double offset = (static_cast<double>(sl2) * sx - static_cast<double>(sl) * sxl) / det;
  if (offset > 0) {  // best fit wants a positive offset: pin it to zero instead
    offset = 0;
    scale = static_cast<double>(sxl) / sl2;
  }
  if (!(scale > 0)) return false;
  s = static_cast<float>(scale);
  b = static_cast<float>(offset);
  return true;
}

float affine_error(const float* x, const float* w, const int* L, int n, float s, float b) {
  float err = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = s * static_cast<float>(L[i]) + b - x[i];
    err += w[i] * diff * diff;
  }
  return err;
}

struct AffineFit {
  float scale = 0;     // >= 0
  float neg_min = 0;   // >= 0; the offset is -neg_min
};

// Fits x ~ scale * L - neg_min with L in 0..nmax. Candidate grids stretch the block's range
// [min(x, 0), max(x)] over nmax + rmin + k * rdelta levels (k = 0..nstep), so grids a little
// coarser or finer than the exact span are tried; each candidate's levels get the
// least-squares scale and offset, and the best one is polished by alternating rounding and
// refitting.
AffineFit fit_affine(const float* x, const float* w, int n, int nmax, float rmin, float rdelta, int nstep, int* L) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  lo = std::min(lo, 0.0f);
  if (!(hi > lo)) {  // all equal and <= 0 (or NaN): only the offset is needed
    for (int i = 0; i < n; ++i) L[i] = 0;
    return {0.0f, std::isfinite(lo) ? -lo : 0.0f};
  }
  int cand[32];
  float best_s = (hi - lo) / static_cast<float>(nmax), best_b = lo;
  for (int i = 0; i < n; ++i) L[i] = round_clamp((x[i] - lo) * (static_cast<float>(nmax) / (hi - lo)), 0, nmax);
  float best_err = affine_error(x, w, L, n, best_s, best_b);
  for (int k = 0; k <= nstep; ++k) {
    const float iscale = (static_cast<float>(nmax) + rmin + rdelta * static_cast<float>(k)) / (hi - lo);
    for (int i = 0; i < n; ++i) cand[i] = round_clamp(iscale * (x[i] - lo), 0, nmax);
    float s, b;
    if (!solve_affine(x, w, cand, n, s, b)) continue;
    const float err = affine_error(x, w, cand, n, s, b);
    if (err < best_err) {
      best_err = err;
      best_s = s;
      best_b = b;
      std::copy(cand, cand + n, L);
    }
  }
  for (int iter = 0; iter < 8; ++iter) {
    const float inv = 1.0f / best_s;
    for (int i = 0; i < n; ++i) cand[i] = round_clamp((x[i] - best_b) * inv, 0, nmax);
    float s, b;
    if (!solve_affine(x, w, cand, n, s, b)) break;
    const float err = affine_error(x, w, cand, n, s, b);
    if (!(err < best_err)) break;
    best_err = err;
    best_s = s;
    best_b = b;
    std::copy(cand, cand + n, L);
  }
  return {best_s, -best_b};
}

// Fits x ~ s * L with L in lo..hi (lo = -hi - 1, so the grid has one extra negative level).
// Candidates map the value of largest magnitude onto a level near either end of the grid;
// each gets its least-squares scale, and the best is polished as in fit_affine. The returned
// scale may be negative (that is how the extra level serves positive extremes).
float fit_symmetric(const float* x, const float* w, int n, int lo, int hi, int* L) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (!(amax >= kTiny)) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  int cand[32];
  auto score = [&](const int* q, float& s) {  // returns sum(w x L)^2 / sum(w L^2), the error reduction
    float sxl = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(q[i]);
      sxl += w[i] * x[i] * l;
      sl2 += w[i] * l * l;
    }
    if (!(sl2 > 0)) return -1.0;
    s = sxl / sl2;
    return static_cast<double>(sxl) * sxl / sl2;
  };
  double best = -1;
  float best_s = 0;
  for (int side = 0; side < 2; ++side) {
    const float target = side == 0 ? static_cast<float>(lo) : static_cast<float>(hi);
    for (int k = -9; k <= 9; ++k) {
      const float level = side == 0 ? target - 0.1f * static_cast<float>(k) : target + 0.1f * static_cast<float>(k);
      const float iscale = level / max;
      for (int i = 0; i < n; ++i) cand[i] = round_clamp(iscale * x[i], lo, hi);
      float s = 0;
      const double sc = score(cand, s);
      if (sc > best) {
        best = sc;
        best_s = s;
        std::copy(cand, cand + n, L);
      }
    }
  }
  if (best < 0) {  // cannot happen for amax > 0, but keep the output defined
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  for (int iter = 0; iter < 8; ++iter) {
    const float inv = 1.0f / best_s;
    for (int i = 0; i < n; ++i) cand[i] = round_clamp(x[i] * inv, lo, hi);
    float s = 0;
    const double sc = score(cand, s);
    if (!(sc > best)) break;
    best = sc;
    best_s = s;
    std::copy(cand, cand + n, L);
  }
  return best_s;
}

// Per-value error weights for one sub-block: the sub-block's RMS plus the value's magnitude.
void magnitude_weights(const float* x, int n, float* w) {
  float sum2 = 0;
  for (int i = 0; i < n; ++i) sum2 += x[i] * x[i];
  const float rms = std::sqrt(sum2 / static_cast<float>(n));
  for (int i = 0; i < n; ++i) w[i] = rms + std::fabs(x[i]);
}

// ---- Affine super-blocks: Q2_K, Q4_K, Q5_K -----------------------------------------------

struct AffineSpec {
  int sub;        // values per sub-block
  int nmax;       // largest level
  int scale_max;  // largest stored sub-block scale / min
  float rmin, rdelta;
  int nstep;
};

struct AffineBlock {
  uint16_t d = 0, dmin = 0;  // f16
  uint8_t sc[16] = {}, m[16] = {};
  int L[kQK_K] = {};
};

// f16 for a non-negative super-scale. A positive scale too small for f16 becomes the
// smallest subnormal rather than zero, so tiny tensors keep a usable (if coarse) grid.
uint16_t scale_to_f16(float v) {
  const uint16_t h = f32_to_f16(v);
  if (v > 0 && h == 0) return 1;
  return h >= 0x7c00u ? uint16_t{0x7bff} : h;  // saturate instead of storing inf
}

// Weighted error of one affine sub-block whose values are rounded to the nearest level of
// the grid dl * L - ml (dl and ml computed as the dequantizer computes them).
float affine_grid_error(const float* x, const float* w, int n, int nmax, float dl, float ml) {
  float err = 0;
  const float inv = dl > 0 ? 1.0f / dl : 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = dl > 0 ? round_clamp((x[i] + ml) * inv, 0, nmax) : 0;
    const float diff = dl * static_cast<float>(l) - ml - x[i];
    err += w[i] * diff * diff;
  }
  return err;
}

// Rounds every value to the nearest level of its sub-block's decoded grid; returns the total
// weighted error. This is the final pass, so it divides rather than multiplying by a
// reciprocal: one rounding less between the value and its level choice.
float requantize_affine(const float* x, const float* w, const AffineSpec& spec, AffineBlock& b) {
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  float err = 0;
  for (int j = 0; j < kQK_K / spec.sub; ++j) {
    const float dl = d * static_cast<float>(b.sc[j]);
    const float ml = dmin * static_cast<float>(b.m[j]);
    for (int i = j * spec.sub; i < (j + 1) * spec.sub; ++i) {
      b.L[i] = dl > 0 ? round_clamp((x[i] + ml) / dl, 0, spec.nmax) : 0;
      const float diff = dl * static_cast<float>(b.L[i]) - ml - x[i];
      err += w[i] * diff * diff;
    }
  }
  return err;
}

// Integer sub-block scales and mins for the current super-scales. Plain rounding of s / d can
// shrink a sub-block's grid by up to half a scale step, which for small integer scales clips
// the sub-block's extremes by many levels; so both neighbours of s / d (and of m / dmin) are
// tried and the pair with the lowest sub-block error is kept. Scale 0 is never chosen for a
// sub-block with a non-zero fit: the grid of scale 1 contains the lone offset too.
void assign_affine_scales(const float* x, const float* w, const float* s, const float* m, const AffineSpec& spec,
                          AffineBlock& b) {
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  for (int j = 0; j < kQK_K / spec.sub; ++j) {
    int sc_cand[2] = {0, 0}, m_cand[2] = {0, 0};
    if (d > 0 && s[j] > 0) {
      const int f = round_clamp(std::floor(s[j] / d), 1, spec.scale_max);
      sc_cand[0] = f;
      sc_cand[1] = std::min(f + 1, spec.scale_max);
    }
    if (dmin > 0 && m[j] > 0) {
      const int f = round_clamp(std::floor(m[j] / dmin), 0, spec.scale_max);
      m_cand[0] = f;
      m_cand[1] = std::min(f + 1, spec.scale_max);
    }
    const float* xs = x + j * spec.sub;
    const float* ws = w + j * spec.sub;
    float best = -1;
    for (int a = 0; a < 2; ++a) {
      for (int c = 0; c < 2; ++c) {
        if ((a == 1 && sc_cand[1] == sc_cand[0]) || (c == 1 && m_cand[1] == m_cand[0])) continue;
        const float dl = d * static_cast<float>(sc_cand[a]);
        const float ml = dmin * static_cast<float>(m_cand[c]);
        const float err = affine_grid_error(xs, ws, spec.sub, spec.nmax, dl, ml);
        if (best < 0 || err < best) {
          best = err;
          b.sc[j] = static_cast<uint8_t>(sc_cand[a]);
          b.m[j] = static_cast<uint8_t>(m_cand[c]);
        }
      }
    }
  }
}

void quantize_affine_superblock(const float* x, const AffineSpec& spec, AffineBlock& out) {
  const int nsub = kQK_K / spec.sub;
  float w[kQK_K], s[16], m[16];
  float max_s = 0, max_m = 0, zero_err = 0;
  for (int j = 0; j < nsub; ++j) {
    const float* xs = x + j * spec.sub;
    magnitude_weights(xs, spec.sub, w + j * spec.sub);
    const AffineFit fit = fit_affine(xs, w + j * spec.sub, spec.sub, spec.nmax, spec.rmin, spec.rdelta, spec.nstep,
                                     out.L + j * spec.sub);
    s[j] = fit.scale;
    m[j] = fit.neg_min;
    max_s = std::max(max_s, s[j]);
    max_m = std::max(max_m, m[j]);
  }
  for (int i = 0; i < kQK_K; ++i) zero_err += w[i] * x[i] * x[i];
  const float smax = static_cast<float>(spec.scale_max);
  out.d = scale_to_f16(max_s / smax);
  out.dmin = scale_to_f16(max_m / smax);
  assign_affine_scales(x, w, s, m, spec, out);
  float best_err = requantize_affine(x, w, spec, out);

  // Refinement: with the levels and integer scales fixed, the super-scales d and dmin enter
  // linearly (x ~ d * sc * L - dmin * m), so solve that 2x2 least-squares problem; then refit
  // each sub-block's float scale/min on its levels and re-derive the integer scales. Keep
  // each round only while it lowers the error.
  for (int iter = 0; iter < 2; ++iter) {
    AffineBlock trial = out;
    double aa = 0, ab = 0, bb = 0, ax = 0, bx = 0;
    for (int i = 0; i < kQK_K; ++i) {
      const int j = i / spec.sub;
      const double a = static_cast<double>(trial.sc[j]) * trial.L[i];
      const double c = trial.m[j];
      aa += w[i] * a * a;
      ab += w[i] * a * c;
      bb += w[i] * c * c;
      ax += w[i] * a * x[i];
      bx += w[i] * c * x[i];
    }
    // Minimise sum w (d a - dm c - x)^2 over d, dm.
    const double det = aa * bb - ab * ab;
    double d = aa > 0 ? ax / aa : 0, dm = 0;
    if (det > 1e-12 * aa * bb && bb > 0) {
      d = (ax * bb - bx * ab) / det;
      dm = (ax * ab - bx * aa) / det;
    }
    if (!(d > 0) || !(dm >= 0)) break;
    trial.d = scale_to_f16(static_cast<float>(d));
    trial.dmin = scale_to_f16(static_cast<float>(dm));
    float err = requantize_affine(x, w, spec, trial);
    // Per-sub-block refit on the new levels, then re-choose the integer scales.
    float s2[16], m2[16];
    for (int j = 0; j < nsub; ++j) {
      float sj, bj;
      if (solve_affine(x + j * spec.sub, w + j * spec.sub, trial.L + j * spec.sub, spec.sub, sj, bj)) {
        s2[j] = sj;
        m2[j] = -bj;
      } else {
        s2[j] = f16_to_f32(trial.d) * trial.sc[j];
        m2[j] = f16_to_f32(trial.dmin) * trial.m[j];
      }
    }
    AffineBlock trial2 = trial;
    assign_affine_scales(x, w, s2, m2, spec, trial2);
    const float err2 = requantize_affine(x, w, spec, trial2);
    if (err2 < err) {
      trial = trial2;
      err = err2;
    }
    if (!(err < best_err)) break;
    best_err = err;
    out = trial;
  }
  // Never worse than writing zeros (only reachable when f16 cannot resolve the scales).
  if (!(best_err <= zero_err)) out = AffineBlock{};
}

// ---- Symmetric super-blocks: Q3_K, Q6_K --------------------------------------------------

struct SymSpec {
  int lo, hi;              // level range
  int scale_lo, scale_hi;  // stored sub-block scale range
};

struct SymBlock {
  uint16_t d = 0;  // f16
  int sc[16] = {};
  int L[kQK_K] = {};
};

float symmetric_grid_error(const float* x, const float* w, int n, const SymSpec& spec, float dl) {
  float err = 0;
  const float inv = dl != 0 ? 1.0f / dl : 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = dl != 0 ? round_clamp(x[i] * inv, spec.lo, spec.hi) : 0;
    const float diff = dl * static_cast<float>(l) - x[i];
    err += w[i] * diff * diff;
  }
  return err;
}

float requantize_symmetric(const float* x, const float* w, const SymSpec& spec, SymBlock& b) {
  const float d = f16_to_f32(b.d);
  float err = 0;
  for (int j = 0; j < 16; ++j) {
    const float dl = d * static_cast<float>(b.sc[j]);
    for (int i = 16 * j; i < 16 * (j + 1); ++i) {
      b.L[i] = dl != 0 ? round_clamp(x[i] / dl, spec.lo, spec.hi) : 0;
      const float diff = dl * static_cast<float>(b.L[i]) - x[i];
      err += w[i] * diff * diff;
    }
  }
  return err;
}

// As assign_affine_scales: the two integers around s / d are tried, zero excluded (a non-zero
// grid contains 0 as well).
void assign_symmetric_scales(const float* x, const float* w, const float* s, const SymSpec& spec, SymBlock& b) {
  const float d = f16_to_f32(b.d);
  for (int j = 0; j < 16; ++j) {
    b.sc[j] = 0;
    if (d == 0 || s[j] == 0) continue;
    const float r = s[j] / d;
    const int f = round_clamp(std::floor(r), spec.scale_lo, spec.scale_hi);
    int cand[2] = {f, std::min(f + 1, spec.scale_hi)};
    for (int& c : cand) {
      if (c == 0) c = r > 0 ? 1 : -1;
    }
    float best = -1;
    for (int a = 0; a < 2; ++a) {
      if (a == 1 && cand[1] == cand[0]) continue;
      const float err = symmetric_grid_error(x + 16 * j, w + 16 * j, 16, spec, d * static_cast<float>(cand[a]));
      if (best < 0 || err < best) {
        best = err;
        b.sc[j] = cand[a];
      }
    }
  }
}

void quantize_symmetric_superblock(const float* x, const SymSpec& spec, SymBlock& out) {
  float w[kQK_K], s[16];
  float max_abs = 0, max_s = 0, zero_err = 0;
  for (int j = 0; j < 16; ++j) {
    const float* xs = x + 16 * j;
    magnitude_weights(xs, 16, w + 16 * j);
    s[j] = fit_symmetric(xs, w + 16 * j, 16, spec.lo, spec.hi, out.L + 16 * j);
    if (std::fabs(s[j]) > max_abs) {
      max_abs = std::fabs(s[j]);
      max_s = s[j];
    }
  }
  if (!(max_abs > 0)) {
    out = SymBlock{};
    return;
  }
  for (int i = 0; i < kQK_K; ++i) zero_err += w[i] * x[i] * x[i];
  // The largest sub-block scale goes to the extra negative stored scale, so d takes the
  // opposite sign of that scale.
  const uint16_t mag = scale_to_f16(max_abs / static_cast<float>(-spec.scale_lo));
  out.d = max_s > 0 ? static_cast<uint16_t>(mag | 0x8000u) : mag;
  assign_symmetric_scales(x, w, s, spec, out);
  float best_err = requantize_symmetric(x, w, spec, out);

  // Refinement as for the affine formats, with the single super-scale d.
  for (int iter = 0; iter < 2; ++iter) {
    SymBlock trial = out;
    double aa = 0, ax = 0;
    for (int i = 0; i < kQK_K; ++i) {
      const double a = static_cast<double>(trial.sc[i / 16]) * trial.L[i];
      aa += w[i] * a * a;
      ax += w[i] * a * x[i];
    }
    if (!(aa > 0)) break;
    const float dnew = static_cast<float>(ax / aa);
    trial.d = dnew < 0 ? static_cast<uint16_t>(scale_to_f16(-dnew) | 0x8000u) : scale_to_f16(dnew);
    float err = requantize_symmetric(x, w, spec, trial);
    float s2[16];
    for (int j = 0; j < 16; ++j) {
      float sxl = 0, sl2 = 0;
      for (int i = 16 * j; i < 16 * (j + 1); ++i) {
        const float l = static_cast<float>(trial.L[i]);
        sxl += w[i] * x[i] * l;
        sl2 += w[i] * l * l;
      }
      s2[j] = sl2 > 0 ? sxl / sl2 : 0.0f;
    }
    SymBlock trial2 = trial;
    assign_symmetric_scales(x, w, s2, spec, trial2);
    const float err2 = requantize_symmetric(x, w, spec, trial2);
    if (err2 < err) {
      trial = trial2;
      err = err2;
    }
    if (!(err < best_err)) break;
    best_err = err;
    out = trial;
  }
  if (!(best_err <= zero_err)) out = SymBlock{};
}

// Packs 256 2-bit values in the "128-value halves" layout shared by Q2_K and Q3_K.
void pack_2bit(const int* L, uint8_t* qs) {
  std::memset(qs, 0, kQK_K / 4);
  for (int j = 0; j < kQK_K; ++j) {
    const int half = j / 128, s = (j % 128) / 32, l = j % 32;
    qs[32 * half + l] = static_cast<uint8_t>(qs[32 * half + l] | ((L[j] & 3) << (2 * s)));
  }
}

// 4-bit low parts for Q4_K / Q5_K: sub-block pair p shares bytes qs[32p .. 32p+31].
void pack_4bit_pairs(const int* L, uint8_t* qs) {
  for (int p = 0; p < 4; ++p) {
    for (int l = 0; l < 32; ++l) {
      qs[32 * p + l] = static_cast<uint8_t>((L[64 * p + l] & 0x0f) | ((L[64 * p + 32 + l] & 0x0f) << 4));
    }
  }
}

constexpr AffineSpec kQ2Spec{16, 3, 15, -0.5f, 0.1f, 15};
constexpr AffineSpec kQ4Spec{32, 15, 63, -1.0f, 0.1f, 20};
constexpr AffineSpec kQ5Spec{32, 31, 63, -0.5f, 0.1f, 15};
constexpr SymSpec kQ3Spec{-4, 3, -32, 31};
constexpr SymSpec kQ6Spec{-32, 31, -128, 127};

}  // namespace

namespace ref {

void quantize_q2_K(const float* x, BlockQ2_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    AffineBlock b;
    quantize_affine_superblock(x, kQ2Spec, b);
    for (int j = 0; j < 16; ++j) y[i].scales[j] = static_cast<uint8_t>(b.sc[j] | (b.m[j] << 4));
    pack_2bit(b.L, y[i].qs);
    y[i].d = b.d;
    y[i].dmin = b.dmin;
  }
}

void quantize_q3_K(const float* x, BlockQ3_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    SymBlock b;
    quantize_symmetric_superblock(x, kQ3Spec, b);
    int8_t scales[16];
    for (int j = 0; j < 16; ++j) scales[j] = static_cast<int8_t>(b.sc[j]);
    q3k_pack_scales(scales, y[i].scales);
    // Stored 3-bit value is L + 4: bits 0..1 go to qs, bit 2 to hmask.
    int low[kQK_K];
    std::memset(y[i].hmask, 0, sizeof y[i].hmask);
    for (int j = 0; j < kQK_K; ++j) {
      const int q = b.L[j] + 4;
      low[j] = q & 3;
      if (q & 4) y[i].hmask[j % 32] = static_cast<uint8_t>(y[i].hmask[j % 32] | (1 << (j / 32)));
    }
    pack_2bit(low, y[i].qs);
    y[i].d = b.d;
  }
}

void quantize_q4_K(const float* x, BlockQ4_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    AffineBlock b;
    quantize_affine_superblock(x, kQ4Spec, b);
    k4_pack(b.sc, b.m, y[i].scales);
    pack_4bit_pairs(b.L, y[i].qs);
    y[i].d = b.d;
    y[i].dmin = b.dmin;
  }
}

void quantize_q5_K(const float* x, BlockQ5_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    AffineBlock b;
    quantize_affine_superblock(x, kQ5Spec, b);
    k4_pack(b.sc, b.m, y[i].scales);
    pack_4bit_pairs(b.L, y[i].qs);
    std::memset(y[i].qh, 0, sizeof y[i].qh);
    for (int j = 0; j < kQK_K; ++j) {
      if (b.L[j] & 16) y[i].qh[j % 32] = static_cast<uint8_t>(y[i].qh[j % 32] | (1 << (j / 32)));
    }
    y[i].d = b.d;
    y[i].dmin = b.dmin;
  }
}

void quantize_q6_K(const float* x, BlockQ6_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    SymBlock b;
    quantize_symmetric_superblock(x, kQ6Spec, b);
    std::memset(y[i].ql, 0, sizeof y[i].ql);
    std::memset(y[i].qh, 0, sizeof y[i].qh);
    for (int j = 0; j < kQK_K; ++j) {
      const int q = b.L[j] + 32;  // 0..63
      const int half = j / 128, s = (j % 128) / 32, l = j % 32;
      uint8_t& lo = y[i].ql[64 * half + 32 * (s & 1) + l];
      lo = static_cast<uint8_t>(lo | ((q & 0x0f) << (4 * (s >> 1))));
      uint8_t& hi = y[i].qh[32 * half + l];
      hi = static_cast<uint8_t>(hi | ((q >> 4) << (2 * s)));
    }
    for (int j = 0; j < 16; ++j) y[i].scales[j] = static_cast<int8_t>(b.sc[j]);
    y[i].d = b.d;
  }
}

// Q8_K keeps a float scale, so the plain nearest-level rounding against d = amax / 127 is
// already within d / 2; levels stay within -127..127 as the integer dot kernels assume.
void quantize_q8_K(const float* x, BlockQ8_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float amax = 0;
    for (int j = 0; j < kQK_K; ++j) amax = std::max(amax, std::fabs(x[j]));
    if (!(amax >= kTiny) || !std::isfinite(amax)) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
    } else {
      const float iscale = 127.0f / amax;
      y[i].d = 1.0f / iscale;
      for (int j = 0; j < kQK_K; ++j) y[i].qs[j] = static_cast<int8_t>(round_clamp(x[j] * iscale, -127, 127));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 16 * g; j < 16 * (g + 1); ++j) sum += y[i].qs[j];
      y[i].bsums[g] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace ref
}  // namespace rpu
