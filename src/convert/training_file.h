// S5's training data: a cluster's trainable calls written as JSONL in rpu's chat training
// format ({"messages": [..., {"role": "assistant", "content": ANSWER}]}, train/trainer.h),
// which `rpu finetune` / `rpu train` and train_specialist() read.
//
// What the trainer accepts shapes the rendering: load_training_data renders each line with
// the model's chat template and no tools (make_chat_context gets none), every message needs a
// string role and content, and loss falls on every assistant turn. So a logged call becomes:
//   - text content parts joined into one string, null content -> "";
//   - an assistant turn that called a tool -> its answer_text ({"name", "arguments"} JSON);
//   - a tool result (role "tool") -> a user turn "Tool result: ...";
//   - the request's tools -> one line "Tools: [{name, description, parameters}...]" appended
//     to the (first) system message, or a system message of its own.
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
};

// Writes every trainable call of `calls` (from_teacher and not held out by `split`) to `path`
// (written to path.tmp and renamed: never a half-written file). Throws rpu::Error.
TrainingFileReport write_training_file(const std::vector<const LoggedCall*>& calls, const SplitOptions& split,
                                       const std::string& path);

}  // namespace rpu::convert
