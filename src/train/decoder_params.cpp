#include "train/decoder_params.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/quant.h"
#include "model/layer_tensors.h"

namespace rpu::train {
namespace {

uint64_t name_hash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// Fills values with N(0, std^2) from a stream seeded by (seed, tensor name), Box-Muller.
template <typename T>
void fill_normal(std::vector<T>& values, double std_dev, uint64_t seed, const std::string& name) {
  Rng rng(Rng(seed ^ name_hash(name)).next());
  for (size_t i = 0; i < values.size(); i += 2) {
    const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();  // u1 in (0, 1]
    const double radius = std::sqrt(-2.0 * std::log(u1)), angle = 2.0 * std::numbers::pi * u2;
    values[i] = static_cast<T>(std_dev * radius * std::cos(angle));
    if (i + 1 < values.size()) values[i + 1] = static_cast<T>(std_dev * radius * std::sin(angle));
  }
}

bool same_shape(const ModelConfig& a, const ModelConfig& b) {
  return a.arch == b.arch && a.n_vocab == b.n_vocab && a.n_embd == b.n_embd && a.n_layer == b.n_layer &&
         a.n_head == b.n_head && a.n_head_kv == b.n_head_kv && a.head_dim == b.head_dim && a.n_ff == b.n_ff &&
         a.rope_dim == b.rope_dim;
}

}  // namespace

GgufMetadata model_metadata(const GgufFile& source) {
  const std::string arch = source.get_string("general.architecture");
  if (arch.empty()) fail("{}: general.architecture is missing", source.path());
  GgufMetadata out;
  for (const auto& [key, value] : source.metadata()) {
    if (key == "general.file_type" || key == "general.quantization_version" || key == "general.alignment") continue;
    if (key.starts_with("general.") || key.starts_with(arch + ".") || key.starts_with("tokenizer.")) {
      out.emplace_back(key, value);
    }
  }
  return out;
}

GgufFile metadata_as_file(const GgufMetadata& metadata) {
  GgufWriter writer;
  for (const auto& [key, value] : metadata) writer.set(key, value);
  return GgufFile::parse(MappedFile::from_bytes(writer.to_bytes()), "<metadata>");
}

ModelMetadata fresh_model_metadata(const FreshModelSpec& s, const GgufFile& tokenizer_source) {
  GgufMetadata keys;
  for (const auto& [key, value] : tokenizer_source.metadata()) {
    if (key.starts_with("tokenizer.")) keys.emplace_back(key, value);
  }
  if (std::none_of(keys.begin(), keys.end(), [](const auto& kv) { return kv.first == "tokenizer.ggml.tokens"; })) {
    fail("{}: has no tokenizer (tokenizer.ggml.tokens) to copy", tokenizer_source.path());
  }
  return fresh_model_metadata(s, keys);
}

GgufMetadata fitted_tokenizer_keys(const GgufFile& base, const FittedVocab& vocab) {
  GgufMetadata keys = {
      {"tokenizer.ggml.model", GgufValue::str("llama")},
      {"tokenizer.ggml.tokens", GgufValue::str_array(vocab.pieces)},
      {"tokenizer.ggml.scores", GgufValue::f32_array(vocab.scores)},
      {"tokenizer.ggml.token_type", GgufValue::i32_array(vocab.kinds)},
      {"tokenizer.ggml.unknown_token_id", GgufValue::u32(0)},
      {"tokenizer.ggml.bos_token_id", GgufValue::u32(1)},
      {"tokenizer.ggml.eos_token_id", GgufValue::u32(2)},
  };
  for (const char* key : {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.chat_template"}) {
    if (const GgufValue* v = base.find(key)) keys.emplace_back(key, *v);
  }
  return keys;
}

ModelMetadata fresh_model_metadata(const FreshModelSpec& s, const GgufMetadata& tokenizer_keys) {
  if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 || s.n_ctx <= 0) {
    fail("model sizes must be positive");
  }
  if (s.n_embd % s.n_head != 0) fail("embedding size {} is not divisible by {} heads", s.n_embd, s.n_head);
  if ((s.n_embd / s.n_head) % 2 != 0) fail("head size {} must be even for RoPE", s.n_embd / s.n_head);
  const auto u32 = [](int v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  ModelMetadata m;
  m.metadata = {
      {"general.architecture", GgufValue::str("llama")},
      {"general.name", GgufValue::str(s.name)},
      {"llama.context_length", u32(s.n_ctx)},
      {"llama.embedding_length", u32(s.n_embd)},
      {"llama.block_count", u32(s.n_layer)},
      {"llama.feed_forward_length", u32(s.n_ff)},
      {"llama.attention.head_count", u32(s.n_head)},
      {"llama.attention.head_count_kv", u32(s.n_head_kv)},
      {"llama.attention.layer_norm_rms_epsilon", GgufValue::f32(s.rms_eps)},
      {"llama.rope.freq_base", GgufValue::f32(s.rope_theta)},
      {"llama.rope.dimension_count", u32(s.n_embd / s.n_head)},
  };
  m.metadata.insert(m.metadata.end(), tokenizer_keys.begin(), tokenizer_keys.end());
  m.config = config_from_gguf(metadata_as_file(m.metadata));  // validates like the engine does
  return m;
}

template <typename T>
void DecoderParams<T>::add(std::string name, int64_t rows, int64_t cols, bool is_vector) {
  ParamTensor<T> t;
  t.name = std::move(name);
  t.rows = rows;
  t.cols = cols;
  t.is_vector = is_vector;
  t.values.assign(static_cast<size_t>(rows * cols), T(0));
  index_[t.name] = tensors_.size();
  tensors_.push_back(std::move(t));
}

// The tensor list of a model (see the header), all zero; a layer's tensors come from the
// table in model/layer_tensors.h, in its order.
template <typename T>
void DecoderParams<T>::add_layout(bool tied, const LayerVariant& variant, bool rope_freqs, bool rope_factors) {
  const ModelConfig& c = config_;
  add("token_embd.weight", c.n_vocab, c.n_embd, false);
  add("output_norm.weight", 1, c.n_embd, true);
  if (!tied) add("output.weight", c.n_vocab, c.n_embd, false);
  if (rope_freqs) add("rope_freqs.weight", 1, c.rope_dim / 2, true);
  if (rope_factors) {
    add("rope_factors_long.weight", 1, c.rope_dim / 2, true);
    add("rope_factors_short.weight", 1, c.rope_dim / 2, true);
  }
  const LayerDims dims = LayerDims::of(c);
  for (int l = 0; l < c.n_layer; ++l) {
    for (const LayerTensor& t : layer_tensors()) {
      if (variant.has(t.presence)) add(layer_tensor_name(l, t), t.n_rows(dims), t.n_cols(dims), !t.is_matrix());
    }
  }
}

template <typename T>
DecoderParams<T> DecoderParams<T>::random(const ModelConfig& c, bool tied_output, uint64_t seed) {
  if (c.arch == nullptr) fail("model config has no architecture");
  if (c.arch->encoder) fail("{} is an encoder; the trainer trains decoders only", c.arch->name);
  DecoderParams p;
  p.config_ = c;
  p.add_layout(tied_output, LayerVariant::required_by(*c.arch), false, false);
  for (ParamTensor<T>& t : p.tensors_) {
    if (t.name.ends_with("norm.weight")) {
      std::fill(t.values.begin(), t.values.end(), T(1));
    } else if (!t.is_vector) {
      // Projections writing into the residual stream are scaled down so its size does not
      // grow with depth.
      const bool residual = t.name.ends_with("attn_output.weight") || t.name.ends_with("ffn_down.weight");
      const double std_dev = 1.0 / std::sqrt(static_cast<double>(t.cols)) / (residual ? std::sqrt(2.0 * c.n_layer) : 1.0);
      fill_normal(t.values, std_dev, seed, t.name);
    }
  }
  return p;
}

template <typename T>
DecoderParams<T> DecoderParams<T>::from_gguf(const GgufFile& file) {
  DecoderParams p;
  p.config_ = config_from_gguf(file);
  const ModelConfig& c = p.config_;
  if (c.arch->encoder) fail("{}: {} is an encoder; the trainer trains decoders only", file.path(), c.arch->name);
  // An optional group (q/k/v biases, q/k norms) is trained when the architecture requires it
  // or the file's first layer holds a tensor of it; then every layer must hold all of it.
  LayerVariant variant = LayerVariant::required_by(*c.arch);
  for (const LayerTensor& t : layer_tensors()) {
    if (variant.has(t.presence) || file.find_tensor(layer_tensor_name(0, t)) == nullptr) continue;
    variant.qkv_bias = variant.qkv_bias || t.presence == LayerTensorPresence::kQkvBias;
    variant.qk_norm = variant.qk_norm || t.presence == LayerTensorPresence::kQkNorm;
  }
  p.add_layout(file.find_tensor("output.weight") == nullptr, variant, file.find_tensor("rope_freqs.weight") != nullptr,
               file.find_tensor("rope_factors_long.weight") != nullptr);
  std::vector<float> row;
  for (ParamTensor<T>& t : p.tensors_) {
    const GgufTensorInfo* info = file.find_tensor(t.name);
    if (info == nullptr) fail("{}: tensor '{}' is missing", file.path(), t.name);
    const std::vector<uint64_t> shape = t.is_vector ? std::vector<uint64_t>{static_cast<uint64_t>(t.cols)}
                                                    : std::vector<uint64_t>{static_cast<uint64_t>(t.cols),
                                                                            static_cast<uint64_t>(t.rows)};
    if (info->shape != shape) {
      fail("{}: tensor '{}' has shape [{}] but the model config needs [{}]", file.path(), t.name,
           fmt::join(info->shape, ", "), fmt::join(shape, ", "));
    }
    if (!can_dequantize(info->type)) {
      fail("{}: tensor '{}' has type {}, which cannot be dequantized", file.path(), t.name, dtype_name(info->type));
    }
    // Row by row: a row is whole blocks of any quantized type.
    row.resize(static_cast<size_t>(t.cols));
    const uint64_t row_bytes = dtype_row_bytes(info->type, static_cast<uint64_t>(t.cols));
    for (int64_t r = 0; r < t.rows; ++r) {
      dequantize_row(info->type, info->data + static_cast<uint64_t>(r) * row_bytes, row.data(), t.cols);
      std::copy(row.begin(), row.end(), t.values.begin() + r * t.cols);
    }
  }
  for (const char* name : {"rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"}) {
    if (ParamTensor<T>* freqs = p.find(name)) freqs->trainable = false;  // constants of the model
  }
  return p;
}

template <typename T>
DecoderParams<T> DecoderParams<T>::zeros_like() const {
  DecoderParams g = *this;
  for (ParamTensor<T>& t : g.tensors_) {
    if (t.trainable) {
      std::fill(t.values.begin(), t.values.end(), T(0));
    } else {
      t.values = {};
    }
  }
  return g;
}

template <typename T>
void DecoderParams<T>::set_zero() {
  for (ParamTensor<T>& t : tensors_) std::fill(t.values.begin(), t.values.end(), T(0));
}

template <typename T>
void DecoderParams<T>::add_lora(const LoraOptions& options) {
  if (lora_rank_ > 0) fail("the model already has LoRA adapters");
  if (options.rank <= 0) fail("LoRA rank must be positive (got {})", options.rank);
  if (!(options.alpha > 0)) fail("LoRA alpha must be positive (got {})", options.alpha);
  std::vector<const LayerTensor*> modules;
  for (const std::string& target : options.targets) {
    const LayerTensor* module = find_lora_target(target);
    if (module == nullptr) fail("unknown LoRA target '{}' (choose from {})", target, lora_target_names());
    modules.push_back(module);
  }
  if (modules.empty()) fail("LoRA needs at least one target module");
  for (ParamTensor<T>& t : tensors_) t.trainable = false;
  for (int l = 0; l < config_.n_layer; ++l) {
    for (const LayerTensor* module : modules) {
      const std::string base = layer_tensor_name(l, *module);
      if (find(base + ".lora_a") != nullptr) continue;  // a target listed twice
      if (find(base) == nullptr) {
        std::string available;  // e.g. phi3's fused qkv instead of q, k, v
        for (const LayerTensor& t : layer_tensors()) {
          if (t.lora != nullptr && find(layer_tensor_name(l, t)) != nullptr) available += (available.empty() ? "" : ", ") + std::string(t.lora);
        }
        fail("LoRA target '{}' is not a matrix of this {} model (its targets: {})", module->lora, config_.arch->name, available);
      }
      const ParamTensor<T>& w = get(base);
      const int64_t in = w.cols, out = w.rows;
      add(base + ".lora_a", options.rank, in, false);
      add(base + ".lora_b", out, options.rank, false);
      fill_normal(tensors_[index_.at(base + ".lora_a")].values, 1.0 / std::sqrt(static_cast<double>(in)), options.seed,
                  base + ".lora_a");
    }
  }
  lora_rank_ = options.rank;
  lora_alpha_ = options.alpha;
}

template <typename T>
void DecoderParams<T>::save_gguf(const std::string& path, const GgufMetadata& metadata) const {
  const ModelConfig written = config_from_gguf(metadata_as_file(metadata));
  if (!same_shape(written, config_)) {
    fail("cannot save: the metadata describes a {} model of {} layers x {} embd (vocab {}), not this model's {} x {} "
         "(vocab {})", written.arch->name, written.n_layer, written.n_embd, written.n_vocab, config_.arch->name,
         config_.n_layer, config_.n_embd, config_.n_vocab);
  }
  GgufWriter writer;
  for (const auto& [key, value] : metadata) writer.set(key, value);
  writer.set("general.file_type", GgufValue::u32(0));  // all F32
  for (const ParamTensor<T>& t : tensors_) {
    if (t.name.ends_with(".lora_a") || t.name.ends_with(".lora_b")) continue;
    std::vector<float> values(t.values.begin(), t.values.end());
    const ParamTensor<T>* a = find(t.name + ".lora_a");
    const ParamTensor<T>* b = find(t.name + ".lora_b");
    if (a != nullptr && b != nullptr) {
      // W [out, in] += scale * B [out, rank] A [rank, in]
      const double scale = lora_scale();
      for (int64_t o = 0; o < t.rows; ++o) {
        for (int64_t r = 0; r < a->rows; ++r) {
          const double c = scale * b->values[o * a->rows + r];
          for (int64_t i = 0; i < t.cols; ++i) values[o * t.cols + i] += static_cast<float>(c * a->values[r * t.cols + i]);
        }
      }
    }
    std::vector<uint8_t> bytes(values.size() * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    std::vector<uint64_t> shape = {static_cast<uint64_t>(t.cols)};
    if (!t.is_vector) shape.push_back(static_cast<uint64_t>(t.rows));
    writer.add_tensor(t.name, DType::F32, std::move(shape), std::move(bytes));
  }
  writer.write(path);
}

template <typename T>
ParamTensor<T>* DecoderParams<T>::find(std::string_view name) {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

template <typename T>
const ParamTensor<T>* DecoderParams<T>::find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

template <typename T>
const ParamTensor<T>& DecoderParams<T>::get(std::string_view name) const {
  const ParamTensor<T>* t = find(name);
  if (t == nullptr) fail("the model has no tensor '{}'", name);
  return *t;
}

template <typename T>
int64_t DecoderParams<T>::n_trainable() const {
  int64_t n = 0;
  for (const ParamTensor<T>& t : tensors_) n += t.trainable ? t.size() : 0;
  return n;
}

template class DecoderParams<float>;
template class DecoderParams<double>;

}  // namespace rpu::train
