#include "model/model.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "model/layer_tensors.h"

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

std::vector<MemoryRange> Model::weight_memory() const {
  std::vector<MemoryRange> ranges;
  const auto add_packed = [&ranges](const WeightMatrix& m) {
    if (m.packed != nullptr) ranges.push_back({m.packed.get(), m.packed_bytes});
  };
  for (const WeightMatrix* m : {&weights_.output, &weights_.cls, &weights_.cls_out}) add_packed(*m);
  for (const LayerWeights& l : weights_.layers) {
    for (const LayerTensor& t : layer_tensors()) {
      if (t.is_matrix()) add_packed(l.*t.matrix);
    }
  }
  const std::set<std::string_view> released(weights_.released_tensors.begin(), weights_.released_tensors.end());
  std::vector<MemoryRange> raw;
  for (const GgufTensorInfo& t : file_.tensors()) {
    if (t.n_bytes > 0 && !released.contains(t.name)) raw.push_back({t.data, t.n_bytes});
  }
  std::sort(raw.begin(), raw.end(), [](const MemoryRange& a, const MemoryRange& b) { return a.data < b.data; });
  std::vector<MemoryRange> merged;
  for (const MemoryRange& r : raw) {
    // Tensors are stored in order with less than `alignment` bytes of padding between them.
    const auto* begin = static_cast<const uint8_t*>(r.data);
    const auto* last_begin = merged.empty() ? nullptr : static_cast<const uint8_t*>(merged.back().data);
    const auto* last_end = merged.empty() ? nullptr : last_begin + merged.back().size;
    if (!merged.empty() && begin >= last_end && begin <= last_end + file_.alignment()) {
      merged.back().size = static_cast<size_t>(begin + r.size - last_begin);
    } else {
      merged.push_back(r);
    }
  }
  ranges.insert(ranges.end(), merged.begin(), merged.end());
  return ranges;
}

}  // namespace rpu
