// The reasoning channel: a model that thinks before it answers (Qwen3, DeepSeek-R1, a
// specialist trained on its teacher's working) writes "<think>...</think>" ahead of its answer.
// Like llama-server's default reasoning format and vLLM's reasoning parsers, the span goes to
// the message's `reasoning_content`, and only what follows it is the answer (`content`), which
// tool calls are parsed from and reasoning strategies, verifiers and the gateway's metrics
// read. A request's "reasoning_format": "none" keeps the output whole.
//
// Rules, per choice, on text as it streams in:
// - the output's first non-blank bytes are "<think>" (or the prompt already opened the span,
//   DeepSeek-R1's templates end it with "<think>\n"): bytes up to "</think>" are reasoning, and
//   the blanks after "</think>" are dropped (Qwen3 writes "</think>\n\n");
// - anything else is content, all of it: a "<think>" later in an answer is the answer's;
// - an output that ends inside the span (max_tokens, a stop string) is reasoning only;
// - a marker split across events is held back until it is complete, so no event carries half of
//   "</think>" in either channel.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rpu {

// Where an output stands against the span, byte by byte: the one reading of the rules above,
// which ThinkSplitter routes bytes by and the thinking prefix masks tokens by (thinking_prefix.h).
struct ThinkScan {
  enum class Phase : uint8_t { kLead, kInside, kAfterSpan, kAnswer };
  Phase phase = Phase::kLead;
  uint8_t matched = 0;  // kLead: bytes of "<think>" written; kInside: bytes of "</think>"
  void advance(uint8_t byte);
  void advance(std::string_view bytes);  // stops at kAnswer
};

class ThinkSplitter {
 public:
  struct Parts {
    std::string reasoning, content;
  };
  // starts_inside: the prompt ends with an open "<think>" (prompt_opens_reasoning).
  explicit ThinkSplitter(bool starts_inside = false);
  Parts feed(std::string_view text);  // the choice's text since the previous feed
  Parts finish();                     // end of the choice's output: what was held back
  // Where the bytes fed so far leave the splitter, for counting reasoning tokens: a token that
  // enters, stays in or closes the span is one; a token of the lead is one if the span opens.
  bool in_reasoning() const { return scan_.phase == ThinkScan::Phase::kInside; }
  bool undecided() const { return scan_.phase == ThinkScan::Phase::kLead; }

 private:
  ThinkScan scan_;
  std::string held_;  // kLead: blanks and a prefix of "<think>"; kInside: a prefix of "</think>"
};

// Whether a rendered chat prompt leaves the reasoning span open for the model ("...<think>\n").
bool prompt_opens_reasoning(std::string_view prompt);

// A whole output at once (the tool-call path, tests).
ThinkSplitter::Parts split_reasoning(std::string_view output, bool starts_inside = false);

}  // namespace rpu
