// rpu synth --like PRESET --type TYPE [--seed S] OUT.gguf: a random-weight model with a real
// model's exact shapes, hyper-parameters and tokenizer layout (model/synth_presets.h), for
// benchmarks. Weights are generated and quantized row by row while the file streams out.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "model/synth_presets.h"
#include "progress.h"

namespace rpu::cli {
namespace {

struct SynthOptions {
  std::string like;
  std::string type;
  std::string out_path;
  uint64_t seed = 1;
  int threads = 0;
  int n_layer = 0;  // hidden, for tests: fewer layers than the preset
};

int synth(const SynthOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  SynthSpec spec = find_synth_preset(o.like)->spec;  // both validated while parsing
  spec.scheme = find_quant_scheme(o.type);
  spec.seed = o.seed;
  if (o.n_layer > 0) spec.n_layer = o.n_layer;
  const std::filesystem::path parent = std::filesystem::path(o.out_path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent)) {
    fail("cannot write '{}': directory '{}' does not exist", o.out_path, parent.string());
  }
  const unsigned hw = std::thread::hardware_concurrency();
  ThreadPool pool(o.threads > 0 ? o.threads : (hw == 0 ? 1 : static_cast<int>(hw)));
  ProgressBar bar("synth");
  GgufWriter writer = synth_model(spec, &pool, bar.callback());
  writer.write(o.out_path);
  bar.finish();
  uint64_t params = 0, bytes = 0;
  for (const auto& t : synth_tensors(spec)) {
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    params += n;
    bytes += dtype_row_bytes(t.type, t.shape[0]) * (n / t.shape[0]);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "rpu: wrote %s: like %s, %s, %.2f M parameters, %s of tensors; %.2f s\n", o.out_path.c_str(),
               o.like.c_str(), spec.scheme->name, params / 1e6, format_bytes(static_cast<double>(bytes)).c_str(), seconds);
  return 0;
}

}  // namespace

Action add_synth_command(CLI::App& app) {
  auto o = std::make_shared<SynthOptions>();
  CLI::App* cmd = app.add_subcommand("synth", "write a random-weight model with a real model's shapes and tokenizer");
  cmd->add_option("output", o->out_path, "output model (GGUF)")->required();
  cmd->add_option("--like", o->like, "preset: " + synth_preset_names())
      ->required()
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            if (find_synth_preset(name) != nullptr) return "";
            return fmt::format("unknown preset '{}' (presets: {})", name, synth_preset_names());
          },
          "PRESET"));
  cmd->add_option("--type", o->type, "file type: " + quant_scheme_names())->required()->check(quant_type_validator());
  cmd->add_option("-s,--seed", o->seed, "random seed; the same seed writes the same file");
  cmd->add_option("-t,--threads", o->threads, "worker threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_option("--n-layer", o->n_layer, "override the layer count (for tests)")->check(CLI::Range(1, 4096))->group("");
  return [o] { return synth(*o); };
}

}  // namespace rpu::cli
