// Tensor element types, numbered exactly as GGUF/ggml numbers them on disk.
// Block formats (Q4_0, Q4_K, ...) pack `block_size` values into `type_size` bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rpu {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct DTypeInfo {
  DType type;
  const char* name;
  uint32_t block_size;  // values per block
  uint32_t type_size;   // bytes per block
};

// Layout of a type id read from a file, or nullptr when the id is not a known ggml type.
const DTypeInfo* find_dtype(uint32_t id);
const DTypeInfo& dtype_info(DType type);
const char* dtype_name(DType type);
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive, e.g. "q4_k"

// Bytes taken by `n` consecutive values; `n` must be a multiple of the block size.
uint64_t dtype_row_bytes(DType type, uint64_t n);

}  // namespace rpu
