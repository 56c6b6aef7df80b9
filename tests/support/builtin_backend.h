// The built-in model (models/rpu-arith.gguf) behind a LocalBackend, for tests of what the
// pipeline does to a real model's replies.
#pragma once

#include <memory>
#include <string>

#include "engine/scheduler.h"
#include "model/model.h"
#include "pipeline/local_backend.h"
#include "tokenizer/tokenizer.h"

namespace rpu {

// The built-in model behind a LocalBackend, and a greedy chat request for it.
struct BuiltinBackend {
  std::unique_ptr<Model> model = Model::load(std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf");
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_gguf(model->file());
  Scheduler scheduler{*model, *tokenizer, scheduler_options(), nullptr};
  LocalBackend backend{*model, *tokenizer, scheduler, {"builtin", ""}};

  static SchedulerOptions scheduler_options() {
    SchedulerOptions options;
    options.n_seq = 2;
    options.n_ctx = 512;
    return options;
  }
  static ChatRequest greedy(int max_tokens) {
    ChatRequest chat;
    chat.model = "builtin";
    chat.max_tokens = max_tokens;
    chat.sampling.temperature = 0;
    chat.has_seed = true;
    return chat;
  }
};

}  // namespace rpu
