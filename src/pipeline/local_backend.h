// A Backend over a model in this process: chat messages rendered with the model's own Jinja
// template (tools injected and parsed back in the template's tool-call format), output
// grammars for response_format and forced tool calls, and the continuous-batching scheduler
// underneath. This is the one generation path: the server, `rpu run` and `rpu chat` all go
// through it, so they share one set of stop rules (engine/scheduler.cpp).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "chat/chat_template.h"
#include "chat/tool_calls.h"
#include "decode/grammar.h"
#include "engine/scheduler.h"
#include "model/model.h"
#include "pipeline/backend.h"
#include "tokenizer/tokenizer.h"

namespace rpu {

struct LocalBackendOptions {
  std::string model_id;       // the name callers use
  std::string chat_template;  // Jinja source; empty: the model's own (tokenizer.chat_template)
};

class LocalBackend : public Backend {
 public:
  // Throws rpu::Error when an explicitly given template does not parse. A model whose own
  // template cannot be used still serves completions; chat calls then get a 400.
  LocalBackend(const Model& model, const Tokenizer& tokenizer, Scheduler& scheduler, LocalBackendOptions options);

  std::string model_id() const override { return options_.model_id; }
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override;
  // A cross-encoder's scores (Scheduler::submit_rerank); any other model: a 400 naming it.
  RerankResult rerank(const RerankRequest& request) override;
  BackendLoad load() const override;
  std::optional<std::string> render_chat(const ChatRequest& request) override { return render_prompt(request); }
  const Tokenizer* local_tokenizer(const std::string&) const override { return &tokenizer_; }

  bool has_chat_template() const { return chat_template_.has_value(); }
  const std::string& chat_template_error() const { return template_error_; }
  // The prompt text a chat request renders to (tools injected as the template needs).
  std::string render_prompt(const ChatRequest& request) const;
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const Model& model() const { return model_; }

 private:
  struct PreparedRequest;
  PreparedRequest prepare(const ChatRequest& request) const;
  // Renders the prompt and reports the request's parsed tool choice.
  std::string render(const ChatRequest& request, ToolChoice& choice) const;
  std::shared_ptr<const GrammarVocab> grammar_vocab();
  // A 400 for a generation request to a model that only embeds (an encoder).
  void refuse_if_embeddings_only(const char* param) const;
  std::unique_ptr<CallHandle> submit(std::vector<GenerationRequest> requests, const char* prompt_param,
                                     std::function<void(size_t, const GenerationEvent&)> on_event);

  const Model& model_;
  const Tokenizer& tokenizer_;
  Scheduler& scheduler_;
  LocalBackendOptions options_;
  std::optional<ChatTemplate> chat_template_;
  std::string template_error_;
  ToolCallFormat tool_format_ = ToolCallFormat::kGeneric;
  bool template_has_system_role_ = true;  // false: tool instructions travel in the user turn
  std::string bos_text_, eos_text_;       // the template's bos_token / eos_token
  // The template writes or expects a reasoning span (Qwen3, DeepSeek-R1, QwQ): under a grammar
  // such a model may think before the answer (thinking_prefix.h).
  bool template_thinks_ = false;
  std::string reply_lead_;  // dropped from each reply's start (chat/chat_template.h template_reply_lead)
  // The token trie constrained decoding walks, built on first use (a pass over the vocabulary).
  std::once_flag grammar_vocab_once_;
  std::shared_ptr<const GrammarVocab> grammar_vocab_;
};

// A seed for requests that do not give one.
uint64_t random_seed();

}  // namespace rpu
