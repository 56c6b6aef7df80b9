// A model loaded for one CLI command, behind the same pipeline the server uses: the model and
// its tokenizer, a thread pool, a scheduler with `slots` sequences, and a LocalBackend.
#pragma once

#include <memory>
#include <string>

#include "core/thread_pool.h"
#include "engine/scheduler.h"
#include "model/lora.h"
#include "options.h"
#include "pipeline/local_backend.h"

namespace rpu::cli {

struct LocalSession {
  LoadedModel loaded;
  std::unique_ptr<Model> draft;  // --draft: outlives the scheduler that guesses with it
  std::unique_ptr<LoraAdapter> lora;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<LocalBackend> backend;
};

struct SessionOptions {
  std::string model_path;     // empty: the built-in model; a folder: a Hugging Face model
  std::string lora_path;
  std::string chat_template;  // Jinja source; empty: the model's own
  int slots = 1;              // sequences decoded together (reasoning samples need several)
  int max_queue = -1;         // requests that may wait for a slot; -1: the scheduler's default
  std::string model_id{};     // the name callers use; empty: model_name_for(model_path)
  // Scheduler settings to start from (rpu serve's flags); slots and max_queue above then only
  // apply when this is null.
  const SchedulerOptions* scheduler = nullptr;
  std::string hf_type{};      // a Hugging Face folder's tensor type (--type); empty: Q8_0
  SpeculationFlags speculation{};  // --lookup / --draft (applies over `scheduler` too)
};

// The name a model file is served under: its file stem, or "rpu-arith" for the built-in one.
std::string model_name_for(const std::string& model_path);

std::unique_ptr<LocalSession> open_local_session(const SessionOptions& options, const RuntimeOptions& runtime);

// The scheduler's speculation settings from the flags; loads the draft model into `draft`.
SpeculationOptions speculation_options(const SpeculationFlags& flags, std::unique_ptr<Model>& draft);

// A thinking model's reasoning (reasoning_content) as it streams: to stderr, so stdout holds
// the answer alone.
void write_thinking(const std::string& reasoning);

// Throws rpu::Error, naming `command`, when the session's model only embeds (an encoder).
void require_text_generation(const LocalSession& session, const char* command);

// --judge MODEL (run, chat, serve): the model the "judge" verifier asks whether an answer is
// right, with `slots` sequences; null for an empty path. Throws rpu::Error naming --judge when
// the model cannot answer a chat (an encoder, or no chat template), so a server never starts
// with a judge every request would fail on.
std::unique_ptr<LocalSession> open_judge_session(const std::string& path, const RuntimeOptions& runtime, int slots);

}  // namespace rpu::cli
