// rpu export BASE.gguf OUT.gguf --merge ADAPTER.gguf [--type T]: a standalone model with a
// LoRA adapter merged into its weights (W + alpha/r * B A), each adapted matrix requantized
// to its stored type (or --type).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "core/dtype.h"
#include "core/error.h"
#include "model/lora.h"
#include "model/model.h"

namespace rpu::cli {
namespace {

struct ExportOptions {
  std::string base_path, out_path, adapter_path, type;
};

int run_export(const ExportOptions& o) {
  std::optional<DType> type;
  if (!o.type.empty()) {
    type = dtype_from_name(o.type);
    if (!type) fail("unknown tensor type '{}' (e.g. F32, F16, Q8_0, Q4_K)", o.type);
  }
  // The reference kernels keep the file's matrices as stored: merging reads them row by row.
  const auto model = Model::load(o.base_path, &reference_kernels());
  const auto adapter = LoraAdapter::load(o.adapter_path, *model);
  write_merged_model(o.out_path, *model, *adapter, type);
  std::fprintf(stderr, "rpu: wrote %s: %s with %zu adapted matrices merged\n", o.out_path.c_str(), o.base_path.c_str(),
               adapter->pairs().size());
  return 0;
}

}  // namespace

Action add_export_command(CLI::App& app) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = app.add_subcommand("export", "write a model with a LoRA adapter merged into its weights");
  cmd->add_option("base", o->base_path, "base model (GGUF)")->required()->check(CLI::ExistingFile);
  cmd->add_option("output", o->out_path, "merged model to write (GGUF)")->required();
  cmd->add_option("--merge", o->adapter_path, "LoRA adapter (GGUF) to merge")->required()->check(CLI::ExistingFile);
  cmd->add_option("--type", o->type, "store the merged matrices as this type (default: as stored)");
  return [o] { return run_export(*o); };
}

}  // namespace rpu::cli
