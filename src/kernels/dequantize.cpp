// Scalar reference dequantizers. Each one spells out the arithmetic of its format in the same
// order ggml evaluates it (scale products first, then the multiply by the quant, then the min),
// so that results match ggml's reference bit for bit rather than merely to rounding.

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/blocks.h"
#include "kernels/quant.h"

namespace rpu {
namespace ref {

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((x[i].qs[j] & 0x0f) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(x[i].d);
    const float m = f16_to_f32(x[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(x[i].qs[j] & 0x0f) * d + m;
      y[j + kQK / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

namespace {

uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// The 5-bit value j (0..31) of a Q5_0/Q5_1 block.
template <typename Block>
int q5_value(const Block& b, uint32_t qh, int j) {
  const int low = j < kQK / 2 ? (b.qs[j] & 0x0f) : (b.qs[j - kQK / 2] >> 4);
  return low | static_cast<int>(((qh >> j) & 1u) << 4);
}

}  // namespace

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(x[i].d);
    const uint32_t qh = load_le32(x[i].qh);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q5_value(x[i], qh, j) - 16) * d;
  }
}

void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(x[i].d);
    const float m = f16_to_f32(x[i].m);
    const uint32_t qh = load_le32(x[i].qh);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q5_value(x[i], qh, j)) * d + m;
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_q8_1(const BlockQ8_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_q2_K(const BlockQ2_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = f16_to_f32(x[i].d);
    const float dmin = f16_to_f32(x[i].dmin);
    for (int j = 0; j < kQK_K; ++j) {
      const int half = j / 128, s = (j % 128) / 32, l = j % 32;
      const int q = (x[i].qs[32 * half + l] >> (2 * s)) & 3;
      const uint8_t sc = x[i].scales[j / 16];
      const float dl = d * static_cast<float>(sc & 0x0f);
      const float ml = dmin * static_cast<float>(sc >> 4);
      y[j] = dl * static_cast<float>(q) - ml;
    }
  }
}

void dequantize_q3_K(const BlockQ3_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = f16_to_f32(x[i].d);
    int8_t scales[16];
    q3k_unpack_scales(x[i].scales, scales);
    for (int j = 0; j < kQK_K; ++j) {
      const int half = j / 128, s = (j % 128) / 32, l = j % 32;
      const int low = (x[i].qs[32 * half + l] >> (2 * s)) & 3;
      const int high = (x[i].hmask[j % 32] >> (j / 32)) & 1;
      const float dl = d * static_cast<float>(scales[j / 16]);
      y[j] = dl * static_cast<float>(low + 4 * high - 4);
    }
  }
}

void dequantize_q4_K(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = f16_to_f32(x[i].d);
    const float dmin = f16_to_f32(x[i].dmin);
    for (int sb = 0; sb < 8; ++sb) {
      uint8_t sc, m;
      k4_unpack(sb, x[i].scales, sc, m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      const uint8_t* q = x[i].qs + 32 * (sb / 2);
      const int shift = 4 * (sb % 2);
      for (int l = 0; l < 32; ++l) y[32 * sb + l] = dl * static_cast<float>((q[l] >> shift) & 0x0f) - ml;
    }
  }
}

void dequantize_q5_K(const BlockQ5_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = f16_to_f32(x[i].d);
    const float dmin = f16_to_f32(x[i].dmin);
    for (int sb = 0; sb < 8; ++sb) {
      uint8_t sc, m;
      k4_unpack(sb, x[i].scales, sc, m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      const uint8_t* q = x[i].qs + 32 * (sb / 2);
      const int shift = 4 * (sb % 2);
      for (int l = 0; l < 32; ++l) {
        const int v = ((q[l] >> shift) & 0x0f) | (((x[i].qh[l] >> sb) & 1) << 4);
        y[32 * sb + l] = dl * static_cast<float>(v) - ml;
      }
    }
  }
}

void dequantize_q6_K(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK_K; ++j) {
      const int half = j / 128, s = (j % 128) / 32, l = j % 32;
      const int low = (x[i].ql[64 * half + 32 * (s & 1) + l] >> (4 * (s >> 1))) & 0x0f;
      const int high = (x[i].qh[32 * half + l] >> (2 * s)) & 3;
      const float dl = d * static_cast<float>(x[i].scales[j / 16]);
      y[j] = dl * static_cast<float>((low | (high << 4)) - 32);
    }
  }
}

void dequantize_q8_K(const BlockQ8_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    for (int j = 0; j < kQK_K; ++j) y[j] = x[i].d * static_cast<float>(x[i].qs[j]);
  }
}

}  // namespace ref

