// Hugging Face model folders as GGUF: config.json, model.safetensors (or shards with
// model.safetensors.index.json), tokenizer.json (+ tokenizer_config.json, chat_template.jinja)
// and generation_config.json become GGUF metadata and tensors, mapped by the architecture's row
// in hf_arch.cpp and converted to a file type (model/quant_plan.h: llama.cpp's per-tensor mix)
// while they are written. The result is what Model::from_gguf and Tokenizer::from_gguf read,
// either in memory (a folder given where a model is expected) or as a file (`rpu convert-hf`).
#pragma once

#include <memory>
#include <string>

#include "core/thread_pool.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/quant_plan.h"
#include "model/requantize.h"

namespace rpu::hf {

struct ImportOptions {
  const QuantScheme* scheme = nullptr;  // null: Q8_0
  ThreadPool* pool = nullptr;           // quantizes rows on every thread (null: the calling thread)
  ProgressFn progress;                  // after each chunk of rows written
};

// A folder opened for conversion. Its GgufWriter produces tensors from the mapped safetensors
// files, so it must outlive any to_bytes() / write() of it.
class HfModel {
 public:
  // Throws rpu::Error with one line naming the folder and the problem (no config.json, an
  // unsupported architecture, a missing shard, a dtype rpu cannot read, a tensor with no GGUF
  // name, a missing config key, ...).
  static std::unique_ptr<HfModel> open(const std::string& dir, const ImportOptions& options = {});

  const GgufWriter& writer() const { return writer_; }
  const std::string& gguf_arch() const { return gguf_arch_; }
  GgufFile to_gguf() const;                   // in memory
  void write(const std::string& path) const;  // to a temporary name, renamed when whole

 private:
  HfModel() = default;
  static std::unique_ptr<HfModel> build(const std::string& dir, const ImportOptions& options);
  std::string dir_;
  std::string gguf_arch_;
  SafetensorsModel weights_;
  GgufWriter writer_;
  std::vector<std::vector<float>> owned_;  // generated tensors (rope_freqs)
};

// Whether `path` names a folder (rather than a file): such paths are imported.
bool is_model_dir(const std::string& path);

// A model path as a GGUF file: a GGUF file is mapped, a Hugging Face folder imported in
// memory with `type` (a quant_plan scheme name; empty: Q8_0).
GgufFile open_model_path(const std::string& path, const std::string& type = "", ThreadPool* pool = nullptr);

}  // namespace rpu::hf
