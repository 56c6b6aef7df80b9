#include "model/model.h"

namespace rpu {

Model::Model(GgufFile file, const KernelSet& kernels)
    : file_(std::move(file)),
      kernels_(kernels),
      config_(config_from_gguf(file_)),
      weights_(load_weights(file_, config_, kernels_)) {}

std::unique_ptr<Model> Model::load(const std::string& path, const KernelSet* kernels) {
  return from_gguf(GgufFile::open(path), kernels);
}

std::unique_ptr<Model> Model::from_gguf(GgufFile file, const KernelSet* kernels) {
  return std::unique_ptr<Model>(new Model(std::move(file), kernels != nullptr ? *kernels : active_kernels()));
}

}  // namespace rpu
