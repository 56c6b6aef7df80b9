// Where a forward pass spends its time (rpu bench --profile): wall time, weight/KV bytes read
// and calls per operation kind and per layer. BatchForward records into one only when one is
// attached (set_profile), so the cost when off is one null-pointer branch per operation, never
// per row or inside a kernel. Times are the caller thread's wall clock around each parallel
// dispatch, so they include the pool's synchronisation and any thread that ran late.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

namespace rpu {

// The steps of the decoder (model/forward.h). Matrices read by one dispatch share one entry
// (q, k and v are one parallel loop; so are gate and up): their rows are split across threads
// together, so their times cannot be told apart.
enum class ForwardOp : int {
  kEmbed,         // token rows dequantized into x
  kNorm,          // the pre-attention / pre-FFN rmsnorms
  kMatmulQkv,     // q, k, v (or phi3's fused qkv) projections, including quantizing X
  kRopeCache,     // biases, q/k norms, RoPE, k/v written to the cache
  kAttention,     // softmax(q k^T) v over the cache
  kMatmulOut,     // attn_output projection
  kResidual,      // x += (post-normed) block output
  kMatmulGateUp,  // ffn_gate and ffn_up
  kActivation,    // SwiGLU / GeGLU
  kMatmulDown,    // ffn_down
  kOutputNorm,    // the final norm of the rows that get logits
  kOutputHead,    // logits = h Wout^T
  kSampling,      // choosing the next token from the logits (recorded by the caller)
  kCount,
};

const char* forward_op_name(ForwardOp op);

struct ForwardProfile {
  struct Entry {
    double seconds = 0;
    uint64_t bytes = 0;  // weight bytes as stored in the file (matmuls), K and V read (attention)
    uint64_t calls = 0;
  };
  std::array<Entry, static_cast<size_t>(ForwardOp::kCount)> ops{};
  std::vector<Entry> layers;  // per decoder layer: every op between its first norm and its residual
  uint64_t steps = 0;         // eval() calls recorded

  void add(ForwardOp op, int layer, double seconds, uint64_t bytes);
  void clear();
  double total_seconds() const;
};

// Times one operation into `profile` when it is not null; nothing (no clock read) when it is.
class OpTimer {
 public:
  OpTimer(ForwardProfile* profile, ForwardOp op, int layer, uint64_t bytes = 0)
      : profile_(profile), op_(op), layer_(layer), bytes_(bytes) {
    if (profile_ != nullptr) start_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (profile_ != nullptr) {
      profile_->add(op_, layer_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(), bytes_);
    }
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  ForwardProfile* profile_;
  ForwardOp op_;
  int layer_;  // -1: not inside a layer
  uint64_t bytes_;
  std::chrono::steady_clock::time_point start_{};
};

}  // namespace rpu
