#include "model/forward_profile.h"

namespace rpu {

const char* forward_op_name(ForwardOp op) {
  switch (op) {
    case ForwardOp::kEmbed: return "embed";
    case ForwardOp::kNorm: return "rmsnorm";
    case ForwardOp::kMatmulQkv: return "matmul q,k,v";
    case ForwardOp::kRopeCache: return "rope + kv write";
    case ForwardOp::kAttention: return "attention";
    case ForwardOp::kMatmulOut: return "matmul attn_output";
    case ForwardOp::kResidual: return "residual add";
    case ForwardOp::kMatmulGateUp: return "matmul ffn_gate,up";
    case ForwardOp::kActivation: return "glu activation";
    case ForwardOp::kMatmulDown: return "matmul ffn_down";
    case ForwardOp::kOutputNorm: return "output norm";
    case ForwardOp::kOutputHead: return "matmul output head";
    case ForwardOp::kSampling: return "sampling";
    case ForwardOp::kCount: break;
  }
  return "?";
}

void ForwardProfile::add(ForwardOp op, int layer, double seconds, uint64_t bytes) {
  Entry& e = ops[static_cast<size_t>(op)];
  e.seconds += seconds;
  e.bytes += bytes;
  ++e.calls;
  if (layer < 0) return;
  if (layers.size() <= static_cast<size_t>(layer)) layers.resize(static_cast<size_t>(layer) + 1);
  Entry& l = layers[static_cast<size_t>(layer)];
  l.seconds += seconds;
  l.bytes += bytes;
  ++l.calls;
}

void ForwardProfile::clear() { *this = ForwardProfile{}; }

double ForwardProfile::total_seconds() const {
  double total = 0;
  for (const Entry& e : ops) total += e.seconds;
  return total;
}

}  // namespace rpu
