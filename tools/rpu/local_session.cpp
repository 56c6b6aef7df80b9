#include "local_session.h"

#include <filesystem>

#include "core/error.h"

namespace rpu::cli {

std::string model_name_for(const std::string& model_path) {
  if (model_path.empty()) return "rpu-arith";
  const std::filesystem::path p = std::filesystem::path(model_path).lexically_normal();
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) {  // a Hugging Face folder: its whole name
    return p.has_filename() ? p.filename().string() : p.parent_path().filename().string();
  }
  return p.stem().string();
}

std::unique_ptr<LocalSession> open_local_session(const SessionOptions& o, const RuntimeOptions& runtime) {
  auto s = std::make_unique<LocalSession>();
  s->loaded = load_model_with_tokenizer(o.model_path, o.hf_type, runtime.memory);
  SchedulerOptions scheduler = o.scheduler != nullptr ? *o.scheduler : SchedulerOptions{};
  if (o.scheduler == nullptr) {
    scheduler.n_seq = o.slots;
    if (o.max_queue >= 0) scheduler.max_queue = o.max_queue;
  }
  scheduler.n_ctx = runtime.context_size(*s->loaded.model);
  scheduler.speculation = speculation_options(o.speculation, s->draft);
  scheduler.cache_types = runtime.cache.types();
  if (!o.lora_path.empty()) {
    s->lora = LoraAdapter::load(o.lora_path, *s->loaded.model);
    scheduler.lora = s->lora.get();
  }
  s->pool = std::make_unique<ThreadPool>(runtime.thread_count());
  s->scheduler = std::make_unique<Scheduler>(*s->loaded.model, *s->loaded.tokenizer, scheduler, s->pool.get());
  LocalBackendOptions backend;
  backend.model_id = o.model_id.empty() ? model_name_for(o.model_path) : o.model_id;
  backend.chat_template = o.chat_template;
  s->backend = std::make_unique<LocalBackend>(*s->loaded.model, *s->loaded.tokenizer, *s->scheduler, backend);
  return s;
}

SpeculationOptions speculation_options(const SpeculationFlags& f, std::unique_ptr<Model>& draft) {
  SpeculationOptions o;
  o.lookup = f.lookup;
  o.draft_max = f.draft_max;
  o.ngram_min = f.ngram_min;
  o.ngram_max = f.ngram_max;
  o.draft_p_min = f.draft_p_min;
  if (!f.draft_path.empty()) {
    draft = load_model(f.draft_path);
    o.draft_model = draft.get();
  }
  if (o.enabled()) o.validate();
  return o;
}

void require_text_generation(const LocalSession& s, const char* command) {
  if (!s.scheduler->embeddings_only()) return;
  fail("model {} is an embedding model ({}): `rpu {}` generates text; serve it with `rpu serve` and use /v1/embeddings",
       s.backend->model_id(), s.loaded.model->config().arch->name, command);
}

std::unique_ptr<LocalSession> open_judge_session(const std::string& path, const RuntimeOptions& runtime, int slots) {
  if (path.empty()) return nullptr;
  auto judge = open_local_session({path, "", "", slots}, runtime);
  if (judge->scheduler->embeddings_only()) {
    fail("--judge {}: {} is an embedding model ({}); the judge must answer chats", path, judge->backend->model_id(),
         judge->loaded.model->config().arch->name);
  }
  if (!judge->backend->has_chat_template()) fail("--judge {}: {}", path, judge->backend->chat_template_error());
  return judge;
}

void write_thinking(const std::string& reasoning) {
  if (reasoning.empty()) return;
  std::fwrite(reasoning.data(), 1, reasoning.size(), stderr);
  std::fflush(stderr);
}

}  // namespace rpu::cli
