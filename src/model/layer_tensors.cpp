#include "model/layer_tensors.h"

#include <array>

#include <fmt/format.h>

namespace rpu {
namespace {

using K = LayerTensorKind;
using D = LayerDim;
using P = LayerTensorPresence;
using L = LayerWeights;

// The layer as data, like the architectures in model/config.cpp; shapes are spelled out in
// the header. Rows in file order.
constexpr std::array kLayerTensors = {
    //          name                        kind          rows      cols      presence      LoRA     matrix      vector
    LayerTensor{"attn_norm.weight",         K::kNorm,     D::kOne,  D::kEmbd, P::kPreNorm,  nullptr, nullptr,    &L::attn_norm},
    LayerTensor{"attn_q.weight",            K::kMatrix,   D::kQ,    D::kEmbd, P::kSplitQkv, "q",     &L::wq,     nullptr},
    LayerTensor{"attn_k.weight",            K::kMatrix,   D::kKv,   D::kEmbd, P::kSplitQkv, "k",     &L::wk,     nullptr},
    LayerTensor{"attn_v.weight",            K::kMatrix,   D::kKv,   D::kEmbd, P::kSplitQkv, "v",     &L::wv,     nullptr},
    LayerTensor{"attn_qkv.weight",          K::kMatrix,   D::kQkv,  D::kEmbd, P::kFusedQkv, "qkv",   &L::wqkv,   nullptr},
    LayerTensor{"attn_output.weight",       K::kMatrix,   D::kEmbd, D::kQ,    P::kAlways,   "o",     &L::wo,     nullptr},
    LayerTensor{"attn_q.bias",              K::kBias,     D::kOne,  D::kQ,    P::kQkvBias,  nullptr, nullptr,    &L::bq},
    LayerTensor{"attn_k.bias",              K::kBias,     D::kOne,  D::kKv,   P::kQkvBias,  nullptr, nullptr,    &L::bk},
    LayerTensor{"attn_v.bias",              K::kBias,     D::kOne,  D::kKv,   P::kQkvBias,  nullptr, nullptr,    &L::bv},
    LayerTensor{"attn_output.bias",         K::kBias,     D::kOne,  D::kEmbd, P::kProjBias, nullptr, nullptr,    &L::bo},
    LayerTensor{"attn_q_norm.weight",       K::kHeadNorm, D::kOne,  D::kHead, P::kQkNorm,   nullptr, nullptr,    &L::q_norm},
    LayerTensor{"attn_k_norm.weight",       K::kHeadNorm, D::kOne,  D::kHead, P::kQkNorm,   nullptr, nullptr,    &L::k_norm},
    LayerTensor{"attn_output_norm.weight",  K::kNorm,     D::kOne,  D::kEmbd, P::kPostNorm, nullptr, nullptr,    &L::attn_output_norm},
    LayerTensor{"attn_output_norm.bias",    K::kBias,     D::kOne,  D::kEmbd, P::kPostNorm, nullptr, nullptr,    &L::attn_output_norm_b},
    LayerTensor{"post_attention_norm.weight", K::kNorm,   D::kOne,  D::kEmbd, P::kPostBlockNorm, nullptr, nullptr, &L::attn_post_norm},
    LayerTensor{"ffn_norm.weight",          K::kNorm,     D::kOne,  D::kEmbd, P::kPreNorm,  nullptr, nullptr,    &L::ffn_norm},
    LayerTensor{"ffn_gate.weight",          K::kMatrix,   D::kFf,   D::kEmbd, P::kGate,     "gate",  &L::w_gate, nullptr},
    LayerTensor{"ffn_up.weight",            K::kMatrix,   D::kFf,   D::kEmbd, P::kUp,       "up",    &L::w_up,   nullptr},
    LayerTensor{"ffn_up.weight",            K::kMatrix,   D::kFf2,  D::kEmbd, P::kFusedGateUp, "gate_up", &L::w_up, nullptr},
    LayerTensor{"ffn_down.weight",          K::kMatrix,   D::kEmbd, D::kFf,   P::kAlways,   "down",  &L::w_down, nullptr},
    LayerTensor{"post_ffw_norm.weight",     K::kNorm,     D::kOne,  D::kEmbd, P::kPostBlockNorm, nullptr, nullptr, &L::ffn_post_norm},
    LayerTensor{"ffn_up.bias",              K::kBias,     D::kOne,  D::kFf,   P::kProjBias, nullptr, nullptr,    &L::b_up},
    LayerTensor{"ffn_down.bias",            K::kBias,     D::kOne,  D::kEmbd, P::kProjBias, nullptr, nullptr,    &L::b_down},
    LayerTensor{"layer_output_norm.weight", K::kNorm,     D::kOne,  D::kEmbd, P::kPostNorm, nullptr, nullptr,    &L::layer_output_norm},
    LayerTensor{"layer_output_norm.bias",   K::kBias,     D::kOne,  D::kEmbd, P::kPostNorm, nullptr, nullptr,    &L::layer_output_norm_b},
};

// What the users of the table rely on: matrices are present by the layout alone (never by
// an optional group a file may or may not hold) and land in a WeightMatrix; 1-D tensors have
// one row and land in a float vector; only matrices are LoRA targets.
constexpr bool layout_presence(P p) {
  return p == P::kAlways || p == P::kGate || p == P::kSplitQkv || p == P::kFusedQkv || p == P::kUp ||
         p == P::kFusedGateUp;
}
constexpr bool well_formed() {
  for (const LayerTensor& t : kLayerTensors) {
    if (t.is_matrix()) {
      if (!layout_presence(t.presence) || t.rows == D::kOne || t.matrix == nullptr || t.vector != nullptr) return false;
    } else {
      if (t.rows != D::kOne || t.lora != nullptr || t.matrix != nullptr || t.vector == nullptr) return false;
    }
  }
  return true;
}
static_assert(well_formed());

}  // namespace

int64_t LayerDims::operator[](LayerDim d) const {
  switch (d) {
    case D::kOne: return 1;
    case D::kEmbd: return n_embd;
    case D::kQ: return q_dim;
    case D::kKv: return kv_dim;
    case D::kFf: return n_ff;
    case D::kHead: return head_dim;
    case D::kQkv: return q_dim + 2 * kv_dim;
    case D::kFf2: return 2 * n_ff;
  }
  return 0;
}

std::vector<uint64_t> LayerTensor::gguf_shape(const LayerDims& d) const {
  const auto cols_u = static_cast<uint64_t>(n_cols(d));
  if (!is_matrix()) return {cols_u};
  return {cols_u, static_cast<uint64_t>(n_rows(d))};
}

std::span<const LayerTensor> layer_tensors() { return kLayerTensors; }

std::string layer_tensor_name(int layer, const LayerTensor& t) { return fmt::format("blk.{}.{}", layer, t.name); }

const LayerTensor* find_lora_target(std::string_view target) {
  for (const LayerTensor& t : kLayerTensors) {
    if (t.lora != nullptr && target == t.lora) return &t;
  }
  return nullptr;
}

std::string lora_target_names() {
  std::string names;
  for (const LayerTensor& t : kLayerTensors) {
    if (t.lora != nullptr) names += (names.empty() ? "" : ", ") + std::string(t.lora);
  }
  return names;
}

}  // namespace rpu
