#include "import/hf_import.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numbers>
#include <set>

#include "core/error.h"
#include "core/json_text.h"
#include "import/hf_arch.h"
#include "import/hf_vocab.h"
#include "kernels/quant.h"

namespace rpu::hf {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION

json read_json(const fs::path& path, bool required, const std::string& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    if (required) fail("{}: no {} (not a Hugging Face model folder?)", dir, path.filename().string());
    return json::object();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}'", path.string());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json j = parse_json_text(text, path.string());
  if (!j.is_object()) fail("{}: not a JSON object", path.string());
  return j;
}

std::string replace_layer(const char* pattern, int layer) {
  std::string s = pattern;
  const size_t at = s.find("{L}");
  if (at != std::string::npos) s.replace(at, 3, std::to_string(layer));
  return s;
}

// A config.json key as a metadata value of the row's type, range-checked.
GgufValue config_value(const std::string& dir, const json& config, const KeyRow& key) {
  const json& v = config.at(key.hf);
  if (key.type == KeyType::kU32) {
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (int64_t{1} << 31)) {
      fail("{}: config.json '{}' must be a positive whole number, got {}", dir, key.hf, v.dump());
    }
    return GgufValue::u32(static_cast<uint32_t>(v.get<int64_t>()));
  }
  if (!v.is_number() || !std::isfinite(v.get<double>())) fail("{}: config.json '{}' must be a number, got {}", dir, key.hf, v.dump());
  return GgufValue::f32(static_cast<float>(v.get<double>()));
}

int64_t config_int(const std::string& dir, const json& config, const char* key, int64_t fallback) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) {
    if (fallback < 0) fail("{}: config.json has no '{}'", dir, key);
    return fallback;
  }
  if (!it->is_number_integer() || it->get<int64_t>() <= 0) fail("{}: config.json '{}' must be a positive whole number", dir, key);
  return it->get<int64_t>();
}

// llama3 rope scaling as llama.cpp writes it: a per-frequency divisor tensor (rope_freqs).
std::vector<float> llama3_rope_factors(const json& s, double theta, int64_t head_dim) {
  const double factor = s.value("factor", 8.0), low = s.value("low_freq_factor", 1.0);
  const double high = s.value("high_freq_factor", 4.0);
  const double old_ctx = s.value("original_max_position_embeddings", 8192.0);
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  std::vector<float> factors;
  for (int64_t i = 0; i < head_dim; i += 2) {
    const double freq = 1.0 / std::pow(theta, static_cast<double>(i) / static_cast<double>(head_dim));
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(static_cast<float>(factor));
    } else {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / factor + smooth)));
    }
  }
  return factors;
}

// One GGUF tensor to be produced from a safetensors tensor.
struct Planned {
  std::string name;
  const SafetensorsTensor* source;
  RowOrder order;
  ValueMap values;
  int n_head;  // for the RoPE row orders
};

// Row `row` of a [rows, cols] tensor reordered by `order` (llama.cpp's q/k permutation): GGUF row
// (head h, pair i, half j) is HF row (h, j, i) of a head laid out as two halves.
uint64_t source_row(RowOrder order, int n_head, uint64_t rows, uint64_t row) {
  if (order == RowOrder::kAsIs) return row;
  const uint64_t head_rows = rows / static_cast<uint64_t>(n_head), half = head_rows / 2;
  const uint64_t h = row / head_rows, r = row % head_rows;
  return h * head_rows + (r % 2) * half + r / 2;
}

// The architecture's config keys as `<arch>.*` metadata, and rope scaling: linear as keys,
// llama3 as per-frequency factors (returned, for the rope_freqs tensor).
std::vector<float> write_config_keys(const std::string& dir, const json& config, const ArchRow& arch, GgufWriter& out) {
  const std::string a = arch.gguf_arch;
  for (const KeyRow& key : arch.keys) {
    if (config.contains(key.hf) && !config.at(key.hf).is_null()) {
      out.set(a + "." + key.gguf, config_value(dir, config, key));
    } else if (key.required) {
      fail("{}: config.json has no '{}'", dir, key.hf);
    }
  }
  if (!config.contains("rms_norm_eps")) out.set(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(arch.default_rms_eps));
  const auto it = config.find("rope_scaling");
  if (it == config.end() || !it->is_object()) return {};
  const std::string type = it->value("rope_type", it->value("type", ""));
  if (type == "linear") {
    out.set(a + ".rope.scaling.type", GgufValue::str("linear"));
    out.set(a + ".rope.scaling.factor", GgufValue::f32(it->value("factor", 1.0f)));
  } else if (type == "llama3") {
    const int64_t n_head = config_int(dir, config, "num_attention_heads", -1);
    const int64_t head_dim = config_int(dir, config, "head_dim", config_int(dir, config, "hidden_size", -1) / n_head);
    return llama3_rope_factors(*it, config.value("rope_theta", 10000.0), head_dim);
  } else if (type != "default") {
    fail("{}: rope scaling '{}' (config.json rope_scaling) is not supported", dir, type);
  }
  return {};
}

