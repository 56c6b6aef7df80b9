#include "import/hf_import.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <iterator>
#include <map>
#include <numbers>
#include <set>

#include "core/error.h"
#include "core/json_text.h"
#include "import/hf_arch.h"
#include "import/hf_vocab.h"
#include "kernels/quant.h"
#include "model/config.h"

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

// A tensor the converter makes from config.json (rope factors), not read from the checkpoint.
struct Generated {
  std::string name;
  std::vector<float> values;
};

// Phi-3's long-context RoPE ("longrope", formerly "su"): per-frequency divisors for short and
// long contexts as two tensors [rope_dim / 2], and attention scaled by
// sqrt(1 + ln(scale) / ln(original context)), scale = context / original context.
std::vector<Generated> longrope(const std::string& dir, const json& config, const json& s, int64_t rope_dim,
                                const std::string& a, GgufWriter& out) {
  const double ctx = static_cast<double>(config_int(dir, config, "max_position_embeddings", -1));
  const double orig = static_cast<double>(config_int(dir, config, "original_max_position_embeddings", -1));
  const double scale = ctx / orig;
  out.set(a + ".rope.scaling.attn_factor",
          GgufValue::f32(scale > 1 ? static_cast<float>(std::sqrt(1 + std::log(scale) / std::log(orig))) : 1.0f));
  std::vector<Generated> factors;
  for (const char* key : {"long_factor", "short_factor"}) {
    const auto it = s.find(key);
    if (it == s.end() || !it->is_array() || static_cast<int64_t>(it->size()) * 2 != rope_dim) {
      fail("{}: config.json rope_scaling.{} must be a list of {} numbers (rope dimensions / 2)", dir, key, rope_dim / 2);
    }
    std::vector<float> values;
    for (const json& v : *it) {
      if (!v.is_number() || !(v.get<double>() > 0)) fail("{}: config.json rope_scaling.{} holds {}", dir, key, v.dump());
      values.push_back(v.get<float>());
    }
    factors.push_back({std::string("rope_factors_") + (key[0] == 'l' ? "long" : "short") + ".weight", std::move(values)});
  }
  return factors;
}

// The architecture's config keys as `<arch>.*` metadata, the rotated part of each head
// (partial_rotary_factor) and rope scaling: linear as keys, llama3 and longrope as per-frequency
// factors (returned, as tensors).
std::vector<Generated> write_config_keys(const std::string& dir, const json& config, const ArchRow& arch, GgufWriter& out) {
  const std::string a = arch.gguf_arch;
  for (const KeyRow& key : arch.keys) {
    if (config.contains(key.hf) && !config.at(key.hf).is_null()) {
      out.set(a + "." + key.gguf, config_value(dir, config, key));
    } else if (key.fallback >= 0) {
      out.set(a + "." + key.gguf, key.type == KeyType::kU32 ? GgufValue::u32(static_cast<uint32_t>(key.fallback))
                                                            : GgufValue::f32(static_cast<float>(key.fallback)));
    } else if (key.required) {
      fail("{}: config.json has no '{}'", dir, key.hf);
    }
  }
  if (!config.contains("rms_norm_eps")) out.set(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(arch.default_rms_eps));
  const int64_t n_head = config_int(dir, config, "num_attention_heads", -1);
  const int64_t n_embd = config_int(dir, config, "hidden_size", -1);
  const int64_t head_dim = config_int(dir, config, "head_dim", n_embd / n_head);
  int64_t rope_dim = head_dim;
  if (const auto p = config.find("partial_rotary_factor"); p != config.end() && !p->is_null()) {
    if (!p->is_number() || !(p->get<double>() > 0 && p->get<double>() <= 1)) {
      fail("{}: config.json 'partial_rotary_factor' must be a number in (0, 1], got {}", dir, p->dump());
    }
    rope_dim = static_cast<int64_t>(p->get<double>() * static_cast<double>(n_embd)) / n_head;  // as llama.cpp
    out.set(a + ".rope.dimension_count", GgufValue::u32(static_cast<uint32_t>(rope_dim)));
  }
  const auto it = config.find("rope_scaling");
  if (it == config.end() || !it->is_object()) return {};
  const std::string type = it->value("rope_type", it->value("type", ""));
  if (type == "linear") {
    out.set(a + ".rope.scaling.type", GgufValue::str("linear"));
    out.set(a + ".rope.scaling.factor", GgufValue::f32(it->value("factor", 1.0f)));
  } else if (type == "llama3") {
    return {{"rope_freqs.weight", llama3_rope_factors(*it, config.value("rope_theta", 10000.0), head_dim)}};
  } else if (type == "longrope" || type == "su") {
    return longrope(dir, config, *it, rope_dim, a, out);
  } else if (type != "default") {
    fail("{}: rope scaling '{}' (config.json rope_scaling) is not supported", dir, type);
  }
  return {};
}

