// Repacking of Q8_0 / Q4_0 / Q4_K / Q6_K weights into row pairs (layout in neon.h). Plain C++:
// it runs once at load and needs no particular instruction set.
#include <cstring>

#include "core/error.h"
#include "kernels/blocks.h"
#include "neon.h"

namespace rpu::neon {
namespace {

// n bytes (a multiple of 8) of each row, interleaved 8 bytes at a time; a null row is zeros.
void interleave8(const uint8_t* r0, const uint8_t* r1, size_t n, uint8_t* dst) {
  for (size_t c = 0; c < n / 8; ++c) {
    if (r0 != nullptr) std::memcpy(dst + 16 * c, r0 + 8 * c, 8);
    if (r1 != nullptr) std::memcpy(dst + 16 * c + 8, r1 + 8 * c, 8);
  }
}

template <typename Block>
const Block* block_at(const uint8_t* row, int64_t b) {
  return row == nullptr ? nullptr : reinterpret_cast<const Block*>(row) + b;
}

void pack_pair_block(DType type, const uint8_t* row0, const uint8_t* row1, int64_t b, uint8_t* dst) {
  uint16_t f16[4] = {};
  switch (type) {
    case DType::Q8_0: {
      const auto* x0 = block_at<BlockQ8_0>(row0, b);
      const auto* x1 = block_at<BlockQ8_0>(row1, b);
      interleave8(reinterpret_cast<const uint8_t*>(x0->qs), x1 ? reinterpret_cast<const uint8_t*>(x1->qs) : nullptr,
                  32, dst);
      f16[0] = x0->d;
      f16[1] = x1 ? x1->d : 0;
      std::memcpy(dst + 64, f16, 4);
      return;
    }
    case DType::Q4_0: {
      const auto* x0 = block_at<BlockQ4_0>(row0, b);
      const auto* x1 = block_at<BlockQ4_0>(row1, b);
      interleave8(x0->qs, x1 ? x1->qs : nullptr, 16, dst);
      f16[0] = x0->d;
      f16[1] = x1 ? x1->d : 0;
      std::memcpy(dst + 32, f16, 4);
      return;
    }
    case DType::Q4_K: {
      const auto* x0 = block_at<BlockQ4_K>(row0, b);
      const auto* x1 = block_at<BlockQ4_K>(row1, b);
      interleave8(x0->qs, x1 ? x1->qs : nullptr, 128, dst);
      f16[0] = x0->d;
      f16[1] = x1 ? x1->d : 0;
      f16[2] = x0->dmin;
      f16[3] = x1 ? x1->dmin : 0;
      std::memcpy(dst + 256, f16, 8);
      uint8_t* sc = dst + 264;
      uint8_t* mn = dst + 280;
      for (int j = 0; j < 8; ++j) {
        k4_unpack(j, x0->scales, sc[2 * j], mn[2 * j]);
        if (x1 != nullptr) k4_unpack(j, x1->scales, sc[2 * j + 1], mn[2 * j + 1]);
      }
      return;
    }
    case DType::Q6_K: {
      const auto* x0 = block_at<BlockQ6_K>(row0, b);
      const auto* x1 = block_at<BlockQ6_K>(row1, b);
      interleave8(x0->ql, x1 ? x1->ql : nullptr, 128, dst);
      interleave8(x0->qh, x1 ? x1->qh : nullptr, 64, dst + 256);
      auto* sc = reinterpret_cast<int8_t*>(dst + 384);
      for (int i = 0; i < 16; ++i) {
        sc[2 * i] = x0->scales[i];
        sc[2 * i + 1] = x1 ? x1->scales[i] : 0;
      }
      f16[0] = x0->d;
      f16[1] = x1 ? x1->d : 0;
      std::memcpy(dst + 416, f16, 4);
      return;
    }
    default: fail("no NEON integer layout for {}", dtype_name(type));
  }
}

}  // namespace

bool packs_int8(DType type) {
  return type == DType::Q8_0 || type == DType::Q4_0 || type == DType::Q4_K || type == DType::Q6_K;
}

int64_t pair_block_bytes(DType type) {
  switch (type) {
    case DType::Q8_0: return 68;
    case DType::Q4_0: return 36;
    case DType::Q4_K: return 296;
    case DType::Q6_K: return 420;
    default: fail("no NEON integer layout for {}", dtype_name(type));
  }
}

void pack_int8(const MatrixView& w, WeightMatrix& out) {
  const int64_t block = dtype_info(w.type).block_size;
  if (w.cols % block != 0) fail("cannot pack {} rows of {} columns", dtype_name(w.type), w.cols);
  const int64_t nb = w.cols / block;
  const int64_t pairs = (w.rows + 1) / 2;
  const int64_t bytes = pair_block_bytes(w.type);
  out.packed_bytes = static_cast<size_t>(pairs * nb * bytes);
  out.packed = allocate_aligned(out.packed_bytes);
  out.row_granule = kRowsPerPair;
  for (int64_t p = 0; p < pairs; ++p) {
    const uint8_t* row0 = w.row(2 * p);
    const uint8_t* row1 = 2 * p + 1 < w.rows ? w.row(2 * p + 1) : nullptr;
    uint8_t* dst = out.packed.get() + p * nb * bytes;
    for (int64_t b = 0; b < nb; ++b) pack_pair_block(w.type, row0, row1, b, dst + b * bytes);
  }
}

}  // namespace rpu::neon
