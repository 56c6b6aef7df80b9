#include "model/weights.h"

#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/quant.h"
#include "model/layer_tensors.h"

namespace rpu {
namespace {

std::string shape_string(const std::vector<uint64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

class TensorFinder {
 public:
  TensorFinder(const GgufFile& file, const KernelSet& kernels) : file_(file), kernels_(kernels) {}

  const GgufTensorInfo* find(const std::string& name, std::vector<uint64_t> shape, bool required) const {
    const GgufTensorInfo* t = file_.find_tensor(name);
    if (t == nullptr) {
      if (required) fail("{}: tensor '{}' is missing", file_.path(), name);
      return nullptr;
    }
    if (t->shape != shape) {
      fail("{}: tensor '{}' has shape {} but the model config needs {}", file_.path(), name,
           shape_string(t->shape), shape_string(shape));
    }
    return t;
  }

  // shape = {cols, rows}, GGUF order.
  MatrixView view(const std::string& name, int64_t cols, int64_t rows) const {
    return view_of(*find(name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, true));
  }

  // A matrix read only through the kernel set's matmul; once the set holds it repacked, the
  // file's pages of it are given back.
  WeightMatrix matrix(const std::string& name, int64_t cols, int64_t rows) {
    const GgufTensorInfo& t = *find(name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, true);
    WeightMatrix m = prepare(view_of(t));
    if (m.packed != nullptr) release(t, /*read_raw=*/false);
    return m;
  }

  // Gives back the mapping's pages of t, which the kernel set now holds repacked, so that the
  // weights are resident once rather than twice (mapping + packed copy); done tensor by tensor
  // so the peak stays low too. `read_raw`: the tensor is still read raw later (a tied
  // embedding table; its reads fault in just the pages they touch).
  void release(const GgufTensorInfo& t, bool read_raw) {
    if (file_.release_tensor_pages(t) > 0) released_.push_back({&t, read_raw});
  }

  // Once more at the end of loading, since reading one tensor also maps its neighbours' pages
  // (the kernel's fault-around, 64 KiB), which may be those of a tensor released just before.
  void finish(ModelWeights& w) const {
    for (const auto& [t, read_raw] : released_) {
      w.released_file_bytes += file_.release_tensor_pages(*t);
      if (!read_raw) w.released_tensors.push_back(t->name);
    }
  }

  WeightMatrix prepare(const MatrixView& v) const {
    WeightMatrix m;
    kernels_.pack(v, m);
    return m;
  }

  MatrixView view_of(const GgufTensorInfo& t) const {
    if (!can_dequantize(t.type)) {
      fail("{}: tensor '{}' has type {}, which rpu cannot compute with yet", file_.path(), t.name, dtype_name(t.type));
    }
    const auto cols = static_cast<int64_t>(t.shape[0]);
    return MatrixView{t.type, t.data, static_cast<int64_t>(t.shape[1]), cols, dtype_row_bytes(t.type, t.shape[0])};
  }

  std::vector<float> vector(const std::string& name, int64_t n, bool required) const {
    const GgufTensorInfo* t = find(name, {static_cast<uint64_t>(n)}, required);
    if (t == nullptr) return {};
    if (!can_dequantize(t->type)) fail("{}: tensor '{}' has unsupported type {}", file_.path(), name, dtype_name(t->type));
    std::vector<float> values(static_cast<size_t>(n));
    dequantize_row(t->type, t->data, values.data(), n);
    return values;
  }

 private:
  const GgufFile& file_;
  const KernelSet& kernels_;
  std::vector<std::pair<const GgufTensorInfo*, bool>> released_;  // (tensor, read_raw)
};

// The summed input embeddings of an encoder: position and token-type tables and their LayerNorm.
void load_encoder_input(const GgufFile& file, const TensorFinder& tensors, const ModelConfig& c, ModelWeights& w) {
  if (c.arch->positions == Positions::kLearned) {
    w.position_embd = tensors.view("position_embd.weight", c.n_embd, c.n_ctx_train);
  }
  if (c.arch->token_types && file.find_tensor("token_types.weight") != nullptr) {
    // Every token is of type 0 (llama.cpp does the same): only the first row is used.
    const MatrixView types = tensors.view("token_types.weight", c.n_embd, c.n_token_types);
    w.token_type0.resize(static_cast<size_t>(c.n_embd));
    dequantize_row(types.type, types.row(0), w.token_type0.data(), c.n_embd);
  }
  if (c.arch->input_norm) {
    w.input_norm = tensors.vector("token_embd_norm.weight", c.n_embd, true);
    w.input_norm_b = tensors.vector("token_embd_norm.bias", c.n_embd, true);
  }
}

// A cross-encoder's classification head: `cls` [n_embd, n_embd] (+ bias) and `cls.output`
// [n_cls_out, n_embd] (+ bias), llama.cpp's names for BERT's pooler and classifier.
void load_rank_head(const GgufFile& file, TensorFinder& tensors, const ModelConfig& c, ModelWeights& w) {
  if (file.find_tensor("cls.weight") != nullptr) {
    w.cls = tensors.matrix("cls.weight", c.n_embd, c.n_embd);
    w.cls_b = tensors.vector("cls.bias", c.n_embd, false);
  }
  w.n_cls_out = c.n_embd;
  if (const GgufTensorInfo* out = file.find_tensor("cls.output.weight")) {
    if (out->shape.size() != 2 || out->shape[1] < 1 || out->shape[1] > 1024) {
      fail("{}: tensor 'cls.output.weight' has shape {}; a classifier needs [{}, labels] with 1 to 1024 labels",
           file.path(), shape_string(out->shape), c.n_embd);
    }
    w.n_cls_out = static_cast<int>(out->shape[1]);
    w.cls_out = tensors.matrix("cls.output.weight", c.n_embd, w.n_cls_out);
    w.cls_out_b = tensors.vector("cls.output.bias", w.n_cls_out, false);
  } else if (w.cls.view.rows == 0) {
    fail("{}: pooling type is rank but the file has no classification head (tensors 'cls.weight' or "
         "'cls.output.weight')",
         file.path());
  }
}

}  // namespace

ModelWeights load_weights(const GgufFile& file, const ModelConfig& c, const KernelSet& kernels) {
  TensorFinder tensors(file, kernels);
  ModelWeights w;
  w.token_embd = tensors.view("token_embd.weight", c.n_embd, c.n_vocab);
  if (c.arch->encoder) {
    load_encoder_input(file, tensors, c, w);  // and no output head
    if (c.pooling == Pooling::kRank) load_rank_head(file, tensors, c, w);
  } else {
    w.output_norm = tensors.vector("output_norm.weight", c.n_embd, true);
    if (file.find_tensor("output.weight") != nullptr) {
      w.output = tensors.matrix("output.weight", c.n_embd, c.n_vocab);
    } else {
      // Tied: the head is packed from the embedding table, which token lookups (get_rows) go
      // on reading raw, a row at a time. Its pages are given back all the same: a lookup
      // faults in just the rows it reads (as for an untied table, never read whole), where
      // keeping them would hold the whole table twice. Still locked by --mlock (read raw).
      w.output = tensors.prepare(w.token_embd);
      w.tied_output = true;
      if (w.output.packed != nullptr) tensors.release(*file.find_tensor("token_embd.weight"), /*read_raw=*/true);
    }
  }
  w.rope_freqs = tensors.vector("rope_freqs.weight", c.rope_dim / 2, false);
  w.rope_factors_long = tensors.vector("rope_factors_long.weight", c.rope_dim / 2, false);
  w.rope_factors_short = tensors.vector("rope_factors_short.weight", c.rope_dim / 2, false);
  if (w.rope_factors_long.empty() != w.rope_factors_short.empty()) {
    fail("{}: rope_factors_long.weight and rope_factors_short.weight must come together", file.path());
  }
  for (const auto* factors : {&w.rope_freqs, &w.rope_factors_long, &w.rope_factors_short}) {
    for (float f : *factors) {
      if (!(f > 0 && std::isfinite(f))) fail("{}: a rope frequency factor tensor holds a non-positive factor {}", file.path(), f);
    }
  }

  // Optional groups (biases, q/k norms) are loaded when present, and required when the
  // architecture needs them; matrices the layout has not (a gate) are left empty.
  const LayerDims dims = LayerDims::of(c);
  const LayerVariant required = LayerVariant::required_by(*c.arch);
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    for (const LayerTensor& t : layer_tensors()) {
      const std::string name = layer_tensor_name(i, t);
      if (t.is_matrix()) {
        if (required.has(t.presence)) l.*t.matrix = tensors.matrix(name, t.n_cols(dims), t.n_rows(dims));
      } else {
        l.*t.vector = tensors.vector(name, t.n_cols(dims), required.has(t.presence));
      }
    }
  }
  tensors.finish(w);
  return w;
}

}  // namespace rpu
