// Plain text generation for one sequence: prefill the prompt in one batch, then decode
// token by token, streaming whole UTF-8 text to a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/forward.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

namespace rpu {

struct GenerateOptions {
  // Length of the sequence after BOS, prompt tokens included (llama2.c's "steps"): the run
  // prints the prompt's tokens then generates until the sequence holds this many.
  int steps = 256;
  bool echo_prompt = true;
  SamplingParams sampling;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // prompt then generated ids
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  std::string stop_reason;  // "length", "eos" or "context"
};

GenerateResult generate(ForwardPass& forward, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                        const GenerateOptions& options, const std::function<void(std::string_view)>& on_text);

}  // namespace rpu
