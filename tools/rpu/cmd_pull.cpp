// rpu pull ORG/NAME[:QUANT]: a model from the Hugging Face hub into huggingface_hub's cache
// (src/hub/pull.h), so that `rpu run ORG/NAME[:QUANT]` finds it there afterwards.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "hub/pull.h"
#include "progress.h"

namespace rpu::cli {
namespace {

struct PullCommandOptions {
  std::string reference;
  std::string revision = "main";
};

int pull(const PullCommandOptions& o) {
  const hub::ModelReference ref = hub::model_reference_or_fail(o.reference);
  const hub::HubSettings settings = hub::settings_from_environment();
  ProgressBar bar("pull " + ref.text(), "file");
  hub::PullOptions options;
  options.revision = o.revision;
  options.progress = [&bar](const hub::PullProgress& p) {
    bar.update(ConvertProgress{p.file, p.n_files, p.bytes_done, p.bytes_total});
  };
  options.note = [&bar](const std::string& line) {
    bar.finish();
    std::fprintf(stderr, "rpu: %s\n", line.c_str());
  };
  const hub::PullResult result = hub::pull_model(settings, ref, options);
  bar.finish();
  if (result.offline) {
    fmt::print("{}: offline (HF_HUB_OFFLINE), using the cache\n{}\n", ref.text(), result.path);
    return 0;
  }
  fmt::print("{} (commit {}): {} file{}, {} downloaded ({})\n{}\n", ref.text(), result.commit.substr(0, 12), result.files,
             result.files == 1 ? "" : "s", result.downloaded, format_bytes(static_cast<double>(result.downloaded_bytes)),
             result.path);
  return 0;
}

}  // namespace

Action add_pull_command(CLI::App& app) {
  auto o = std::make_shared<PullCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pull", "download a model from the Hugging Face hub into its cache (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE)");
  cmd->add_option("model", o->reference, "ORG/NAME or ORG/NAME:QUANT (a GGUF file of that quant, e.g. Q4_K_M)")->required();
  cmd->add_option("--revision", o->revision, "branch, tag or commit (default: main)");
  return [o] { return pull(*o); };
}

}  // namespace rpu::cli
