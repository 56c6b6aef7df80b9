// S5's training data: a cluster's trainable calls written as JSONL in rpu's chat training
// format ({"messages": [..., {"role": "assistant", "content": ANSWER}]}, train/trainer.h),
// which `rpu finetune` / `rpu train` and train_specialist() read.
//
// The prompt is what LocalBackend renders for the same request to a model whose template has no
// tool markup (ToolCallFormat::kGeneric: every scratch specialist and the built-in model), so a
// specialist is trained on the text it is served: the trainer renders each line with the
// model's chat template and no tools, so the tools travel as text. A logged call becomes
// prepare_tool_conversation's messages (chat/tool_calls.h) with tool_choice "auto" (the log
// keeps none):
//   - text content parts joined into one string, null content -> "", "developer" -> "system";
//   - an assistant turn that called a tool -> its <tool_call> blocks as text;
//   - tool results (role "tool") -> a user turn of <tool_response> blocks;
//   - the request's tools -> the injected tool instructions in the (first) system message.
// A history the chat layer refuses is written as plain text instead.
// The final assistant message is the teacher's answer as answer_text.
#pragma once

#include <string>
#include <vector>

#include "convert/logged_call.h"
#include "convert/split.h"

namespace rpu::convert {

// The request's messages in the trainer's form (without the teacher's answer).
nlohmann::ordered_json training_prompt(const LoggedCall& call);
// training_prompt + the teacher's answer: one training line's "messages".
nlohmann::ordered_json training_messages(const LoggedCall& call);

struct TrainingFileReport {
  size_t written = 0;
  size_t held_out_skipped = 0;  // calls of `calls` that the split holds out
  size_t not_teacher = 0;       // calls not answered by a teacher
  size_t foreign_placeholders = 0;  // teacher answers holding a placeholder their request lacks
                                    // (logged_call.h): not learnable, left out
};

// Writes every trainable call of `calls` (from_teacher, not held out by `split`, its answer
// without foreign placeholders) to `path`
// (written to path.tmp and renamed: never a half-written file). Throws rpu::Error.
TrainingFileReport write_training_file(const std::vector<const LoggedCall*>& calls, const SplitOptions& split,
                                       const std::string& path);

}  // namespace rpu::convert
