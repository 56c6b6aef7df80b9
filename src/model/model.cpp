#include "model/model.h"

namespace rpu {

Model::Model(GgufFile file)
    : file_(std::move(file)), config_(config_from_gguf(file_)), weights_(load_weights(file_, config_)) {}

std::unique_ptr<Model> Model::load(const std::string& path) { return from_gguf(GgufFile::open(path)); }

std::unique_ptr<Model> Model::from_gguf(GgufFile file) { return std::unique_ptr<Model>(new Model(std::move(file))); }

}  // namespace rpu
