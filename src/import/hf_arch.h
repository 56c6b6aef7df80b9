// The Hugging Face -> GGUF mapping of each architecture, as data: which config.json keys become
// which `<arch>.*` metadata keys, and which safetensors tensors become which GGUF tensors (and
// whether their rows are reordered on the way). Adding an architecture is adding a row to the
// table in hf_arch.cpp (plus its tensor list when its names differ from the llama family's).
// Facts from llama.cpp's convert_hf_to_gguf.py and the GGUF spec; the engine side of an
// architecture is model/config.cpp.
#pragma once

#include <span>
#include <string>

namespace rpu::hf {

enum class KeyType { kU32, kF32 };

// config.json key -> "<arch>.<gguf>" metadata key. A missing (or null) optional key is written
// as `fallback` when it has one (>= 0: the value transformers' config class defaults to, as
// llama.cpp's converter writes it) and else left out (the engine then uses its default); a
// missing required key is an error naming it.
struct KeyRow {
  const char* hf;
  const char* gguf;  // suffix after "<arch>."
  KeyType type;
  bool required;
  double fallback = -1;
};

// How a tensor's rows (HF's outermost axis) are ordered in GGUF.
enum class RowOrder {
  kAsIs,
  kRopeQ,  // llama: each query head's two rotated halves interleaved (pairs 2i, 2i+1), per n_head
  kRopeK,  // the same for keys, per n_head_kv
};

// How a tensor's values change on the way.
enum class ValueMap {
  kAsIs,
  kPlusOne,  // gemma's RMSNorm weights are stored as (w - 1)
};

// A checkpoint tensor name prefix: renamed (a multimodal checkpoint's language model under
// "language_model.") or, with `to` null, left out (its vision tower, which rpu does not run).
struct PrefixRow {
  const char* from;
  const char* to;
};

// One tensor: "{L}" in both names stands for the layer number.
struct TensorRow {
  const char* hf;
  const char* gguf;
  RowOrder order = RowOrder::kAsIs;
  ValueMap values = ValueMap::kAsIs;
};

struct ArchRow {
  const char* model_type;  // config.json "model_type"
  const char* gguf_arch;   // general.architecture
  std::span<const KeyRow> keys;
  std::span<const TensorRow> tensors;
  // Defaults for config keys the model family leaves out (as transformers' config classes).
  float default_rms_eps;
  // The language model's config is config.json's "text_config" (a multimodal checkpoint), and
  // its tensor names are rewritten by `prefixes` first.
  bool text_config = false;
  std::span<const PrefixRow> prefixes = {};
};

const ArchRow* find_hf_arch(const std::string& model_type);  // null when not in the table
std::string supported_hf_arch_names();                      // "llama, qwen2, ..." for errors

// Tensors every HF checkpoint may carry that GGUF has no use for (rotary caches).
bool is_ignored_hf_tensor(const std::string& name);

}  // namespace rpu::hf
