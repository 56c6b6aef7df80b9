#include <fmt/format.h>

#include <memory>

#include "commands.h"
#include "options.h"
#include "core/error.h"
#include "import/hf_import.h"
#include "io/gguf.h"
#include "model/config.h"

namespace rpu::cli {
namespace {

int info(const std::string& path, const std::string& hf_type, bool all_metadata) {
  const GgufFile file = hf::open_model_path(path, hf_type);  // a folder: as it would be converted
  fmt::print("file: {}\nGGUF version: {}, {} metadata keys, {} tensors, alignment {}, data at offset {}, {} bytes\n",
             path, file.version(), file.metadata().size(), file.tensors().size(), file.alignment(),
             file.data_offset(), file.file_size());
  fmt::print("\nmetadata:\n");
  for (const auto& [key, value] : file.metadata()) {
    fmt::print("  {:<44} {:<8} {}\n", key, gguf_type_name(value.type()), value.to_display(all_metadata ? 1 << 30 : 8));
  }
  uint64_t total_elements = 0, total_bytes = 0;
  fmt::print("\ntensors:\n  {:<36} {:<8} {:<24} {:>12} {:>12}\n", "name", "type", "shape", "elements", "offset");
  for (const auto& t : file.tensors()) {
    fmt::print("  {:<36} {:<8} {:<24} {:>12} {:>12}\n", t.name, dtype_name(t.type),
               fmt::format("[{}]", fmt::join(t.shape, ", ")), t.n_elements, t.offset);
    total_elements += t.n_elements;
    total_bytes += t.n_bytes;
  }
  fmt::print("  total: {} parameters, {:.2f} MiB of tensor data\n", total_elements, total_bytes / 1048576.0);
  if (file.find("general.architecture") != nullptr) {
    try {
      const ModelConfig c = config_from_gguf(file);
      fmt::print("\nmodel: {} | vocab {} | embd {} | layers {} | heads {} (kv {}) | head dim {} | ffn {} | ctx {} | "
                 "rope theta {} | rms eps {}\n",
                 c.arch->name, c.n_vocab, c.n_embd, c.n_layer, c.n_head, c.n_head_kv, c.head_dim, c.n_ff,
                 c.n_ctx_train, c.rope_theta, c.rms_eps);
    } catch (const Error& e) {
      fmt::print("\nmodel: cannot run: {}\n", e.what());
    }
  }
  return 0;
}

}  // namespace

Action add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("info", "print a GGUF file's metadata and tensor table");
  auto hf_type = std::make_shared<std::string>();
  cmd->add_option("model", *path, "GGUF file, Hugging Face folder or pulled ORG/NAME[:QUANT]")->required()->transform(model_reference());
  cmd->add_option("--type", *hf_type, "a folder's tensor type, as `rpu convert-hf --type` (default: Q8_0)");
  cmd->add_flag("--all", *all, "print arrays in full");
  return [path, hf_type, all] { return info(*path, *hf_type, *all); };
}

}  // namespace rpu::cli
