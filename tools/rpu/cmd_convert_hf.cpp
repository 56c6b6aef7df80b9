// rpu convert-hf DIR OUT.gguf [--type T] [--threads N]: a Hugging Face model folder (config.json,
// safetensors, tokenizer.json, ...) as a GGUF file llama.cpp loads (import/hf_import.h). The
// output is written to a temporary name and renamed when whole.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "import/hf_import.h"
#include "model/quant_plan.h"
#include "options.h"
#include "progress.h"

namespace rpu::cli {

namespace {

struct ConvertHfOptions {
  std::string dir;
  std::string out_path;
  std::string type = "F16";  // llama.cpp's converter's default
  RuntimeOptions runtime;
};

int convert_hf(const ConvertHfOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!std::filesystem::is_directory(o.dir, ec)) fail("'{}' is not a folder (a Hugging Face model folder is expected)", o.dir);
  const std::filesystem::path parent = std::filesystem::path(o.out_path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    fail("cannot write '{}': directory '{}' does not exist", o.out_path, parent.string());
  }
  ThreadPool pool(o.runtime.thread_count());
  ProgressBar bar("convert");
  hf::ImportOptions options;
  options.scheme = find_quant_scheme(o.type);
  options.pool = &pool;
  options.progress = bar.callback();
  const auto model = hf::HfModel::open(o.dir, options);
  model->write(o.out_path);
  bar.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "rpu: converted %s (%s) -> %s (%s, %s); %.2f s\n", o.dir.c_str(), model->gguf_arch().c_str(),
               o.out_path.c_str(), options.scheme->name,
               format_bytes(static_cast<double>(std::filesystem::file_size(o.out_path, ec))).c_str(), seconds);
  return 0;
}

}  // namespace

Action add_convert_hf_command(CLI::App& app) {
  auto o = std::make_shared<ConvertHfOptions>();
  CLI::App* cmd = app.add_subcommand("convert-hf", "convert a Hugging Face model folder to a GGUF file");
  cmd->add_option("dir", o->dir, "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("output", o->out_path, "output model (GGUF)")->required();
  cmd->add_option("--type", o->type, "file type (default: F16): " + quant_scheme_names())->check(quant_type_validator());
  cmd->add_option("-t,--threads", o->runtime.threads, "worker threads (default: all cores)")->check(CLI::Range(1, 1024));
  return [o] { return convert_hf(*o); };
}

}  // namespace rpu::cli
