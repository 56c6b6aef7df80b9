#include "model/lora.h"

#include "core/error.h"
#include "core/dtype.h"
#include "kernels/quant.h"
#include "model/layer_tensors.h"

namespace rpu {
namespace {

constexpr std::string_view kSuffixA = ".lora_a";
constexpr std::string_view kSuffixB = ".lora_b";

std::vector<float> tensor_f32(const GgufTensorInfo& t) {
  std::vector<float> out(t.n_elements);
  dequantize_row(t.type, t.data, out.data(), static_cast<int64_t>(t.n_elements));
  return out;
}

}  // namespace

std::map<std::string, const WeightMatrix*> named_matrices(const Model& model) {
  std::map<std::string, const WeightMatrix*> m;
  const ModelWeights& w = model.weights();
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    for (const LayerTensor& t : layer_tensors()) {
      // (A matrix the layout lacks, as bert's gate, has no rows and is not named.)
      if (t.is_matrix() && (l.*t.matrix).view.rows > 0) m[layer_tensor_name(static_cast<int>(i), t)] = &(l.*t.matrix);
    }
  }
  if (!w.tied_output && w.output.view.rows > 0) m["output.weight"] = &w.output;
  return m;
}

std::unique_ptr<LoraAdapter> LoraAdapter::load(const std::string& path, const Model& model) {
  return from_gguf(GgufFile::open(path), model);
}

std::unique_ptr<LoraAdapter> LoraAdapter::from_gguf(const GgufFile& file, const Model& model) {
  const std::string name = file.path().empty() ? "adapter" : file.path();
  if (file.get_string("general.type") != "adapter" || file.get_string("adapter.type") != "lora") {
    fail("{}: not a LoRA adapter (general.type must be 'adapter' and adapter.type 'lora')", name);
  }
  const std::string arch = file.get_string("general.architecture");
  if (arch != model.config().arch->name) {
    fail("{}: the adapter is for architecture '{}' but the model is '{}'", name, arch, model.config().arch->name);
  }
  auto adapter = std::unique_ptr<LoraAdapter>(new LoraAdapter());
  const GgufValue& alpha = file.require("adapter.lora.alpha");
  adapter->alpha_ = static_cast<float>(alpha.as_double("adapter.lora.alpha"));
  const auto matrices = named_matrices(model);
  for (const GgufTensorInfo& t : file.tensors()) {
    const std::string_view tn = t.name;
    if (tn.size() <= kSuffixA.size() || tn.substr(tn.size() - kSuffixA.size()) != kSuffixA) {
      if (tn.size() > kSuffixB.size() && tn.substr(tn.size() - kSuffixB.size()) == kSuffixB) continue;
      fail("{}: unexpected tensor '{}' (adapters hold only .lora_a / .lora_b pairs)", name, t.name);
    }
    const std::string base(tn.substr(0, tn.size() - kSuffixA.size()));
    const GgufTensorInfo* b = file.find_tensor(base + std::string(kSuffixB));
    if (b == nullptr) fail("{}: '{}' has no matching '{}{}'", name, t.name, base, kSuffixB);
    const auto it = matrices.find(base);
    if (it == matrices.end()) fail("{}: the model has no matrix '{}' to adapt", name, base);
    const MatrixView& w = it->second->view;
    // ggml order: shape[0] is the row length. A: [rank, in] -> shape {in, rank}; B: [out, rank] -> {rank, out}.
    if (t.shape.size() != 2 || b->shape.size() != 2) fail("{}: '{}' must be 2-D", name, base);
    const int64_t rank = static_cast<int64_t>(t.shape[1]);
    if (static_cast<int64_t>(t.shape[0]) != w.cols || static_cast<int64_t>(b->shape[1]) != w.rows ||
        static_cast<int64_t>(b->shape[0]) != rank || rank < 1) {
      fail("{}: '{}' shapes A {}x{} and B {}x{} do not fit the matrix {}x{}", name, base, t.shape[1], t.shape[0],
           b->shape[1], b->shape[0], w.rows, w.cols);
    }
    LoraPair pair;
    pair.rank = static_cast<int>(rank);
    pair.in = w.cols;
    pair.out = w.rows;
    pair.a = tensor_f32(t);
    pair.b = tensor_f32(*b);
    adapter->pairs_.emplace(base, std::move(pair));
  }
  if (adapter->pairs_.empty()) fail("{}: the adapter holds no LoRA pairs", name);
  return adapter;
}

