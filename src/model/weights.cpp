#include "model/weights.h"

#include <cmath>

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
    const GgufTensorInfo* t = find(name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, true);
    if (!can_dequantize(t->type)) {
      fail("{}: tensor '{}' has type {}, which rpu cannot compute with yet", file_.path(), name, dtype_name(t->type));
    }
    return MatrixView{t->type, t->data, rows, cols, dtype_row_bytes(t->type, static_cast<uint64_t>(cols))};
  }

  WeightMatrix matrix(const std::string& name, int64_t cols, int64_t rows) const { return prepare(view(name, cols, rows)); }

  WeightMatrix prepare(const MatrixView& v) const {
    WeightMatrix m;
    kernels_.pack(v, m);
    return m;
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
void load_rank_head(const GgufFile& file, const TensorFinder& tensors, const ModelConfig& c, ModelWeights& w) {
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
  const TensorFinder tensors(file, kernels);
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
      w.output = tensors.prepare(w.token_embd);
      w.tied_output = true;
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
  return w;
}

}  // namespace rpu
