#include <cstdio>
#include <memory>

#include "commands.h"
#include "options.h"
#include "core/error.h"
#include "engine/generate.h"
#include "model/forward.h"
#include "model/lora.h"
#include "model/model.h"
#include "text/tokenizer.h"

namespace rpu::cli {
namespace {

struct RunOptions {
  std::string model_path;
  std::string prompt;
  int steps = 256;
  std::string lora_path;
  RuntimeOptions runtime;
  SamplingParams sampling;
};

int run(const RunOptions& o) {
  o.sampling.validate();
  auto [model, tokenizer] = load_model_with_tokenizer(o.model_path);
  ThreadPool pool(o.runtime.thread_count());
  ForwardPass forward(*model, o.runtime.context_size(*model), &pool);
  std::unique_ptr<LoraAdapter> lora;
  if (!o.lora_path.empty()) {
    lora = LoraAdapter::load(o.lora_path, *model);
    forward.set_lora(lora.get());
  }

  GenerateOptions options;
  options.steps = o.steps;
  options.sampling = o.sampling;
  const auto prompt = tokenizer->encode(o.prompt, /*add_special=*/true);
  const GenerateResult result = generate(forward, *tokenizer, prompt, options, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  std::fprintf(stderr, "prompt: %d tokens in %.3f s (%.1f tok/s); generated: %d tokens in %.3f s (%.1f tok/s); stop: %s\n",
               result.prompt_tokens, result.prefill_seconds,
               result.prefill_seconds > 0 ? result.prompt_tokens / result.prefill_seconds : 0.0, result.generated_tokens,
               result.decode_seconds, result.decode_seconds > 0 ? result.generated_tokens / result.decode_seconds : 0.0,
               result.stop_reason.c_str());
  return 0;
}

}  // namespace

Action add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt, streamed to stdout");
  cmd->add_option("model", o->model_path, "model file (GGUF); default: the built-in arithmetic specialist")
      ->check(CLI::ExistingFile);
  cmd->add_option("-p,--prompt", o->prompt, "prompt text (default: empty, generate from BOS)");
  cmd->add_option("-n,--steps", o->steps,
                  "sequence length in tokens after BOS, prompt included (llama2.c convention)")
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--lora", o->lora_path, "LoRA adapter (GGUF) applied without merging")->check(CLI::ExistingFile);
  add_sampling_options(cmd, o->sampling);
  add_runtime_options(cmd, o->runtime);
  return [o] { return run(*o); };
}

}  // namespace rpu::cli
