#include "model_catalog.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "io/gguf.h"

namespace rpu::cli {
namespace {

namespace fs = std::filesystem;

struct Found {
  std::string id, path;
  std::shared_ptr<const GgufFile> gguf;  // header and tensor table (no weights read); null for folders
};

// A file's kind from its metadata only (the header is parsed, no weights are read).
void classify_gguf(const fs::path& path, std::vector<Found>& models, std::vector<Found>& adapters) {
  try {
    auto file = std::make_shared<const GgufFile>(GgufFile::open(path.string()));
    const bool adapter = file->get_string("general.type", "model") == "adapter";
    (adapter ? adapters : models).push_back({path.stem().string(), path.string(), std::move(file)});
  } catch (const Error& e) {
    std::fprintf(stderr, "rpu: warning: skipping %s: %s\n", path.c_str(), e.what());
  }
}

// Whether every LoRA pair of the adapter fits a matrix of the model: the same architecture and,
// per "NAME.lora_a" {in, rank} and "NAME.lora_b" {rank, out}, a tensor NAME of shape {in, out}.
bool adapter_fits(const GgufFile& adapter, const GgufFile& model) {
  if (adapter.get_string("general.architecture") != model.get_string("general.architecture")) return false;
  constexpr std::string_view kA = ".lora_a";
  for (const GgufTensorInfo& a : adapter.tensors()) {
    const std::string_view name = a.name;
    if (name.size() <= kA.size() || name.substr(name.size() - kA.size()) != kA) continue;
    const std::string base(name.substr(0, name.size() - kA.size()));
    const GgufTensorInfo* b = adapter.find_tensor(base + ".lora_b");
    const GgufTensorInfo* w = model.find_tensor(base);
    if (b == nullptr || w == nullptr || a.shape.size() != 2 || b->shape.size() != 2 || w->shape.size() != 2 ||
        a.shape[0] != w->shape[0] || b->shape[1] != w->shape[1]) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<ModelEntry> scan_model_dir(const std::string& dir) {
  std::vector<Found> models, adapters;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".gguf") {
      classify_gguf(e.path(), models, adapters);
    } else if (e.is_directory() && fs::exists(e.path() / "config.json")) {
      models.push_back({e.path().filename().string(), e.path().string(), nullptr});  // a Hugging Face folder
    }
  }
  if (ec) fail("--models {}: {}", dir, ec.message());
  std::vector<ModelEntry> entries;
  for (const Found& m : models) entries.push_back({m.id, m.path, ""});
  for (const Found& a : adapters) {
    for (const Found& m : models) {
      if (m.gguf && adapter_fits(*a.gguf, *m.gguf)) entries.push_back({m.id + "+" + a.id, m.path, a.path});
    }
  }
  if (models.empty()) fail("--models {}: no GGUF model files or Hugging Face model folders in it", dir);
  std::sort(entries.begin(), entries.end(), [](const ModelEntry& x, const ModelEntry& y) { return x.id < y.id; });
  return entries;
}

}  // namespace rpu::cli
