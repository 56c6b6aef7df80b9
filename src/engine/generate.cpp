#include "engine/generate.h"

#include <chrono>

#include "core/error.h"

namespace rpu {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

GenerateResult generate(ForwardPass& forward, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                        const GenerateOptions& options, const std::function<void(std::string_view)>& on_text) {
  if (prompt.empty()) fail("the prompt has no tokens (the vocabulary has no BOS token and the prompt is empty)");
  if (options.steps < 0) fail("steps must be >= 0, got {}", options.steps);
  GenerateResult result;
  result.tokens = prompt;
  result.prompt_tokens = static_cast<int>(prompt.size());
  if (result.prompt_tokens > forward.n_ctx() - forward.n_past()) {
    fail("the prompt has {} tokens but the context holds only {}", result.prompt_tokens, forward.n_ctx() - forward.n_past());
  }

  Sampler sampler(options.sampling);
  TextStream stream(tokenizer);
  for (int32_t t : prompt) {
    sampler.accept(t);
    if (options.echo_prompt) on_text(stream.push(t));
  }
  // The sequence counts tokens after a leading BOS, so "steps" matches llama2.c's count.
  const int bos_offset = prompt.front() == tokenizer.vocab().bos ? 1 : 0;
  const int target_length = options.steps + bos_offset;

  auto start = std::chrono::steady_clock::now();
  std::span<const float> logits = forward.eval(prompt);
  result.prefill_seconds = seconds_since(start);
  result.stop_reason = "length";

  start = std::chrono::steady_clock::now();
  while (static_cast<int>(result.tokens.size()) < target_length) {
    const int32_t next = sampler.sample(logits);
    if (tokenizer.is_end_of_generation(next) || next == tokenizer.vocab().bos) {
      result.stop_reason = "eos";
      break;
    }
    result.tokens.push_back(next);
    ++result.generated_tokens;
    sampler.accept(next);
    on_text(stream.push(next));
    if (static_cast<int>(result.tokens.size()) >= target_length) break;
    if (forward.n_past() >= forward.n_ctx()) {
      result.stop_reason = "context";
      break;
    }
    const int32_t batch[1] = {next};
    logits = forward.eval(batch);
  }
  result.decode_seconds = seconds_since(start);
  on_text(stream.flush());
  return result;
}

}  // namespace rpu
