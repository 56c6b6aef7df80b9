// A loaded model: the mapped GGUF file, its hyper-parameters and views of its weights.
// Immutable after load, so many sequences can share one Model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/memory_lock.h"

#include "io/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace rpu {

class Model {
 public:
  // Weights are prepared for `kernels` (null: the active set, see kernels/kernels.h).
  static std::unique_ptr<Model> load(const std::string& path, const KernelSet* kernels = nullptr);
  static std::unique_ptr<Model> from_gguf(GgufFile file, const KernelSet* kernels = nullptr);

  const GgufFile& file() const { return file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const KernelSet& kernels() const { return kernels_; }

  // The memory the forward pass reads its weights from, for --mlock: the kernel set's repacked
  // copies and the file's tensors that are not read only through such a copy (adjacent ones
  // merged). A released tensor is left out, so locking does not fault its pages back in.
  std::vector<MemoryRange> weight_memory() const;

 private:
  Model(GgufFile file, const KernelSet& kernels);

  GgufFile file_;
  const KernelSet& kernels_;
  ModelConfig config_;
  ModelWeights weights_;
};

}  // namespace rpu
