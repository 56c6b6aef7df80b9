// rpu serve MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [--ctx N] [--api-key KEY]:
// the OpenAI-compatible HTTP API with continuous batching (src/server, src/engine/scheduler.h).

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "commands.h"
#include "kb_models.h"
#include "local_session.h"
#include "model_catalog.h"
#include "options.h"
#include "serve_loop.h"
#include "core/error.h"
#include "engine/scheduler.h"
#include "model/lora.h"
#include "pipeline/local_backend.h"
#include "pipeline/model_library.h"
#include "pipeline/side_reranker.h"
#include "reasoning/spec.h"
#include "reasoning/reasoning_backend.h"
#include "retrieval/embedder.h"
#include "retrieval/knowledge_backend.h"
#include "server/server.h"

namespace rpu::cli {
namespace {

struct ServeOptions {
  std::string model_path;
  std::string hf_type;
  std::string alias;
  std::string chat_template_path;
  std::string lora_path;
  RuntimeOptions runtime;
  SchedulerOptions scheduler;
  SpeculationFlags speculation;
  ServerOptions server;
  std::vector<std::string> knowledge_bases;  // NAME=FILE
  std::string knowledge_dir;                 // every DIR/*.kb, named by its stem
  std::string rerank;                        // a cross-encoder the bases' searches rerank with
  std::string models_dir;                    // --models: every model in it, loaded on first use
  int max_loaded = 2;
  std::string judge_path;                    // the "judge" verifier's model (best-of-N, step search)
};

// --judge MODEL: the second model the "judge" verifier asks "is this answer correct?" (one
// call per distinct candidate); 8 slots, so concurrent requests' judge calls decode together.
std::unique_ptr<LocalSession> open_judge(const ServeOptions& o) {
  auto judge = open_judge_session(o.judge_path, o.runtime, 8);
  if (!judge) return nullptr;
  std::fprintf(stderr, "rpu: the judge verifier asks %s (%s)\n", judge->backend->model_id().c_str(), o.judge_path.c_str());
  return judge;
}

// The knowledge bases requests may name ("knowledge": {"kb": NAME}); nothing else is opened.
void add_knowledge_bases(retrieval::KnowledgeLibrary& library, const ServeOptions& o, EmbeddingModels& models) {
  library.set_reranker(models.reranker(o.rerank));
  for (const std::string& spec : o.knowledge_bases) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) fail("--kb '{}': expected NAME=FILE", spec);
    library.add(spec.substr(0, eq), spec.substr(eq + 1));
  }
  if (!o.knowledge_dir.empty()) library.add_dir(o.knowledge_dir);
}

// --rerank MODEL: the cross-encoder the bases' searches rerank with also answers /v1/rerank,
// named by its file stem (/v1/models lists it); without it, `main` serves alone.
Backend& serve_reranker_beside(Backend& main, const ServeOptions& o, EmbeddingModels& models,
                               std::optional<SideReranker>& holder) {
  if (o.rerank.empty()) return main;
  Backend& reranker = models.reranker_backend(o.rerank);
  holder.emplace(main, reranker);
  std::fprintf(stderr, "rpu: /v1/rerank answered by %s (%s)\n", reranker.model_id().c_str(), o.rerank.c_str());
  return *holder;
}

// One model of --models DIR in memory: its session (model, scheduler, LocalBackend) and the
// reasoning wrapper requests reach it through.
struct ServedInstance : ModelInstance {
  std::unique_ptr<LocalSession> session;
  std::unique_ptr<reasoning::ReasoningBackend> reasoned;  // destroyed before the session
  Backend& backend() override { return *reasoned; }
};

