// rpu run [MODEL] -p PROMPT: a completion through the pipeline (the same LocalBackend and
// scheduler as `rpu serve`), streamed to stdout after the prompt itself.
#include <chrono>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "local_session.h"
#include "options.h"
#include "reason_flag.h"
#include "core/error.h"
#include "reasoning/strategies.h"
#include "tokenizer/tokenizer.h"

namespace rpu::cli {
namespace {

struct RunOptions {
  std::string model_path;
  std::string hf_type;
  std::string prompt;
  int steps = 256;
  std::string lora_path;
  RuntimeOptions runtime;
  SamplingParams sampling;
  ReasonFlags reason;
};

void write_out(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// --reason: the strategy samples continuations of the prompt and prints the one it chose; what
// it saw (votes, confidence, samples) goes to stderr.
int run_reasoned(LocalSession& session, const RunOptions& o, const CompletionRequest& request,
                 const nlohmann::ordered_json& reasoning) {
  const reasoning::ReasoningSpec spec = reasoning::parse_reasoning_spec(reasoning);
  std::unique_ptr<LocalSession> judge;
  if (!o.reason.judge_path.empty()) judge = open_local_session({o.reason.judge_path, "", "", 1}, o.runtime);
  reasoning::SampleSource source(*session.backend, request, spec.temperature, reasoning_slots(reasoning));
  const Tokenizer& tokenizer = *session.loaded.tokenizer;
  const int32_t bos = tokenizer.vocab().bos;
  // Step search continues raw text: the prompt with its BOS written out (parsed back as special).
  const std::string step_prompt = (bos >= 0 ? tokenizer.vocab().pieces[static_cast<size_t>(bos)] : "") + o.prompt;
  const auto start = std::chrono::steady_clock::now();
  const reasoning::ReasonedAnswer answer =
      reasoning::reason(source, spec, judge ? judge->backend.get() : nullptr, o.prompt, step_prompt);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_out(answer.chosen.text + "\n");
  std::fprintf(stderr, "reasoning: %s; %d tokens sampled in %.3f s\n", answer.extension.dump().c_str(),
               source.completion_tokens(), seconds);
  return 0;
}

int run(const RunOptions& o) {
  o.sampling.validate();
  const std::optional<nlohmann::ordered_json> reasoning = reasoning_json(o.reason);
  SessionOptions session_options;
  session_options.model_path = o.model_path;
  session_options.hf_type = o.hf_type;
  session_options.lora_path = o.lora_path;
  session_options.slots = reasoning ? reasoning_slots(*reasoning) : 1;
  auto session = open_local_session(session_options, o.runtime);
  require_text_generation(*session, "run");
  const Tokenizer& tokenizer = *session->loaded.tokenizer;

  const std::vector<int32_t> prompt = tokenizer.encode(o.prompt, /*add_special=*/true);
  if (prompt.empty()) fail("the prompt has no tokens (the vocabulary has no BOS token and the prompt is empty)");
  TextStream echo(tokenizer);
  for (int32_t t : prompt) write_out(echo.push(t));
  write_out(echo.flush());
  // -n counts the sequence after a leading BOS, prompt included (llama2.c's "steps").
  const int bos_offset = prompt.front() == tokenizer.vocab().bos ? 1 : 0;
  const int to_generate = o.steps + bos_offset - static_cast<int>(prompt.size());

  CompletionRequest request;
  request.model = session->backend->model_id();
  request.prompts.push_back({"", prompt, true});
  request.max_tokens = to_generate;
  request.sampling = o.sampling;
  request.has_seed = true;
  if (reasoning) return run_reasoned(*session, o, request, *reasoning);
  const auto start = std::chrono::steady_clock::now();
  double first_token_seconds = 0;
  CallResult result;
  if (to_generate > 0) {
    result = run_completion(*session->backend, request, [&](const ChatEvent& e) {
      if (first_token_seconds == 0 && e.completion_tokens > 0) {
        first_token_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      write_out(e.text);
    });
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_out("\n");
  const int generated = result.choices.empty() ? 0 : result.choices[0].completion_tokens;
  const std::string stop = result.choices.empty() ? "length" : result.choices[0].finish_reason;
  const double decode = total - first_token_seconds;
  std::fprintf(stderr,
               "prompt: %zu tokens, first token after %.3f s; generated: %d tokens in %.3f s (%.1f tok/s); stop: %s\n",
               prompt.size(), first_token_seconds, generated, total,
               decode > 0 && generated > 1 ? (generated - 1) / decode : 0.0, stop.c_str());
  return 0;
}

}  // namespace

Action add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt, streamed to stdout");
  cmd->add_option("model", o->model_path,
                  "model file (GGUF) or Hugging Face folder; default: the built-in arithmetic specialist")
      ->check(model_path_check());
  cmd->add_option("-p,--prompt", o->prompt, "prompt text (default: empty, generate from BOS)");
  cmd->add_option("-n,--steps", o->steps,
                  "sequence length in tokens after BOS, prompt included (llama2.c convention)")
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--lora", o->lora_path, "LoRA adapter (GGUF) applied without merging")->check(CLI::ExistingFile);
  add_sampling_options(cmd, o->sampling);
  add_reason_options(cmd, o->reason);
  add_runtime_options(cmd, o->runtime);
  add_hf_type_option(cmd, o->hf_type);
  return [o] { return run(*o); };
}

}  // namespace rpu::cli
