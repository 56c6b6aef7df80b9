// rpu chat: an interactive conversation through the pipeline (LocalBackend, as the server).
// Each turn re-renders the whole conversation with the model's chat template (templates may
// rewrite earlier turns), reuses the KV cache for the longest common token prefix (the
// scheduler's prefix cache), and streams the reply.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "local_session.h"
#include "options.h"
#include "reason_flag.h"
#include "reasoning/reasoning_backend.h"
#ifndef RPU_MINIMAL  // --kb (the minimal build has no knowledge bases)
#include "kb_models.h"
#include "retrieval/knowledge_backend.h"
#endif

namespace rpu::cli {
namespace {

struct ChatOptions {
  std::string model_path;
  std::string hf_type;
  std::string system;
  std::string template_path;
  int max_reply = 512;
  RuntimeOptions runtime;
  bool think = false;
  bool show_prompt = false;
  SamplingParams sampling;
  SpeculationFlags speculation;
  ReasonFlags reason;
  std::string kb;  // knowledge base searched for each message (rpu kb create)
  int kb_k = 5;
  bool extractive = false;  // --extractive: answers use only words of the sources and the message
  std::string rerank;  // a cross-encoder that rescores the base's best chunks
};

#ifndef RPU_MINIMAL
// The name --kb's base is searched by: its file's stem (library and request agree on it).
std::string kb_name(const ChatOptions& o) { return std::filesystem::path(o.kb).stem().string(); }
#endif

// The conversation's request before its first message: the options as request fields, and the
// system message when there is one.
ChatRequest opening_request(const ChatOptions& o, const std::string& model_id,
                            const std::optional<nlohmann::ordered_json>& reasoning) {
  ChatRequest request;
  request.model = model_id;
  request.max_tokens = o.max_reply;
  request.sampling = o.sampling;
  request.has_seed = true;
  request.chat_template_kwargs = {{"enable_thinking", o.think}};
  request.messages = nlohmann::ordered_json::array();
  if (reasoning) request.reasoning = *reasoning;
  request.calculator = o.reason.calculator;
#ifndef RPU_MINIMAL
  if (!o.kb.empty()) request.knowledge = {{"kb", kb_name(o)}, {"k", o.kb_k}};
  if (o.extractive) request.knowledge["extractive"] = true;  // needs --kb
#endif
  if (!o.system.empty()) request.messages.push_back({{"role", "system"}, {"content", o.system}});
  return request;
}

// What a turn's reply does not show, on stderr: speculation counts, the sources it cites, and
// the reasoning strategy's votes and confidence.
void report_turn(const ChoiceResult& choice) {
  if (choice.drafted_tokens > 0) {
    std::fprintf(stderr, "speculation: %d tokens drafted, %d accepted\n", choice.drafted_tokens, choice.accepted_tokens);
  }
  nlohmann::ordered_json extension = choice.extension;
  if (extension.is_object() && extension.contains("knowledge")) {
    for (const auto& c : extension["citations"]) {
      std::fprintf(stderr, "[%d] %s%s%s\n", c["n"].get<int>(), c["source"].get<std::string>().c_str(),
                   c["heading"].get<std::string>().empty() ? "" : " > ", c["heading"].get<std::string>().c_str());
    }
    extension.erase("knowledge");
    extension.erase("citations");
    extension.erase("invalid_citations");
  }
  if (extension.is_object() && !extension.empty()) std::fprintf(stderr, "reasoning: %s\n", extension.dump().c_str());
}

int chat(const ChatOptions& o) {
  o.sampling.validate();
  const std::optional<nlohmann::ordered_json> reasoning = reasoning_json(o.reason);
  SessionOptions session_options;
  session_options.slots = reasoning ? reasoning_slots(*reasoning) : 1;
  session_options.model_path = o.model_path;
  session_options.hf_type = o.hf_type;
  session_options.speculation = o.speculation;
  session_options.chat_template = o.template_path.empty() ? "" : read_text_file(o.template_path);
  auto session = open_local_session(session_options, o.runtime);
  require_text_generation(*session, "chat");
  LocalBackend& local = *session->backend;
  if (!local.has_chat_template()) {
    fail("{}: {} (tokenizer.chat_template); pass --template FILE", o.model_path.empty() ? "the built-in model" : o.model_path,
         local.chat_template_error());
  }
  // Replies with --reason come from the strategy (printed whole when chosen; its votes and
  // confidence go to stderr); without it the wrapper passes calls straight through.
  const std::unique_ptr<LocalSession> judge = open_judge_session(o.reason.judge_path, o.runtime, 1);
  reasoning::ReasoningBackend reasoned(local, {session_options.slots, judge ? judge->backend.get() : nullptr});
  // --kb: each message is searched in the base and its best chunks join that turn's system
  // message as numbered sources (the history keeps the conversation without them).
#ifndef RPU_MINIMAL
  EmbeddingModels embedding_models(o.runtime);
  retrieval::KnowledgeLibrary library([&](const retrieval::KbSettings& s) { return embedding_models.for_base(s); });
  if (!o.kb.empty()) library.add(kb_name(o), o.kb);
  library.set_reranker(embedding_models.reranker(o.rerank));
  const Tokenizer& tokenizer = *session->loaded.tokenizer;
  retrieval::KnowledgeBackend backend(reasoned, library, [&](std::string_view text) {
    return static_cast<int>(tokenizer.encode(text, false, false).size());
  });
#else
  Backend& backend = reasoned;
#endif

  ChatRequest request = opening_request(o, backend.model_id(), reasoning);
  const bool interactive = isatty(STDIN_FILENO);
  std::string line;
  for (;;) {
    if (interactive) std::fputs("> ", stdout), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line.empty()) continue;
    request.messages.push_back({{"role", "user"}, {"content", line}});
    if (o.show_prompt) {
#ifndef RPU_MINIMAL
      const ChatRequest shown = o.kb.empty() ? request : backend.augment(request).request;
#else
      const ChatRequest& shown = request;
#endif
      std::fprintf(stderr, "[prompt]%s[/prompt]\n", local.render_prompt(shown).c_str());
    }
    // The scheduler keeps this conversation's KV in its slot, so each turn only evaluates the
    // tokens after the longest common prefix with the previous one.
    const CallResult result = run_chat(backend, request, [](const ChatEvent& e) {
      write_thinking(e.reasoning);
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
      std::fflush(stdout);
    });
    std::fputs("\n", stdout);
    std::fflush(stdout);
    report_turn(result.choices.at(0));
    request.messages.push_back({{"role", "assistant"}, {"content", result.choices.at(0).text}});
  }
  return 0;
}

}  // namespace