// rpu serve --models DIR: the catalog behind one ModelLibrary (the knowledge extension counts
// source tokens from words, as no single tokenizer serves every model).
int serve_library(ServeOptions& o, const sigset_t& stop_signals) {
  if (!o.model_path.empty()) fail("give a model file or --models DIR, not both");
  if (!o.lora_path.empty() || !o.alias.empty()) fail("--lora and --alias name one model; with --models, adapters in DIR are served as BASE+ADAPTER");
  const std::vector<ModelEntry> entries = scan_model_dir(o.models_dir);
  const std::string chat_template = o.chat_template_path.empty() ? "" : read_text_file(o.chat_template_path);
  const std::unique_ptr<LocalSession> judge = open_judge(o);
  Backend* judge_backend = judge ? judge->backend.get() : nullptr;
  ModelFactory factory = [&o, chat_template, judge_backend](const ModelEntry& entry) {
    auto instance = std::make_unique<ServedInstance>();
    SessionOptions so;
    so.model_path = entry.path;
    // Hugging Face folders are converted to --type on load; GGUF files keep their types.
    so.hf_type = std::filesystem::is_directory(entry.path) ? o.hf_type : "";
    so.lora_path = entry.adapter_path;
    so.chat_template = chat_template;
    so.model_id = entry.id;
    so.scheduler = &o.scheduler;
    so.speculation = o.speculation;
    instance->session = open_local_session(so, o.runtime);
    instance->reasoned = std::make_unique<reasoning::ReasoningBackend>(
        *instance->session->backend, reasoning::ReasoningOptions{o.scheduler.n_seq, judge_backend});
    std::fprintf(stderr, "rpu: loaded %s (%s)\n", entry.id.c_str(), entry.path.c_str());
    return instance;
  };
  ModelLibrary library(entries, std::move(factory), o.max_loaded, [](const std::string& suffix) {
    try {
      return reasoning::model_suffix_json(suffix).has_value();
    } catch (const ApiError&) {
      return true;  // a strategy with a bad value: the call names the problem
    }
  });
  o.server.http_threads = o.scheduler.n_seq * o.max_loaded + o.scheduler.max_queue + 8;
  EmbeddingModels embedding_models(o.runtime);
  retrieval::KnowledgeLibrary kbs([&](const retrieval::KbSettings& s) { return embedding_models.for_base(s); });
  add_knowledge_bases(kbs, o, embedding_models);
  const std::unique_ptr<retrieval::Embedder> words = retrieval::word_counter();
  retrieval::KnowledgeBackend knowledge(library, kbs, [&](std::string_view text) { return words->count_tokens(text); });
  std::optional<SideReranker> with_reranker;
  Server server(serve_reranker_beside(knowledge, o, embedding_models, with_reranker), o.server);
  server.bind();
  std::fprintf(stderr, "rpu: serving %zu models from %s on http://%s:%d (at most %d loaded; %d sequences each)\n",
               entries.size(), o.models_dir.c_str(), o.server.host.c_str(), server.port(), o.max_loaded, o.scheduler.n_seq);
  return serve_until_signalled(server, stop_signals, o.server.shutdown_timeout_seconds);
}

int serve(ServeOptions& o) {
  const sigset_t stop_signals = prepare_serving_process();
  if (!o.models_dir.empty()) return serve_library(o, stop_signals);
  auto [model, tokenizer] = load_model_with_tokenizer(o.model_path, o.hf_type, o.runtime.memory);
  LocalBackendOptions backend_options;
  if (!o.chat_template_path.empty()) backend_options.chat_template = read_text_file(o.chat_template_path);
  o.scheduler.n_ctx = o.runtime.context_size(*model);
  o.scheduler.cache_types = o.runtime.cache.types();
  backend_options.model_id = !o.alias.empty()       ? o.alias
                             : model_name_for(o.model_path);
  std::unique_ptr<LoraAdapter> lora;
  if (!o.lora_path.empty()) {
    lora = LoraAdapter::load(o.lora_path, *model);
    o.scheduler.lora = lora.get();
  }
  std::unique_ptr<Model> draft;  // --draft: outlives the scheduler
  o.scheduler.speculation = speculation_options(o.speculation, draft);
  ThreadPool pool(o.runtime.thread_count());
  Scheduler scheduler(*model, *tokenizer, o.scheduler, &pool);
  LocalBackend local(*model, *tokenizer, scheduler, backend_options);
  if (scheduler.reranker_only()) {
    std::fprintf(stderr, "rpu: %s is a reranking model (%s cross-encoder): /v1/rerank only\n",
                 backend_options.model_id.c_str(), model->config().arch->name);
  } else if (scheduler.embeddings_only()) {
    std::fprintf(stderr, "rpu: %s is an embedding model (%s, %s pooling): /v1/embeddings only\n",
                 backend_options.model_id.c_str(), model->config().arch->name,
                 pooling_name(o.scheduler.pooling.value_or(model->config().pooling)));
  } else if (!local.has_chat_template()) {
    std::fprintf(stderr, "rpu: warning: %s; /v1/chat/completions is off\n", local.chat_template_error().c_str());
  }
  // Every request in flight holds an HTTP thread: one per slot and queued request, plus a few.
  o.server.http_threads = o.scheduler.n_seq + o.scheduler.max_queue + 8;
  // Calls that ask for a reasoning strategy (extension or "NAME+sc8") sample the local model.
  const std::unique_ptr<LocalSession> judge = open_judge(o);
  reasoning::ReasoningBackend reasoned(local, {o.scheduler.n_seq, judge ? judge->backend.get() : nullptr});
  // Calls with the "knowledge" extension get retrieved sources first and citations back.
  EmbeddingModels embedding_models(o.runtime);
  retrieval::KnowledgeLibrary library([&](const retrieval::KbSettings& s) { return embedding_models.for_base(s); });
  add_knowledge_bases(library, o, embedding_models);
  // (tok: clang before 16 cannot capture a structured binding such as `tokenizer`.)
  retrieval::KnowledgeBackend knowledge(reasoned, library, [&tok = *tokenizer](std::string_view text) {
    return static_cast<int>(tok.encode(text, false, false).size());
  });
  std::optional<SideReranker> with_reranker;
  Server server(serve_reranker_beside(knowledge, o, embedding_models, with_reranker), o.server);
  server.bind();
  std::fprintf(stderr, "rpu: serving %s as \"%s\" on http://%s:%d (%d sequences x %d tokens of context, %d threads)\n",
               o.model_path.empty() ? "the built-in model" : o.model_path.c_str(), backend_options.model_id.c_str(), o.server.host.c_str(), server.port(),
               o.scheduler.n_seq, o.scheduler.n_ctx, pool.size());
  return serve_until_signalled(server, stop_signals, o.server.shutdown_timeout_seconds);
}

}  // namespace