// The table's tensor rows, global then per layer, found in the checkpoint; every checkpoint
// tensor must be used (a tensor rpu would silently drop is an error naming it).
std::vector<Planned> plan_tensors(const std::string& dir, const json& config, const ArchRow& arch,
                                  const SafetensorsModel& weights) {
  const auto n_layer = static_cast<int>(config_int(dir, config, "num_hidden_layers", -1));
  const auto n_head = static_cast<int>(config_int(dir, config, "num_attention_heads", -1));
  const auto n_head_kv = static_cast<int>(config_int(dir, config, "num_key_value_heads", n_head));
  std::vector<Planned> planned;
  std::set<std::string> used;
  auto plan = [&](const TensorRow& row, int layer) {
    const std::string hf_name = replace_layer(row.hf, layer);
    const SafetensorsTensor* t = weights.find(hf_name);
    if (t == nullptr) return;
    used.insert(hf_name);
    const int heads = row.order == RowOrder::kRopeK ? n_head_kv : n_head;
    if (row.order != RowOrder::kAsIs && (t->shape.empty() || t->shape[0] % (2 * static_cast<uint64_t>(heads)) != 0)) {
      fail("{}: tensor '{}' has {} rows, not a whole number of {} heads", dir, hf_name, t->shape.empty() ? 0 : t->shape[0], heads);
    }
    planned.push_back({replace_layer(row.gguf, layer), t, row.order, row.values, heads});
  };
  auto per_layer = [](const TensorRow& row) { return std::string(row.hf).find("{L}") != std::string::npos; };
  for (const TensorRow& row : arch.tensors) {
    if (!per_layer(row)) plan(row, 0);
  }
  for (int layer = 0; layer < n_layer; ++layer) {
    for (const TensorRow& row : arch.tensors) {
      if (per_layer(row)) plan(row, layer);
    }
  }
  for (const SafetensorsTensor* t : weights.tensors()) {
    if (!used.count(t->name) && !is_ignored_hf_tensor(t->name)) {
      fail("{}: tensor '{}' has no GGUF name for architecture {} ({} layers)", dir, t->name, arch.model_type, n_layer);
    }
  }
  return planned;
}

// Each planned tensor as a produced GGUF tensor of the scheme's type for it (llama.cpp's mix;
// tensors it leaves alone, norms and biases, as F32), converted row by row while written.
void add_tensors(const std::vector<Planned>& planned, const QuantScheme& scheme, int n_layer,
                 const ImportOptions& options, GgufWriter& out) {
  std::vector<TensorDesc> descs;
  for (const Planned& p : planned) descs.push_back({p.name, {p.source->shape.rbegin(), p.source->shape.rend()}, DType::F32});
  const std::vector<TensorPlan> types = plan_tensor_types(scheme, descs, n_layer);
  out.set("general.file_type", GgufValue::u32(scheme.file_type));
  bool any_quantized = false;
  for (const auto& p : types) any_quantized = any_quantized || dtype_info(p.type).block_size > 1;
  if (any_quantized) out.set("general.quantization_version", GgufValue::u32(kQuantizationVersion));

  auto done = std::make_shared<ConvertProgress>();
  done->n_tensors = planned.size();
  for (size_t i = 0; i < planned.size(); ++i) {
    const Planned p = planned[i];
    const DType to = is_quantizable(descs[i]) ? types[i].type : DType::F32;
    if (!can_quantize(to)) fail("rpu cannot write type {} (tensor '{}')", dtype_name(to), p.name);
    const uint64_t cols = descs[i].shape.empty() ? 1 : descs[i].shape[0];
    const uint64_t rows = cols == 0 ? 0 : p.source->n_elements / cols;
    const uint64_t src_row_bytes = dtype_row_bytes(p.source->type, cols);
    done->bytes_total += rows * dtype_row_bytes(to, cols);
    ThreadPool* pool = options.pool;
    const ProgressFn progress = options.progress;
    out.add_produced_tensor(p.name, to, descs[i].shape, [=](uint64_t first, uint64_t n_rows, uint8_t* dst) {
      const bool permute_values = p.order != RowOrder::kAsIs && p.source->shape.size() == 1;
      convert_rows(pool, to, cols, first, n_rows, dst, [&](uint64_t row, float* values) {
        if (permute_values) {  // a 1-D bias: its values are the rows to reorder
          std::vector<float> all(cols);
          dequantize_row(p.source->type, p.source->data, all.data(), static_cast<int64_t>(cols));
          for (uint64_t c = 0; c < cols; ++c) values[c] = all[source_row(p.order, p.n_head, cols, c)];
        } else {
          const uint64_t r = source_row(p.order, p.n_head, rows, row);
          dequantize_row(p.source->type, p.source->data + r * src_row_bytes, values, static_cast<int64_t>(cols));
        }
        if (p.values == ValueMap::kPlusOne) {
          for (uint64_t c = 0; c < cols; ++c) values[c] += 1.0f;
        }
      });
      done->tensor = i;
      done->bytes_done += n_rows * dtype_row_bytes(to, cols);
      if (progress) progress(*done);
    });
  }
}