namespace {

// Plain element types: one value per "block".
template <typename T, typename Convert>
void convert_elements(const void* src, float* dst, int64_t n, Convert convert) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, bytes + i * static_cast<int64_t>(sizeof(T)), sizeof(T));  // src may be unaligned
    dst[i] = convert(v);
  }
}

// Runs a typed block kernel on `nb` blocks at `src`. Block structs need their natural
// alignment (2, or 4 for Q8_K); rows inside a mapped file normally have it, but when they do
// not the blocks are copied through an aligned bounce buffer instead of being misread.
template <typename Block>
void run_blocks(void (*kernel)(const Block*, float*, int64_t), const void* src, float* dst, int64_t nb,
                int values_per_block) {
  static_assert(std::is_trivially_copyable_v<Block>);
  if (reinterpret_cast<uintptr_t>(src) % alignof(Block) == 0) {
    kernel(static_cast<const Block*>(src), dst, nb);
    return;
  }
  constexpr int64_t kChunk = 16;
  Block tmp[kChunk];
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t done = 0; done < nb; done += kChunk) {
    const int64_t count = std::min(kChunk, nb - done);
    std::memcpy(tmp, bytes + done * static_cast<int64_t>(sizeof(Block)), static_cast<size_t>(count) * sizeof(Block));
    kernel(tmp, dst + done * values_per_block, count);
  }
}

}  // namespace

bool can_dequantize(DType type) {
  switch (type) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::F64:
    case DType::I8: case DType::I16: case DType::I32: case DType::I64:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::Q8_0: case DType::Q8_1:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K:
    case DType::Q6_K: case DType::Q8_K:
      return true;
    default:
      return false;
  }
}

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const DTypeInfo* info = find_dtype(static_cast<uint32_t>(type));
  if (info == nullptr) fail("cannot dequantize unknown tensor type id {}", static_cast<uint32_t>(type));
  if (!can_dequantize(type)) fail("dequantizing {} is not supported", info->name);
  if (n < 0 || n % info->block_size != 0) {
    fail("cannot dequantize {} values of {}: not a whole number of {}-value blocks", n, info->name,
         info->block_size);
  }
  const int64_t nb = n / info->block_size;
  switch (type) {
    case DType::F32: if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16: return convert_elements<uint16_t>(src, dst, n, [](uint16_t v) { return f16_to_f32(v); });
    case DType::BF16: return convert_elements<uint16_t>(src, dst, n, [](uint16_t v) { return bf16_to_f32(v); });
    case DType::F64: return convert_elements<double>(src, dst, n, [](double v) { return static_cast<float>(v); });
    case DType::I8: return convert_elements<int8_t>(src, dst, n, [](int8_t v) { return static_cast<float>(v); });
    case DType::I16: return convert_elements<int16_t>(src, dst, n, [](int16_t v) { return static_cast<float>(v); });
    case DType::I32: return convert_elements<int32_t>(src, dst, n, [](int32_t v) { return static_cast<float>(v); });
    case DType::I64: return convert_elements<int64_t>(src, dst, n, [](int64_t v) { return static_cast<float>(v); });
    case DType::Q4_0: return run_blocks(ref::dequantize_q4_0, src, dst, nb, kQK);
    case DType::Q4_1: return run_blocks(ref::dequantize_q4_1, src, dst, nb, kQK);
    case DType::Q5_0: return run_blocks(ref::dequantize_q5_0, src, dst, nb, kQK);
    case DType::Q5_1: return run_blocks(ref::dequantize_q5_1, src, dst, nb, kQK);
    case DType::Q8_0: return run_blocks(ref::dequantize_q8_0, src, dst, nb, kQK);
    case DType::Q8_1: return run_blocks(ref::dequantize_q8_1, src, dst, nb, kQK);
    case DType::Q2_K: return run_blocks(ref::dequantize_q2_K, src, dst, nb, kQK_K);
    case DType::Q3_K: return run_blocks(ref::dequantize_q3_K, src, dst, nb, kQK_K);
    case DType::Q4_K: return run_blocks(ref::dequantize_q4_K, src, dst, nb, kQK_K);
    case DType::Q5_K: return run_blocks(ref::dequantize_q5_K, src, dst, nb, kQK_K);
    case DType::Q6_K: return run_blocks(ref::dequantize_q6_K, src, dst, nb, kQK_K);
    case DType::Q8_K: return run_blocks(ref::dequantize_q8_K, src, dst, nb, kQK_K);
    default: break;
  }
  fail("dequantizing {} is not supported", info->name);
}

}  // namespace rpu