const LoraPair* LoraAdapter::find(const std::string& weight_name) const {
  const auto it = pairs_.find(weight_name);
  return it == pairs_.end() ? nullptr : &it->second;
}

void LoraAdapter::apply(const LoraPair& pair, const float* x, int64_t n_tokens, float* y) const {
  const float s = scale(pair);
  std::vector<float> t(static_cast<size_t>(pair.rank));
  for (int64_t n = 0; n < n_tokens; ++n) {
    const float* xr = x + n * pair.in;
    // t = A x  [rank]
    for (int r = 0; r < pair.rank; ++r) {
      const float* ar = pair.a.data() + static_cast<size_t>(r) * pair.in;
      float acc = 0.0f;
      for (int64_t i = 0; i < pair.in; ++i) acc += ar[i] * xr[i];
      t[static_cast<size_t>(r)] = acc * s;
    }
    // y += B t  [out]
    float* yr = y + n * pair.out;
    for (int64_t o = 0; o < pair.out; ++o) {
      const float* br = pair.b.data() + o * pair.rank;
      float acc = 0.0f;
      for (int r = 0; r < pair.rank; ++r) acc += br[r] * t[static_cast<size_t>(r)];
      yr[o] += acc;
    }
  }
}

void write_lora_gguf(const std::string& path, const std::string& arch, float alpha,
                     const std::map<std::string, LoraPair>& pairs) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::str(arch));
  w.set("general.type", GgufValue::str("adapter"));
  w.set("adapter.type", GgufValue::str("lora"));
  w.set("adapter.lora.alpha", GgufValue::f32(alpha));
  for (const auto& [name, pair] : pairs) {
    w.add_tensor(name + std::string(kSuffixA), DType::F32,
                 {static_cast<uint64_t>(pair.in), static_cast<uint64_t>(pair.rank)}, pair.a.data());
    w.add_tensor(name + std::string(kSuffixB), DType::F32,
                 {static_cast<uint64_t>(pair.rank), static_cast<uint64_t>(pair.out)}, pair.b.data());
  }
  w.write(path);
}

void write_merged_model(const std::string& path, const Model& base, const LoraAdapter& adapter,
                        std::optional<DType> type) {
  const GgufFile& file = base.file();
  GgufWriter w;
  for (const auto& [key, value] : file.metadata()) w.set(key, value);
  for (const GgufTensorInfo& t : file.tensors()) {
    const LoraPair* pair = adapter.find(t.name);
    if (pair == nullptr) {
      w.add_tensor(t.name, t.type, t.shape, t.data);
      continue;
    }
    const DType out_type = type.value_or(t.type);
    const int64_t cols = pair->in;
    if (cols % dtype_info(out_type).block_size != 0) {
      fail("cannot store '{}' as {}: {} columns are not a multiple of its block size", t.name, dtype_name(out_type), cols);
    }
    const uint64_t in_row_bytes = dtype_row_bytes(t.type, static_cast<uint64_t>(cols));
    const uint64_t out_row_bytes = dtype_row_bytes(out_type, static_cast<uint64_t>(cols));
    const float s = adapter.scale(*pair);
    w.add_produced_tensor(t.name, out_type, t.shape, [&t, pair, s, cols, in_row_bytes, out_row_bytes, out_type](
                                                          uint64_t first, uint64_t n, uint8_t* dst) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (uint64_t r = first; r < first + n; ++r) {
        dequantize_row(t.type, t.data + r * in_row_bytes, row.data(), cols);
        // W[r, :] += s * sum_k B[r, k] A[k, :]
        for (int k = 0; k < pair->rank; ++k) {
          const float coef = s * pair->b[static_cast<size_t>(r) * pair->rank + static_cast<size_t>(k)];
          const float* a = pair->a.data() + static_cast<size_t>(k) * cols;
          for (int64_t c = 0; c < cols; ++c) row[static_cast<size_t>(c)] += coef * a[c];
        }
        quantize_row(out_type, row.data(), dst + (r - first) * out_row_bytes, cols);
      }
    });
  }
  w.write(path);
}

}  // namespace rpu