Action add_chat_command(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "chat with a model using its chat template (one message per line)");
  cmd->add_option("model", o->model_path, "model file (GGUF), Hugging Face folder or pulled ORG/NAME[:QUANT]; default: the built-in arithmetic specialist")
      ->transform(model_reference());
  cmd->add_option("--system", o->system, "system message");
  cmd->add_option("--template", o->template_path, "Jinja chat template file (default: the model's)")
      ->check(CLI::ExistingFile);
  cmd->add_option("-n,--max-reply", o->max_reply, "most tokens per reply")->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--think", o->think, "set enable_thinking for templates that support it");
  cmd->add_flag("--show-prompt", o->show_prompt, "print each rendered prompt to stderr");
#ifndef RPU_MINIMAL
  auto* kb = cmd->add_option("--kb", o->kb, "knowledge base searched for each message; its best chunks become cited sources")
                 ->check(CLI::ExistingFile);
  cmd->add_option("--kb-k", o->kb_k, "sources per message with --kb")->check(CLI::Range(1, 50));
  cmd->add_flag("--extractive", o->extractive, "with --kb: answers may use only words of the sources and the message")
      ->needs(kb);
  add_rerank_options(cmd, o->rerank);
#endif
  add_sampling_options(cmd, o->sampling);
  add_speculation_options(cmd, o->speculation);
  add_reason_options(cmd, o->reason);
  add_runtime_options(cmd, o->runtime);
  add_hf_type_option(cmd, o->hf_type);
  return [o] { return chat(*o); };
}

}  // namespace rpu::cli
