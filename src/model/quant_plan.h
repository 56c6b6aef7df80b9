// Which element type each tensor of a model gets for a given file type ("Q4_K_M", "Q8_0",
// ...): llama.cpp's per-tensor mixes, restated so that `rpu quantize` and `rpu synth` write
// files with the same tensor types llama-quantize would (and so the same speed and size).
//
// The rules, for the dense decoders rpu runs (facts from llama.cpp's llama_tensor_get_type):
//  * only 2-D+ tensors whose name ends in "weight" are converted, except norms
//    ("*_norm.weight"); everything else (norms, biases, rope_freqs) keeps its type;
//  * F32 / F16 / BF16 files convert every such tensor to that type, with no mixing;
//  * output.weight (or token_embd.weight when the output head is tied to it) becomes Q6_K,
//    unless the file type is Q8_0 (stays Q8_0) or its rows are not whole 256-blocks (Q8_0);
//  * Q4_K_M / Q5_K_M give attn_v and ffn_down Q6_K in "more bits" layers: the first and last
//    eighth of the layers and every third one in between;
//  * Q4_K_S gives the first 4 attn_v and the first eighth of ffn_down Q5_K;
//  * a type whose block does not divide the row length falls back: Q4_K -> Q5_0,
//    Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0; when that still does not divide (or the
//    type has no fallback, e.g. Q8_0 on 172 columns), F16.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace rpu {

// A whole-file quantization scheme; `file_type` is llama.cpp's llama_ftype number, written as
// general.file_type.
struct QuantScheme {
  const char* name;    // as the user types it, e.g. "Q4_K_M"
  uint32_t file_type;  // general.file_type
  DType base;          // the type of most matrices
};

const QuantScheme* find_quant_scheme(std::string_view name);  // case-insensitive; null if unknown
const QuantScheme* find_quant_scheme(uint32_t file_type);     // by general.file_type; null if unknown
std::string quant_scheme_names();                            // "F32, F16, ..." for error messages

// One tensor as the planner sees it: name, GGUF shape (shape[0] = row length) and current type.
struct TensorDesc {
  std::string name;
  std::vector<uint64_t> shape;
  DType type = DType::F32;
};

// Whether the scheme may change this tensor's type at all (2-D+ "*weight", not a norm).
bool is_quantizable(const TensorDesc& tensor);

struct TensorPlan {
  DType type;
  bool fallback = false;  // the mix wanted a type whose blocks do not fit this tensor's rows
};

// The type for every tensor of a model (same order as `tensors`). n_layer is the block count;
// the layer of a per-layer tensor comes from its "blk.N." prefix.
std::vector<TensorPlan> plan_tensor_types(const QuantScheme& scheme, const std::vector<TensorDesc>& tensors,
                                     int n_layer);

// The type a row of `cols` values can take instead of `wanted` (see the fallback chain above);
// `wanted` itself when its block divides cols.
DType fallback_type(DType wanted, uint64_t cols);

}  // namespace rpu
