#include "model/quant_plan.h"

#include <array>
#include <cctype>
#include <cstdio>

namespace rpu {
namespace {

// llama_ftype numbers (llama.h) and each scheme's default matrix type.
constexpr std::array kSchemes = {
    QuantScheme{"F32", 0, DType::F32},      QuantScheme{"F16", 1, DType::F16},
    QuantScheme{"BF16", 32, DType::BF16},   QuantScheme{"Q8_0", 7, DType::Q8_0},
    QuantScheme{"Q4_0", 2, DType::Q4_0},    QuantScheme{"Q4_1", 3, DType::Q4_1},
    QuantScheme{"Q5_0", 8, DType::Q5_0},    QuantScheme{"Q5_1", 9, DType::Q5_1},
    QuantScheme{"Q4_K_S", 14, DType::Q4_K}, QuantScheme{"Q4_K_M", 15, DType::Q4_K},
    QuantScheme{"Q5_K_S", 16, DType::Q5_K}, QuantScheme{"Q5_K_M", 17, DType::Q5_K},
    QuantScheme{"Q6_K", 18, DType::Q6_K},
};

constexpr uint32_t kQ4_K_S = 14, kQ4_K_M = 15, kQ5_K_M = 17;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

bool is_block_quantized(DType t) { return dtype_info(t).block_size > 1; }

// "blk.12.ffn_down.weight" -> 12; -1 for tensors outside the layers.
int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

// The layers that get more bits in the *_M mixes: the first and last eighth, and every third
// layer in between.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

enum class Role { kOutput, kTokenEmbd, kAttnV, kFfnDown, kOther };

Role role_of(const std::string& name) {
  if (name == "output.weight") return Role::kOutput;
  if (name == "token_embd.weight") return Role::kTokenEmbd;
  if (contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight")) return Role::kAttnV;
  if (contains(name, "ffn_down")) return Role::kFfnDown;
  return Role::kOther;
}

}  // namespace

const QuantScheme* find_quant_scheme(std::string_view name) {
  for (const auto& s : kSchemes) {
    if (iequals(s.name, name)) return &s;
  }
  return nullptr;
}

const QuantScheme* find_quant_scheme(uint32_t file_type) {
  for (const auto& s : kSchemes) {
    if (s.file_type == file_type) return &s;
  }
  return nullptr;
}

std::string quant_scheme_names() {
  std::string names;
  for (const auto& s : kSchemes) names += (names.empty() ? "" : ", ") + std::string(s.name);
  return names;
}

bool is_quantizable(const TensorDesc& t) {
  if (t.shape.size() < 2 || !ends_with(t.name, "weight")) return false;
  // Norms and the small tensors llama.cpp also leaves alone (MoE routers, position tables).
  for (std::string_view skip : {"_norm.weight", "ffn_gate_inp.weight", "position_embd", "token_types"}) {
    if (contains(t.name, skip)) return false;
  }
  return true;
}

DType fallback_type(DType wanted, uint64_t cols) {
  if (cols % dtype_info(wanted).block_size == 0) return wanted;
  DType fallback = DType::F16;
  switch (wanted) {
    case DType::Q2_K:
    case DType::Q3_K: fallback = DType::Q4_0; break;
    case DType::Q4_K: fallback = DType::Q5_0; break;
    case DType::Q5_K: fallback = DType::Q5_1; break;
    case DType::Q6_K: fallback = DType::Q8_0; break;
    default: break;  // no 32-block fallback defined: F16 (llama.cpp refuses these)
  }
  return cols % dtype_info(fallback).block_size == 0 ? fallback : DType::F16;
}

std::vector<TensorPlan> plan_tensor_types(const QuantScheme& scheme, const std::vector<TensorDesc>& tensors, int n_layer) {
  bool tied = true;  // token_embd doubles as the output head unless output.weight exists
  int n_attn_v = 0;
  for (const auto& t : tensors) {
    if (t.name == "output.weight") tied = false;
    if (role_of(t.name) == Role::kAttnV) ++n_attn_v;
  }
  const uint32_t ft = scheme.file_type;

  std::vector<TensorPlan> types;
  types.reserve(tensors.size());
  for (const auto& t : tensors) {
    if (!is_quantizable(t)) {
      types.push_back({t.type});
      continue;
    }
    DType type = scheme.base;
    if (!is_block_quantized(type)) {  // F32 / F16 / BF16: every matrix alike
      types.push_back({type});
      continue;
    }
    const uint64_t cols = t.shape[0];
    const Role role = role_of(t.name);
    const int layer = layer_of(t.name);
    if (role == Role::kOutput || (tied && role == Role::kTokenEmbd)) {
      // The output head is the most sensitive matrix: Q6_K, or Q8_0 where rows don't fit.
      if (cols % dtype_info(type).block_size != 0) {
        type = DType::Q8_0;
      } else if (type != DType::Q8_0) {
        type = DType::Q6_K;
      }
    } else if (role == Role::kAttnV) {
      if ((ft == kQ4_K_M || ft == kQ5_K_M) && use_more_bits(layer, n_attn_v)) {
        type = DType::Q6_K;
      } else if (ft == kQ4_K_S && layer < 4) {
        type = DType::Q5_K;
      }
    } else if (role == Role::kFfnDown) {
      if ((ft == kQ4_K_M || ft == kQ5_K_M) && use_more_bits(layer, n_layer)) {
        type = DType::Q6_K;
      } else if (ft == kQ4_K_S && layer < n_layer / 8) {
        type = DType::Q5_K;
      }
    }
    const DType fitted = fallback_type(type, cols);
    types.push_back({fitted, fitted != type});
  }
  return types;
}

}  // namespace rpu