// The checkpoint's tensors by the names the table uses: a multimodal checkpoint's language
// model renamed by the row's prefixes, its other towers left out.
using TensorNames = std::map<std::string, const SafetensorsTensor*>;
TensorNames tensor_names(const ArchRow& arch, const SafetensorsModel& weights) {
  TensorNames names;
  for (const SafetensorsTensor* t : weights.tensors()) {
    std::string name = t->name;
    bool dropped = false;
    for (const PrefixRow& p : arch.prefixes) {
      if (name.rfind(p.from, 0) != 0) continue;
      if (p.to == nullptr) {
        dropped = true;
      } else {
        name = p.to + name.substr(std::strlen(p.from));
      }
      break;
    }
    if (!dropped) names.emplace(std::move(name), t);
  }
  return names;
}

// The table's tensor rows, global then per layer, found in the checkpoint; every checkpoint
// tensor must be used (a tensor rpu would silently drop is an error naming it).
std::vector<Planned> plan_tensors(const std::string& dir, const json& config, const ArchRow& arch,
                                  const TensorNames& weights) {
  const auto n_layer = static_cast<int>(config_int(dir, config, "num_hidden_layers", -1));
  const auto n_head = static_cast<int>(config_int(dir, config, "num_attention_heads", -1));
  const auto n_head_kv = static_cast<int>(config_int(dir, config, "num_key_value_heads", n_head));
  std::vector<Planned> planned;
  std::set<std::string> used;
  auto plan = [&](const TensorRow& row, int layer) {
    const std::string hf_name = replace_layer(row.hf, layer);
    const auto found = weights.find(hf_name);
    if (found == weights.end()) return;
    const SafetensorsTensor* t = found->second;
    used.insert(hf_name);
    const int heads = row.order == RowOrder::kRopeK ? n_head_kv : n_head;
    if (row.order != RowOrder::kAsIs && (t->shape.empty() || t->shape[0] % (2 * static_cast<uint64_t>(heads)) != 0)) {
      fail("{}: tensor '{}' has {} rows, not a whole number of {} heads", dir, t->name, t->shape.empty() ? 0 : t->shape[0], heads);
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
  for (const auto& [name, t] : weights) {
    if (!used.count(name) && !is_ignored_hf_tensor(name)) {
      fail("{}: tensor '{}' has no GGUF name for architecture {} ({} layers)", dir, t->name, arch.model_type, n_layer);
    }
  }
  return planned;
}

// The layer layout the engine gives the GGUF architecture (model/config.cpp: which layers are
// local, which rotate, the query scale) is fixed; GGUF (and llama.cpp) has no keys for it. A
// config.json that says otherwise would run wrongly, so it is an error naming the key.
void check_engine_layout(const std::string& dir, const json& config, const ArchSpec& spec) {
  const auto n_layer = static_cast<size_t>(config_int(dir, config, "num_hidden_layers", -1));
  auto list = [&](const char* key) -> const json* {
    const auto it = config.find(key);
    if (it == config.end() || it->is_null()) return nullptr;
    if (!it->is_array() || it->size() != n_layer) fail("{}: config.json '{}' must list all {} layers", dir, key, n_layer);
    return &*it;
  };
  // Layer l is local when the architecture has a window (the config's sliding_window, or the
  // engine's default for gemma2) and l % period < period - 1.
  const auto period = static_cast<size_t>(spec.swa_period);
  const auto window = config.find("sliding_window");
  const bool windowed = period > 0 && (spec.default_swa > 0 || (window != config.end() && window->is_number_integer() &&
                                                                window->get<int64_t>() > 0));
  if (const json* types = list("layer_types")) {
    for (size_t l = 0; l < n_layer; ++l) {
      const bool local = windowed && (period == 1 || l % period < period - 1);
      if ((*types)[l] != (local ? "sliding_attention" : "full_attention")) {
        fail("{}: config.json layer_types[{}] is {}; rpu runs {} with {}", dir, l, (*types)[l].dump(), spec.name,
             !windowed ? std::string("full attention in every layer")
                       : fmt::format("sliding-window attention in layer l exactly when l % {} < {}", period, period - 1));
      }
    }
  }
  const auto pattern = config.find("sliding_window_pattern");
  if (pattern != config.end() && !pattern->is_null() && period > 1 && *pattern != static_cast<int>(period)) {
    fail("{}: config.json sliding_window_pattern is {}; rpu runs {} with a period of {}", dir, pattern->dump(), spec.name, period);
  }
  const auto rope_period = static_cast<size_t>(spec.no_rope_period);
  if (const json* rope = list("no_rope_layers")) {
    for (size_t l = 0; l < n_layer; ++l) {
      const int rotates = rope_period > 0 && (l + 1) % rope_period == 0 ? 0 : 1;
      if ((*rope)[l] != rotates) {
        fail("{}: config.json no_rope_layers[{}] is {}; rpu runs {} with every {}th layer without RoPE", dir, l,
             (*rope)[l].dump(), spec.name, rope_period);
      }
    }
  }
  if (const auto q = config.find("query_pre_attn_scalar"); q != config.end() && !q->is_null()) {
    const int64_t n_head = config_int(dir, config, "num_attention_heads", -1);
    const int64_t n_embd = config_int(dir, config, "hidden_size", -1);
    const bool by_embd = spec.query_scale_embd_layers > 0 && static_cast<int>(n_layer) == spec.query_scale_embd_layers;
    const int64_t want = by_embd ? n_embd / n_head : config_int(dir, config, "head_dim", n_embd / n_head);
    if (!q->is_number() || q->get<double>() != static_cast<double>(want)) {
      fail("{}: config.json query_pre_attn_scalar is {}; rpu scales {} queries of this size by 1/sqrt({})", dir, q->dump(),
           spec.name, want);
    }
  }
}

// The language model's config: config.json, or its text_config for a multimodal checkpoint,
// with the row's defaults for keys it leaves out (so every later read sees them).
json model_config(const std::string& dir, const json& file, const ArchRow& arch) {
  json config = file;
  if (arch.text_config) {
    const auto it = file.find("text_config");
    if (it == file.end() || !it->is_object()) fail("{}: config.json has no text_config object", dir);
    config = *it;
  }
  for (const KeyRow& key : arch.keys) {
    if (key.fallback <= 0 || (config.contains(key.hf) && !config.at(key.hf).is_null())) continue;
    if (key.type == KeyType::kU32) {
      config[key.hf] = static_cast<int64_t>(key.fallback);
    } else {
      config[key.hf] = key.fallback;
    }
  }
  return config;
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
  const json file_config = read_json(fs::path(dir) / "config.json", true, dir);
  const json generation = read_json(fs::path(dir) / "generation_config.json", false, dir);
  const std::string model_type = file_config.value("model_type", "");
  const ArchRow* arch = find_hf_arch(model_type);
  if (arch == nullptr) {
    fail("{}: architecture '{}' (config.json model_type) is not supported (supported: {})", dir, model_type,
         supported_hf_arch_names());
  }
  const json config = model_config(dir, file_config, *arch);
  check_engine_layout(dir, config, *find_arch(arch->gguf_arch));
  const QuantScheme& scheme = options.scheme ? *options.scheme : *find_quant_scheme("Q8_0");
  m->gguf_arch_ = arch->gguf_arch;
  GgufWriter& out = m->writer_;
  out.set("general.architecture", GgufValue::str(m->gguf_arch_));
  out.set("general.name", GgufValue::str(folder_name(dir)));
  std::vector<Generated> generated = write_config_keys(dir, config, *arch, out);
  m->weights_ = SafetensorsModel::open_dir(dir);
  const TensorNames names = tensor_names(*arch, m->weights_);
  const std::vector<Planned> planned = plan_tensors(dir, config, *arch, names);

  const auto embd_it = names.find("model.embed_tokens.weight");
  const SafetensorsTensor* embd = embd_it == names.end() ? nullptr : embd_it->second;
  if (embd == nullptr || embd->shape.size() != 2) fail("{}: no 2-D model.embed_tokens.weight", dir);
  out.set(m->gguf_arch_ + ".vocab_size", GgufValue::u32(static_cast<uint32_t>(embd->shape[0])));
  // Special token ids come from the file's config (a multimodal config keeps them at the top).
  add_tokenizer_metadata(dir, file_config, generation, static_cast<int64_t>(embd->shape[0]), out);

  m->owned_.reserve(generated.size());  // their data is referenced by the writer
  for (Generated& g : generated) {
    m->owned_.push_back(std::move(g.values));
    out.add_tensor(g.name, DType::F32, {m->owned_.back().size()}, m->owned_.back().data());
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
