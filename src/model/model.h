// A loaded model: the mapped GGUF file, its hyper-parameters and views of its weights.
// Immutable after load, so many sequences can share one Model.
#pragma once

#include <memory>
#include <string>

#include "io/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace rpu {

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path);
  static std::unique_ptr<Model> from_gguf(GgufFile file);

  const GgufFile& file() const { return file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }

 private:
  explicit Model(GgufFile file);

  GgufFile file_;
  ModelConfig config_;
  ModelWeights weights_;
};

}  // namespace rpu