std::string folder_name(const std::string& dir) {
  const fs::path p = fs::path(dir).lexically_normal();
  return p.has_filename() ? p.filename().string() : p.parent_path().filename().string();
}

}  // namespace

bool is_model_dir(const std::string& path) {
  std::error_code ec;
  return !path.empty() && fs::is_directory(path, ec);
}

std::unique_ptr<HfModel> HfModel::open(const std::string& dir, const ImportOptions& options) {
  try {
    return build(dir, options);
  } catch (const json::exception& e) {
    fail("{}: a JSON file of the folder has an unexpected field ({})", dir, e.what());
  }
}

std::unique_ptr<HfModel> HfModel::build(const std::string& dir, const ImportOptions& options) {
  std::unique_ptr<HfModel> m(new HfModel());
  m->dir_ = dir;
  const json config = read_json(fs::path(dir) / "config.json", true, dir);
  const json generation = read_json(fs::path(dir) / "generation_config.json", false, dir);
  const std::string model_type = config.value("model_type", "");
  const ArchRow* arch = find_hf_arch(model_type);
  if (arch == nullptr) {
    fail("{}: architecture '{}' (config.json model_type) is not supported (supported: {})", dir, model_type,
         supported_hf_arch_names());
  }
  const QuantScheme& scheme = options.scheme ? *options.scheme : *find_quant_scheme("Q8_0");
  m->gguf_arch_ = arch->gguf_arch;
  GgufWriter& out = m->writer_;
  out.set("general.architecture", GgufValue::str(m->gguf_arch_));
  out.set("general.name", GgufValue::str(folder_name(dir)));
  std::vector<float> rope_factors = write_config_keys(dir, config, *arch, out);
  m->weights_ = SafetensorsModel::open_dir(dir);
  const std::vector<Planned> planned = plan_tensors(dir, config, *arch, m->weights_);

  const SafetensorsTensor* embd = m->weights_.find("model.embed_tokens.weight");
  if (embd == nullptr || embd->shape.size() != 2) fail("{}: no 2-D model.embed_tokens.weight", dir);
  out.set(m->gguf_arch_ + ".vocab_size", GgufValue::u32(static_cast<uint32_t>(embd->shape[0])));
  add_tokenizer_metadata(dir, config, generation, static_cast<int64_t>(embd->shape[0]), out);

  if (!rope_factors.empty()) {
    m->owned_.push_back(std::move(rope_factors));
    out.add_tensor("rope_freqs.weight", DType::F32, {m->owned_[0].size()}, m->owned_[0].data());
  }
  add_tensors(planned, scheme, static_cast<int>(config_int(dir, config, "num_hidden_layers", -1)), options, out);
  return m;
}

GgufFile HfModel::to_gguf() const { return GgufFile::parse(MappedFile::from_bytes(writer_.to_bytes()), dir_); }

void HfModel::write(const std::string& path) const { writer_.write(path); }

GgufFile open_model_path(const std::string& path, const std::string& type, ThreadPool* pool) {
  if (!is_model_dir(path)) {
    if (!type.empty()) fail("--type applies to Hugging Face model folders; '{}' is a file (use rpu quantize)", path);
    return GgufFile::open(path);
  }
  ImportOptions options;
  options.pool = pool;
  if (!type.empty()) {
    options.scheme = find_quant_scheme(type);
    if (options.scheme == nullptr) fail("unknown type '{}' (types: {})", type, quant_scheme_names());
  }
  return HfModel::open(path, options)->to_gguf();
}

}  // namespace rpu::hf
