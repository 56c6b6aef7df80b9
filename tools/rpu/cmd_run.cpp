// rpu run [MODEL] -p PROMPT: one answer through the pipeline (the same LocalBackend and
// scheduler as `rpu serve`), streamed to stdout.
//
// As in llama.cpp and Ollama: a model with a chat template gets the prompt as a user message
// (its reply is printed); `--raw`, or a model without a template, continues the prompt as
// plain text (the prompt is echoed first). `-n` counts generated tokens (-1: until the model
// stops or the context is full); `--steps` keeps llama2.c's meaning (the sequence length
// after BOS, prompt included), which the stories260K goldens were produced with.
#include <chrono>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "local_session.h"
#include "memory_report.h"
#include "options.h"
#include "reason_flag.h"
#include "core/error.h"
#include "reasoning/reasoning_backend.h"
#include "reasoning/strategies.h"
#include "tokenizer/tokenizer.h"

namespace rpu::cli {
namespace {

struct RunOptions {
  std::string model_path;
  std::string hf_type;
  std::string prompt;
  std::string system;
  int n_predict = -1;  // tokens to generate; -1: until end of sequence or a full context
  int steps = -1;      // llama2.c: sequence length after BOS, prompt included; -1: unused
  bool raw = false;
  std::string lora_path;
  RuntimeOptions runtime;
  SamplingParams sampling;
  SpeculationFlags speculation;
  ReasonFlags reason;
};

void write_out(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// Timing of one streamed answer, printed to stderr as llama.cpp prints its timings.
class AnswerClock {
 public:
  void saw(const ChatEvent& e) {
    if (first_token_seconds_ == 0 && e.completion_tokens > 0) first_token_seconds_ = elapsed();
  }
  void report(size_t prompt_tokens, const CallResult& result) const {
    const double total = elapsed();
    const int generated = result.choices.empty() ? 0 : result.choices[0].completion_tokens;
    const std::string stop = result.choices.empty() ? "length" : result.choices[0].finish_reason;
    const double decode = total - first_token_seconds_;
    std::fprintf(stderr,
                 "prompt: %zu tokens, first token after %.3f s; generated: %d tokens in %.3f s (%.1f tok/s); stop: %s\n",
                 prompt_tokens, first_token_seconds_, generated, total,
                 decode > 0 && generated > 1 ? (generated - 1) / decode : 0.0, stop.c_str());
    if (!result.choices.empty() && result.choices[0].drafted_tokens > 0) {
      const ChoiceResult& c = result.choices[0];
      std::fprintf(stderr, "speculation: %d tokens drafted, %d accepted (%.1f%%)\n", c.drafted_tokens,
                   c.accepted_tokens, 100.0 * c.accepted_tokens / c.drafted_tokens);
    }
    const std::string memory = memory_report();
    if (!memory.empty()) std::fprintf(stderr, "%s\n", memory.c_str());
  }
  double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  double first_token_seconds_ = 0;
};

// --reason on raw text: the strategy samples continuations of the prompt and prints the one it
// chose; what it saw (votes, confidence, samples) goes to stderr.
int run_raw_reasoned(LocalSession& session, const RunOptions& o, const CompletionRequest& request,
                     const nlohmann::ordered_json& reasoning) {
  const reasoning::ReasoningSpec spec = reasoning::parse_reasoning_spec(reasoning);
  const std::unique_ptr<LocalSession> judge = open_judge_session(o.reason.judge_path, o.runtime, 1);
  reasoning::SampleSource source(*session.backend, request, spec.temperature, reasoning_slots(reasoning));
  const Tokenizer& tokenizer = *session.loaded.tokenizer;
  const int32_t bos = tokenizer.vocab().bos;
  // Step search continues raw text: the prompt with its BOS written out (parsed back as special).
  const std::string step_prompt = (bos >= 0 ? tokenizer.vocab().pieces[static_cast<size_t>(bos)] : "") + o.prompt;
  const AnswerClock clock;
  const reasoning::ReasonedAnswer answer =
      reasoning::reason(source, spec, judge ? judge->backend.get() : nullptr, o.prompt, request.cancelled, step_prompt);
  write_out(answer.chosen.text + "\n");
  std::fprintf(stderr, "reasoning: %s; %d tokens sampled in %.3f s\n", answer.extension.dump().c_str(),
               source.completion_tokens(), clock.elapsed());
  return 0;
}

// Plain-text continuation: the prompt (BOS added) is echoed, then continued.
int run_raw(LocalSession& session, const RunOptions& o, const std::optional<nlohmann::ordered_json>& reasoning) {
  const Tokenizer& tokenizer = *session.loaded.tokenizer;
  const std::vector<int32_t> prompt = tokenizer.encode(o.prompt, /*add_special=*/true);
  if (prompt.empty()) fail("the prompt has no tokens (the vocabulary has no BOS token and the prompt is empty)");
  TextStream echo(tokenizer);
  for (int32_t t : prompt) write_out(echo.push(t));
  write_out(echo.flush());

  CompletionRequest request;
  request.model = session.backend->model_id();
  request.prompts.push_back({"", prompt, true});
  request.max_tokens = o.n_predict;
  if (o.steps >= 0) {
    const int bos_offset = prompt.front() == tokenizer.vocab().bos ? 1 : 0;
    request.max_tokens = std::max(0, o.steps + bos_offset - static_cast<int>(prompt.size()));
  }
  request.sampling = o.sampling;
  request.has_seed = true;
  if (reasoning) return run_raw_reasoned(session, o, request, *reasoning);
  AnswerClock clock;
  CallResult result;
  // --steps shorter than the prompt generates nothing (llama2.c), but the prompt must still fit.
  if (request.max_tokens != 0) {
    result = run_completion(*session.backend, request, [&](const ChatEvent& e) {
      clock.saw(e);
      write_out(e.text);
    });
  } else {
    session.scheduler->validate_prompt(prompt);
  }
  write_out("\n");
  clock.report(prompt.size(), result);
  return 0;
}

// The prompt as the user's message in the model's chat template; the reply is printed.
int run_chat_turn(LocalSession& session, const RunOptions& o, const std::optional<nlohmann::ordered_json>& reasoning) {
  if (o.steps >= 0) fail("--steps counts raw-text positions; use -n with a chat template, or add --raw");
  const std::unique_ptr<LocalSession> judge = open_judge_session(o.reason.judge_path, o.runtime, 1);
  reasoning::ReasoningBackend backend(*session.backend,
                                      {reasoning ? reasoning_slots(*reasoning) : 1, judge ? judge->backend.get() : nullptr});
  ChatRequest request;
  request.model = backend.model_id();
  request.max_tokens = o.n_predict;
  request.sampling = o.sampling;
  request.has_seed = true;
  request.messages = nlohmann::ordered_json::array();
  if (!o.system.empty()) request.messages.push_back({{"role", "system"}, {"content", o.system}});
  request.messages.push_back({{"role", "user"}, {"content", o.prompt}});
  if (reasoning) request.reasoning = *reasoning;
  request.calculator = o.reason.calculator;
  AnswerClock clock;
  const CallResult result = run_chat(backend, request, [&](const ChatEvent& e) {
    clock.saw(e);
    write_thinking(e.reasoning);
    write_out(e.text);
  });
  write_out("\n");
  const nlohmann::ordered_json& extension = result.choices.at(0).extension;
  if (extension.is_object() && !extension.empty()) std::fprintf(stderr, "reasoning: %s\n", extension.dump().c_str());
  clock.report(static_cast<size_t>(result.usage.prompt_tokens), result);
  return 0;
}

int run(const RunOptions& o) {
  o.sampling.validate();
  if (o.steps >= 0 && o.n_predict >= 0) fail("-n and --steps both set the length; give one");
  const std::optional<nlohmann::ordered_json> reasoning = reasoning_json(o.reason);
  SessionOptions session_options;
  session_options.model_path = o.model_path;
  session_options.hf_type = o.hf_type;
  session_options.lora_path = o.lora_path;
  session_options.speculation = o.speculation;
  session_options.slots = reasoning ? reasoning_slots(*reasoning) : 1;
  auto session = open_local_session(session_options, o.runtime);
  require_text_generation(*session, "run");
  const bool chat = !o.raw && session->backend->has_chat_template();
  if (chat && o.prompt.empty()) fail("-p is required: this model has a chat template (add --raw to generate from BOS)");
  if (!chat && !o.system.empty()) fail("--system needs a chat template; this run continues raw text");
  if (!chat && o.reason.calculator) fail("--calculator needs a chat template; this run continues raw text");
  return chat ? run_chat_turn(*session, o, reasoning) : run_raw(*session, o, reasoning);
}

}  // namespace

Action add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "answer a prompt (in the model's chat template, or --raw text), streamed to stdout");
  cmd->add_option("model", o->model_path, "model file (GGUF), Hugging Face folder or pulled ORG/NAME[:QUANT]; default: the built-in arithmetic specialist")
      ->transform(model_reference());
  cmd->add_option("-p,--prompt", o->prompt, "prompt text (with --raw, empty generates from BOS)");
  cmd->add_option("--system", o->system, "system message (chat template only)");
  cmd->add_flag("--raw", o->raw, "continue the prompt as plain text instead of applying the chat template");
  cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate (-1: until the model stops or the context is full)")
      ->check(CLI::Range(-1, 1 << 24));
  cmd->add_option("--steps", o->steps, "llama2.c convention: sequence length after BOS, prompt included (raw text)")
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--lora", o->lora_path, "LoRA adapter (GGUF) applied without merging")->check(CLI::ExistingFile);
  add_sampling_options(cmd, o->sampling);
  add_speculation_options(cmd, o->speculation);
  add_reason_options(cmd, o->reason);
  add_runtime_options(cmd, o->runtime);
  add_hf_type_option(cmd, o->hf_type);
  return [o] { return run(*o); };
}

}  // namespace rpu::cli
