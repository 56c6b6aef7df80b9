// The teacher's working a specialist learns to write before its answer (S5), after "distilling
// step by step": a reasoning teacher sends its thinking apart from the answer (reasoning_content,
// logged by the gateway), and a small model that writes the checkable part of it first, in its
// own reasoning span, answers what it could not work out in one step. The part kept is the
// arithmetic the verifier reads ("62.6 * 1.609344 = 100.74", decode/arithmetic.h): the route's
// calculator computes those results, so the specialist only has to set each step up; prose
// reasoning (long, and nothing checks it) is left out.
//
// The training answer is then "<think>\nSTEPS\n</think>\n\nANSWER" (STEPS one per line), which
// the pipeline serves as reasoning_content and content (pipeline/think_split.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rpu {
struct ArithmeticStep;
}

namespace rpu::convert {

struct LoggedCall;

// A step's written result as it appears in its text ("100.74" of "62.6 * 1.609344 = 100.74").
std::string written_result(const ArithmeticStep& step);

// The working of a logged teacher answer: the arithmetic steps of its reasoning_content, one per
// line; "" when it has none, when any step is wrong, when the answer is a tool call, or when the
// last step's written result is not in the answer (the working does not lead to it).
std::string teacher_working(const nlohmann::ordered_json& answer);

// The assistant text a specialist is trained on: the answer, after the working's span when
// there is one.
std::string with_working(const std::string& working, const std::string& answer);

// Tokens a specialist may spend on its working on top of a caller's max_tokens (the route's
// thinking_tokens): enough for the longest working of the cluster's trainable calls with its
// markers, counting a token per byte (a token is at least one); 0 when none has working.
int thinking_token_budget(const std::vector<const LoggedCall*>& calls);

}  // namespace rpu::convert