Action add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "serve the model over an OpenAI-compatible HTTP API");
  cmd->add_option("model", o->model_path, "model file (GGUF), Hugging Face folder or pulled ORG/NAME[:QUANT]; default: the built-in arithmetic specialist")
      ->transform(model_reference());
  cmd->add_option("--models", o->models_dir,
                  "serve every GGUF file and Hugging Face folder in DIR (adapters as BASE+ADAPTER), each loaded on first use")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--max-loaded", o->max_loaded, "with --models: most models in memory; the least recently used is unloaded")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--parallel", o->scheduler.n_seq, "sequences decoded together (slots)")->check(CLI::Range(1, 256));
  cmd->add_option("--queue", o->scheduler.max_queue, "requests that may wait for a slot; more get HTTP 429")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--prefill-chunk", o->scheduler.prefill_chunk,
                  "most prompt tokens of one sequence per step, so long prompts do not stall decoding")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--alias", o->alias, "model name reported by /v1/models (default: the file name)");
  o->server.strict_model = false;
  cmd->add_flag("--strict-model", o->server.strict_model,
                "refuse requests naming another model (404) instead of answering them with this one");
  cmd->add_option("--chat-template", o->chat_template_path, "Jinja chat template file to use instead of the model's")
      ->check(CLI::ExistingFile);
  cmd->add_option("--lora", o->lora_path, "LoRA adapter (GGUF) applied to every request without merging")
      ->check(CLI::ExistingFile);
  cmd->add_option("--kb", o->knowledge_bases, "knowledge base requests may name: NAME=FILE (repeatable)");
  add_rerank_options(cmd, o->rerank);
  cmd->add_option("--judge", o->judge_path, "model (GGUF) the \"judge\" verifier of best-of-N / step search asks")
      ->check(CLI::ExistingFile);
  cmd->add_option("--kb-dir", o->knowledge_dir, "serve every *.kb file in this folder, named by its file stem")
      ->check(CLI::ExistingDirectory);
  cmd->add_option_function<std::string>(
         "--pooling",
         [o](const std::string& name) {
           o->scheduler.pooling = name == "mean" ? Pooling::kMean : name == "cls" ? Pooling::kCls : Pooling::kLast;
         },
         "embedding models: pool the final states by mean, cls or last instead of the model's pooling_type")
      ->check(CLI::IsMember({"mean", "cls", "last"}));
  add_http_options(cmd, o->server);
  add_speculation_options(cmd, o->speculation);
  add_runtime_options(cmd, o->runtime);
  add_hf_type_option(cmd, o->hf_type);
  return [o] { return serve(*o); };
}

}  // namespace rpu::cli
