// rpu quantize IN.gguf OUT.gguf TYPE [--threads N]: converts a model's tensors to a file type
// with llama.cpp's per-tensor mix (model/quant_plan.h), streaming the output. IN may be a pulled
// ORG/NAME[:QUANT] (its cached .gguf); a Hugging Face folder is rpu convert-hf's job.
#include <fmt/format.h>

#include <memory>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "import/hf_import.h"
#include "model/quant_plan.h"
#include "model/requantize.h"
#include "options.h"
#include "progress.h"

namespace rpu::cli {
namespace {

struct QuantizeOptions {
  std::string in_path;
  std::string out_path;
  std::string type;
  int threads = 0;
};

int quantize(const QuantizeOptions& o) {
  const QuantScheme* scheme = find_quant_scheme(o.type);  // validated while parsing
  if (hf::is_model_dir(o.in_path)) {
    fail("'{}' is a Hugging Face model folder; convert it with rpu convert-hf {} {} --type {}", o.in_path, o.in_path, o.out_path,
         o.type);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  ThreadPool pool(o.threads > 0 ? o.threads : (hw == 0 ? 1 : static_cast<int>(hw)));
  ProgressBar bar("quantize");
  const RequantizeResult r = requantize(o.in_path, o.out_path, *scheme, &pool, bar.callback());
  bar.finish();
  std::fprintf(stderr, "rpu: quantized %s (%s) -> %s (%s, %s): %zu tensors, %zu converted, %zu with fallback types; %.2f s\n",
               o.in_path.c_str(), format_bytes(static_cast<double>(r.bytes_in)).c_str(), o.out_path.c_str(), scheme->name,
               format_bytes(static_cast<double>(r.bytes_out)).c_str(), r.n_tensors, r.n_converted, r.n_fallback, r.seconds);
  return 0;
}

}  // namespace

CLI::Validator quant_type_validator() {
  return CLI::Validator(
      [](std::string& name) -> std::string {
        if (find_quant_scheme(name) != nullptr) return "";
        return fmt::format("unknown type '{}' (types: {})", name, quant_scheme_names());
      },
      "TYPE");
}

Action add_quantize_command(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "convert a model to another tensor type (llama.cpp's per-tensor mix)");
  cmd->add_option("input", o->in_path, "input model (GGUF) or pulled ORG/NAME[:QUANT]")->required()->transform(model_reference());
  cmd->add_option("output", o->out_path, "output model (GGUF)")->required();
  cmd->add_option("type", o->type, "file type: " + quant_scheme_names())->required()->check(quant_type_validator());
  cmd->add_option("-t,--threads", o->threads, "worker threads (default: all cores)")->check(CLI::Range(1, 1024));
  return [o] { return quantize(*o); };
}

}  // namespace rpu::cli
