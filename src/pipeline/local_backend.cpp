#include "pipeline/local_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>

#include "decode/calculator.h"
#include "decode/copy_matcher.h"
#include "decode/gbnf_text.h"
#include "decode/json_schema.h"
#include "engine/cross_encoder.h"
#include "pipeline/think_split.h"
#include "pipeline/thinking_prefix.h"

namespace rpu {
namespace {

std::string token_text(const Tokenizer& tokenizer, int32_t id) {
  return id >= 0 ? tokenizer.vocab().pieces[static_cast<size_t>(id)] : "";
}

// The scheduler's view of a grammar: a TokenConstraint per sample.
class GrammarConstraint : public TokenConstraint {
 public:
  GrammarConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocab> vocab)
      : matcher_(std::move(grammar), std::move(vocab)) {}
  void mask_logits(std::span<float> logits) const override { matcher_.mask_logits(logits); }
  bool accept(int32_t token) override { return matcher_.accept(token); }
  bool can_continue() const override { return matcher_.can_continue(); }

 private:
  GrammarMatcher matcher_;
};

// All constraints of a request (a grammar, copied values, the calculator): a token must pass each.
class AllConstraints : public TokenConstraint {
 public:
  explicit AllConstraints(std::vector<std::unique_ptr<TokenConstraint>> parts) : parts_(std::move(parts)) {}
  void mask_logits(std::span<float> logits) const override {
    for (const auto& p : parts_) p->mask_logits(logits);
  }
  bool accept(int32_t token) override {
    return std::all_of(parts_.begin(), parts_.end(), [token](const auto& p) { return p->accept(token); });
  }
  bool can_continue() const override {
    return std::all_of(parts_.begin(), parts_.end(), [](const auto& p) { return p->can_continue(); });
  }

 private:
  std::vector<std::unique_ptr<TokenConstraint>> parts_;
};

class CopyConstraint : public TokenConstraint {
 public:
  CopyConstraint(std::shared_ptr<const CopySource> source, std::shared_ptr<const GrammarVocab> vocab)
      : matcher_(std::move(source), std::move(vocab)) {}
  void mask_logits(std::span<float> logits) const override { matcher_.mask_logits(logits); }
  bool accept(int32_t token) override { return matcher_.accept(token); }
  bool can_continue() const override { return true; }  // copies never end the output

 private:
  CopyMatcher matcher_;
};

class CalculatorConstraint : public TokenConstraint {
 public:
  CalculatorConstraint(std::shared_ptr<const GrammarVocab> vocab, int decimals) : matcher_(std::move(vocab), decimals) {}
  void mask_logits(std::span<float> logits) const override { matcher_.mask_logits(logits); }
  bool accept(int32_t token) override { return matcher_.accept(token); }
  bool can_continue() const override { return true; }  // a due result holds back the end, never forces it

 private:
  CalculatorMatcher matcher_;
};

// What "copy_fields" copies from: the text of every message but the assistant's (system,
// user, tool results), or the last user message's for a last_user_only field; the fields, less the keys the format's tool-call markup writes itself
// ("name" of the function) when the answer may be a tool call. Null: nothing to copy.
std::shared_ptr<const CopySource> copy_source(const ChatRequest& r, ToolCallFormat format, const ToolChoice& choice) {
  const std::vector<std::string> markup =
      choice.mode == ToolChoice::Mode::kNone ? std::vector<std::string>{} : tool_call_markup_keys(format);
  std::vector<CopyField> fields;
  for (const CopyField& f : r.copy_fields)
    if (std::find(markup.begin(), markup.end(), f.key) == markup.end()) fields.push_back(f);
  if (fields.empty()) return nullptr;
  try {
    return std::make_shared<const CopySource>(copy_texts(r.messages), std::move(fields));
  } catch (const Error& e) {
    throw ApiError::bad_request("copy_fields", e.what());
  }
}

// The grammar's text (start rule "root") the output must follow, or "": a forced tool call
// (tool_choice "required" or a named function), or response_format json_object / json_schema.
std::string output_grammar_text(const ChatRequest& r, ToolCallFormat format, const ToolChoice& choice,
                                SchemaBudget& budget) {
  if (!r.grammar.empty()) return r.grammar;
  if (choice.forces_call()) {
    auto to_rules = [&budget](const nlohmann::ordered_json& schema, const std::string& prefix) {
      JsonSchemaRules rules = json_schema_to_rules(schema, prefix, &budget);
      return SchemaRules{std::move(rules.rules), std::move(rules.root)};
    };
    return tool_call_grammar(format, r.tools, choice.forced_name(), to_rules);
  }
  if (!r.response_format.is_object()) return "";
  const std::string type = r.response_format.value("type", "text");
  if (type == "json_object") return json_object_grammar();
  if (type != "json_schema") return "";
  const auto& spec = r.response_format["json_schema"];
  static const nlohmann::ordered_json kAnySchema = nlohmann::ordered_json::object();
  return json_schema_to_grammar(spec.contains("schema") ? spec["schema"] : kAnySchema, &budget);
}

// The grammar the output must follow, or null (output_grammar_text). One budget covers all of
// a request's schemas (every tool's parameters) and the grammar they make, so a client's input
// bounds this step's CPU and memory (json_schema.h). A template that leaves a blank before the
// reply (`reply_lead`, chat_template.h) has models trained to write it first (the specialists:
// " {" is their first token of a JSON answer): the grammar lets the output start with it, and
// ReplyLeadStripper drops it, so a grammar written for the reply alone does not force a token
// the model never learned there.
std::shared_ptr<const Grammar> output_grammar(const ChatRequest& r, ToolCallFormat format, const ToolChoice& choice,
                                              const std::string& reply_lead) {
  const bool structured = r.response_format.is_object() && r.response_format.value("type", "text") != "text";
  if (!r.grammar.empty() && (choice.forces_call() || structured)) {
    throw ApiError::bad_request(r.grammar_param, "'" + r.grammar_param + "' cannot be combined with " +
                                                     (structured ? "a JSON 'response_format'" : "a forced tool call"));
  }
  const std::string param = !r.grammar.empty() ? r.grammar_param : choice.forces_call() ? "tools" : "response_format";
  SchemaBudget budget;
  budget.limits.cancelled = r.cancelled;
  std::shared_ptr<const Grammar> grammar;
  try {
    std::string text = output_grammar_text(r, format, choice, budget);
    if (text.empty()) return nullptr;
    std::string start = "root";
    if (!reply_lead.empty()) {
      start = "rpu-reply-lead";
      text = start + " ::= " + gbnf_text::literal(reply_lead) + "? root\n" + text;
    }
    grammar = Grammar::parse(text, start, budget.limits);
    // The start state is within the matcher's bounds (samples make theirs in the scheduler).
    GrammarMatcher probe(grammar, nullptr);
  } catch (const GrammarTooLarge& e) {
    throw ApiError(400, fmt::format("'{}' is too large to enforce as a grammar: {}", param, e.what()),
                   "invalid_request_error", param, "schema_too_large");
  } catch (const GrammarCancelled&) {
    throw ApiError(499, "the request was cancelled while its grammar was built", "invalid_request_error", param,
                   "cancelled");
  } catch (const Error& e) {
    if (!r.grammar.empty()) throw ApiError(400, std::string("invalid grammar: ") + e.what(), "invalid_request_error", param, "invalid_grammar");
    throw ApiError(400, std::string("invalid schema: ") + e.what(), "invalid_request_error", param, "invalid_schema");
  }
  return grammar;
}

GenerationRequest generation_fields(const GenerationFields& f) {
  GenerationRequest g;
  g.max_tokens = f.max_tokens;
  g.n = f.n;
  g.sampling = f.sampling;
  if (!f.has_seed) g.sampling.seed = random_seed();
  g.stop = f.stop;
  g.ignore_eos = f.ignore_eos;
  return g;
}

ChatEvent to_chat_event(const GenerationEvent& e, int index) {
  ChatEvent c;
  c.index = index;
  c.text = e.text;
  c.logprobs = e.logprobs;
  c.finish_reason = e.finish_reason;
  c.stopped_by_string = e.stopped_by_string;
  c.prompt_tokens = e.prompt_tokens;
  c.cached_tokens = e.cached_tokens;
  c.completion_tokens = e.completion_tokens;
  c.drafted_tokens = e.drafted_tokens;
  c.accepted_tokens = e.accepted_tokens;
  return c;
}

// The answer to a request the scheduler refuses: a full queue, a prompt longer than the
// context, or anything else it cannot run (an id outside the vocabulary, ...).
ApiError refused_by_scheduler(const Error& e, const char* prompt_param) {
  if (dynamic_cast<const QueueFullError*>(&e) != nullptr) {
    return ApiError(429, e.what(), "rate_limit_exceeded", "", "queue_full");
  }
  const bool too_long = dynamic_cast<const ContextLengthError*>(&e) != nullptr;
  return ApiError(400, e.what(), "invalid_request_error", prompt_param,
                  too_long ? "context_length_exceeded" : "invalid_value");
}

// What a blocking call (embeddings, reranking) collects from the scheduler's callbacks, which
// run on the scheduler's thread and update it under `mutex`.
template <class Result>
struct PendingCall {
  std::mutex mutex;
  std::condition_variable done;
  Result result{};
  int remaining = 0;  // callbacks still to come

  void finish_one() {  // with `mutex` held
    if (--remaining == 0) done.notify_all();
  }

  // Blocks until every callback came. Every 50 ms it polls the caller's `cancelled`: a caller
  // that went away cancels `ids` (their slots and unscored pairs are freed before the next
  // step, so it no longer holds capacity others wait for) and gets a 499 naming `what`.
  Result wait(Scheduler& scheduler, const std::vector<uint64_t>& ids, const std::function<bool()>& cancelled,
              const char* what) {
    std::unique_lock<std::mutex> lock(mutex);
    while (!done.wait_for(lock, std::chrono::milliseconds(50), [&] { return remaining == 0; })) {
      if (cancelled && cancelled()) {
        lock.unlock();  // the scheduler's callbacks take `mutex`: never hold it into cancel()
        for (uint64_t id : ids) scheduler.cancel(id);
        throw ApiError(499, fmt::format("the caller went away; the {} was cancelled", what), "invalid_request_error",
                       "", "cancelled");
      }
    }
    return std::move(result);
  }
};

// Drops a template's reply lead (" " after "Answer:") from the start of each choice's text. It
// may come over several events: an older model's first token can be the lead alone.
class ReplyLeadStripper {
 public:
  ReplyLeadStripper(std::string lead, int choices)
      : lead_(std::move(lead)), matched_(static_cast<size_t>(std::max(choices, 1)), 0) {}
  void strip(int index, std::string& text) {
    if (lead_.empty() || index < 0 || static_cast<size_t>(index) >= matched_.size()) return;
    size_t& matched = matched_[static_cast<size_t>(index)];
    size_t dropped = 0;
    while (matched < lead_.size() && dropped < text.size()) {
      if (text[dropped] != lead_[matched]) {
        matched = lead_.size();  // the reply does not start with the lead: keep it as generated
        break;
      }
      ++matched;
      ++dropped;
    }
    text.erase(0, dropped);
  }

 private:
  std::string lead_;
  std::vector<size_t> matched_;  // per choice: lead characters seen (lead_.size(): done)
};

// Each choice's ThinkSplitter (think_split.h): moves an event's reasoning span from `text` to
// `reasoning`, flushes what a splitter held back with the choice's last event, and counts the
// tokens spent in the span (an event's tokens are completion_tokens since the previous event).
class ReasoningChannels {
 public:
  ReasoningChannels(bool enabled, bool starts_inside, int choices)
      : enabled_(enabled), choices_(static_cast<size_t>(std::max(choices, 1)), Choice{ThinkSplitter(starts_inside)}) {}
  void split(ChatEvent& c) {
    if (!enabled_ || c.index < 0 || static_cast<size_t>(c.index) >= choices_.size()) return;
    Choice& choice = choices_[static_cast<size_t>(c.index)];
    const int tokens = c.completion_tokens - choice.tokens_seen;
    choice.tokens_seen = c.completion_tokens;
    const bool was_inside = choice.splitter.in_reasoning();
    ThinkSplitter::Parts parts = choice.splitter.feed(c.text);
    if (choice.splitter.undecided()) {
      choice.lead_tokens += tokens;
    } else {
      if (was_inside || choice.splitter.in_reasoning() || !parts.reasoning.empty()) {
        choice.reasoning_tokens += tokens + choice.lead_tokens;
      }
      choice.lead_tokens = 0;
    }
    if (!c.finish_reason.empty()) {
      ThinkSplitter::Parts tail = choice.splitter.finish();
      parts.reasoning += tail.reasoning;
      parts.content += tail.content;
    }
    c.text = std::move(parts.content);
    c.reasoning = std::move(parts.reasoning);
    c.reasoning_tokens = choice.reasoning_tokens;
  }

 private:
  struct Choice {
    ThinkSplitter splitter;
    int tokens_seen = 0, lead_tokens = 0, reasoning_tokens = 0;
  };
  bool enabled_;
  std::vector<Choice> choices_;
};

class ScheduledCall : public CallHandle {
 public:
  ScheduledCall(Scheduler& scheduler, std::vector<uint64_t> ids) : scheduler_(scheduler), ids_(std::move(ids)) {}
  void cancel() override {
    for (uint64_t id : ids_) scheduler_.cancel(id);
  }

 private:
  Scheduler& scheduler_;
  std::vector<uint64_t> ids_;
};

// The constraint factory of a call's output: the answer's form (grammar, copied fields; after a
// free reasoning span when think_first) and the calculator (decimals < 0: its default), all of
// them at once when several apply.
std::function<std::unique_ptr<TokenConstraint>()> output_constraint(std::shared_ptr<const Grammar> grammar,
                                                                     std::shared_ptr<const CopySource> copies,
                                                                     bool calculator, int decimals,
                                                                     std::shared_ptr<const GrammarVocab> vocab,
                                                                     bool think_first, bool starts_inside) {
  return [grammar, copies, calculator, decimals, vocab, think_first, starts_inside]() -> std::unique_ptr<TokenConstraint> {
    auto answer_form = [grammar, copies, vocab]() -> std::unique_ptr<TokenConstraint> {
      std::vector<std::unique_ptr<TokenConstraint>> parts;
      if (grammar) parts.push_back(std::make_unique<GrammarConstraint>(grammar, vocab));
      if (copies) parts.push_back(std::make_unique<CopyConstraint>(copies, vocab));
      if (parts.size() == 1) return std::move(parts.front());
      return std::make_unique<AllConstraints>(std::move(parts));
    };
    std::vector<std::unique_ptr<TokenConstraint>> parts;
    if (grammar || copies) {
      parts.push_back(think_first ? std::make_unique<ThinkingPrefixConstraint>(answer_form, vocab, starts_inside)
                                  : answer_form());
    }
    if (calculator) parts.push_back(std::make_unique<CalculatorConstraint>(vocab, decimals));
    if (parts.size() == 1) return std::move(parts.front());
    return std::make_unique<AllConstraints>(std::move(parts));
  };
}

}  // namespace

uint64_t random_seed() {
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine();
}

struct LocalBackend::PreparedRequest {
  GenerationRequest generation;
  ToolChoice choice;  // none: the output is plain text, no tool calls to parse
  bool starts_in_reasoning = false;  // the prompt leaves "<think>" open (think_split.h)
};

LocalBackend::LocalBackend(const Model& model, const Tokenizer& tokenizer, Scheduler& scheduler,
                           LocalBackendOptions options)
    : model_(model), tokenizer_(tokenizer), scheduler_(scheduler), options_(std::move(options)) {
  const std::string& source = options_.chat_template.empty() ? tokenizer.vocab().chat_template : options_.chat_template;
  if (source.empty()) {
    template_error_ = "this model has no chat template";
  } else {
    try {
      chat_template_.emplace(ChatTemplate::parse(source));
      tool_format_ = detect_tool_call_format(source);
      template_has_system_role_ = template_accepts_system_role(*chat_template_);
      template_thinks_ = source.find("<think>") != std::string::npos;
    } catch (const Error& e) {
      if (!options_.chat_template.empty()) throw;  // asked for explicitly: refuse to start
      chat_template_.reset();
      template_error_ = std::string("the model's chat template cannot be used: ") + e.what();
    }
  }
  bos_text_ = token_text(tokenizer, tokenizer.vocab().bos);
  eos_text_ = token_text(tokenizer, tokenizer.vocab().eos);
  if (chat_template_) reply_lead_ = template_reply_lead(*chat_template_, bos_text_, eos_text_);
}

std::shared_ptr<const GrammarVocab> LocalBackend::grammar_vocab() {
  std::call_once(grammar_vocab_once_, [this] { grammar_vocab_ = GrammarVocab::build(tokenizer_); });
  return grammar_vocab_;
}

BackendLoad LocalBackend::load() const {
  const SchedulerStats stats = scheduler_.stats();
  return {stats.queued, stats.active_sequences, stats.kv_bytes_in_use, stats.kv_bytes_mapped};
}

std::string LocalBackend::render_prompt(const ChatRequest& r) const {
  ToolChoice choice;
  return render(r, choice);
}

std::string LocalBackend::render(const ChatRequest& r, ToolChoice& choice) const {
  if (!chat_template_) {
    throw ApiError(400, template_error_ + "; use /v1/completions", "invalid_request_error", "messages", "");
  }
  PreparedChat chat;
  try {
    choice = parse_tool_choice(r.tool_choice, r.tools);
    chat = prepare_tool_conversation(tool_format_, r.messages, r.tools, choice, template_has_system_role_);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "tools", "");
  }
  ChatContextOptions options;
  options.bos_token = bos_text_;
  options.eos_token = eos_text_;
  options.tool_call_arguments_as_objects = true;
  ChatRenderOptions render_options;
  render_options.cancelled = r.cancelled;  // a caller that went away stops the render too
  try {
    return chat_template_->render(
        make_chat_context(chat.messages, chat.tools, options,
                          r.chat_template_kwargs.is_object() ? r.chat_template_kwargs : nlohmann::ordered_json()),
        render_options);
  } catch (const ChatTemplateBudgetError& e) {
    if (r.cancelled && r.cancelled()) {
      throw ApiError(499, "the request was cancelled while its prompt was rendered", "invalid_request_error",
                     "messages", "cancelled");
    }
    throw ApiError(400, e.what(), "invalid_request_error", "messages", "");
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "messages", "");
  }
}

LocalBackend::PreparedRequest LocalBackend::prepare(const ChatRequest& r) const {
  PreparedRequest p;
  const std::string prompt = render(r, p.choice);
  p.starts_in_reasoning = prompt_opens_reasoning(prompt);
  p.generation = generation_fields(r);
  // Templates write BOS themselves; their special tokens are parsed.
  p.generation.prompt = tokenizer_.encode(prompt, /*add_special=*/false, /*parse_special=*/true);
  p.generation.top_logprobs = r.logprobs ? r.top_logprobs : -1;
  return p;
}

std::unique_ptr<CallHandle> LocalBackend::submit(std::vector<GenerationRequest> requests, const char* prompt_param,
                                                 std::function<void(size_t, const GenerationEvent&)> on_event) {
  const int n_vocab = model_.config().n_vocab;
  for (const GenerationRequest& g : requests) {
    for (const auto& [id, bias] : g.sampling.logit_bias) {
      if (id >= n_vocab) {
        throw ApiError(400, fmt::format("'logit_bias' names token {}, outside this model's vocabulary (0..{})", id,
                                        n_vocab - 1),
                       "invalid_request_error", "logit_bias", "");
      }
    }
  }
  std::vector<uint64_t> ids;
  auto shared_event = std::make_shared<std::function<void(size_t, const GenerationEvent&)>>(std::move(on_event));
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      ids.push_back(scheduler_.submit(std::move(requests[i]),
                                      [shared_event, i](const GenerationEvent& e) { (*shared_event)(i, e); }));
    } catch (const Error& e) {
      for (uint64_t id : ids) scheduler_.cancel(id);
      throw refused_by_scheduler(e, prompt_param);
    }
  }
  return std::make_unique<ScheduledCall>(scheduler_, std::move(ids));
}

void LocalBackend::refuse_if_embeddings_only(const char* param) const {
  if (!scheduler_.embeddings_only()) return;
  throw ApiError(400,
                 fmt::format("model {} is {}", options_.model_id,
                             scheduler_.reranker_only() ? "a reranking model (a cross-encoder); use /v1/rerank"
                                                        : "an embedding model; use /v1/embeddings"),
                 "invalid_request_error", param, "model_not_supported");
}

std::unique_ptr<CallHandle> LocalBackend::chat(const ChatRequest& r, ChatEventSink sink) {
  refuse_if_embeddings_only("model");
  PreparedRequest p = prepare(r);
  // A prompt the context cannot hold is refused before the grammar is built: with thousands
  // of tools the grammar is the costly step, and the scheduler would refuse the prompt anyway.
  try {
    scheduler_.validate_prompt(p.generation.prompt);
  } catch (const Error& e) {
    throw refused_by_scheduler(e, "messages");
  }
  if (r.tool_call_required && p.choice.mode == ToolChoice::Mode::kAuto) p.choice.mode = ToolChoice::Mode::kRequired;
  const std::shared_ptr<const Grammar> grammar = output_grammar(r, tool_format_, p.choice, reply_lead_);
  const std::shared_ptr<const CopySource> copies = copy_source(r, tool_format_, p.choice);
  if (grammar || copies || r.calculator) {
    auto vocab = grammar_vocab();
    const int decimals = r.calculator ? r.calculator_decimals : -1;
    // The answer's form (grammar, copies) leaves a reasoning span before it free for a model
    // that thinks, when its reasoning is split off (thinking_prefix.h); the calculator
    // computes in both.
    const bool think_first = r.split_reasoning && reply_lead_.empty() && (grammar || copies) &&
                             (template_thinks_ || p.starts_in_reasoning);
    p.generation.make_constraint =
        output_constraint(grammar, copies, r.calculator, decimals, vocab, think_first, p.starts_in_reasoning);
  }
  auto lead = std::make_shared<ReplyLeadStripper>(reply_lead_, r.n);
  auto channels = std::make_shared<ReasoningChannels>(r.split_reasoning, p.starts_in_reasoning, r.n);
  if (p.choice.mode == ToolChoice::Mode::kNone) {
    std::vector<GenerationRequest> requests;
    requests.push_back(std::move(p.generation));
    return submit(std::move(requests), "messages", [sink, lead, channels](size_t, const GenerationEvent& e) {
      ChatEvent c = to_chat_event(e, e.index);
      lead->strip(e.index, c.text);
      channels->split(c);
      sink(c);
    });
  }
  // Tool calls are only known once a choice's content is complete: the content and logprobs
  // are held back and sent with the calls parsed out of them in the choice's last event (the
  // reasoning before them streams as it comes).
  struct Held {
    std::string text;
    std::vector<TokenLogprob> logprobs;
  };
  auto held = std::make_shared<std::vector<Held>>(static_cast<size_t>(r.n));
  const ToolCallFormat format = tool_format_;
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(p.generation));
  return submit(std::move(requests), "messages", [sink, held, format, lead, channels](size_t, const GenerationEvent& e) {
    Held& h = (*held)[static_cast<size_t>(e.index)];
    ChatEvent c = to_chat_event(e, e.index);
    lead->strip(e.index, c.text);
    channels->split(c);
    h.text += c.text;
    h.logprobs.insert(h.logprobs.end(), c.logprobs.begin(), c.logprobs.end());
    c.text.clear();
    c.logprobs.clear();
    if (!e.finish_reason.empty()) {
      ParsedToolCalls parsed = parse_tool_calls(format, h.text, system_random_alnum());
      c.logprobs = std::move(h.logprobs);
      if (parsed.tool_calls.empty()) {
        c.text = std::move(h.text);
      } else {
        c.finish_reason = "tool_calls";
        c.text = parsed.content;
        c.tool_calls = parsed.tool_calls;
      }
    }
    sink(c);
  });
}

std::unique_ptr<CallHandle> LocalBackend::complete(const CompletionRequest& r, ChatEventSink sink) {
  refuse_if_embeddings_only("model");
  std::vector<GenerationRequest> requests;
  auto echoes = std::make_shared<std::vector<std::string>>();  // prompt text per request, for echo
  const uint64_t seed = r.has_seed ? r.sampling.seed : random_seed();
  for (const CompletionPrompt& prompt : r.prompts) {
    GenerationRequest g = generation_fields(r);
    g.sampling.seed = seed;
    g.top_logprobs = r.logprobs;  // -1: none; 0..20 alternatives
    // Echo with logprobs scores the prompt too (OpenAI's legacy API; lm-eval-harness's
    // loglikelihood): its tokens' entries lead the choice's logprobs, the first one null.
    if (r.echo) g.prompt_logprobs = r.logprobs;
    // As llama.cpp: the model's BOS is added (and special tokens in the text parsed).
    g.prompt = prompt.is_tokens ? prompt.tokens : tokenizer_.encode(prompt.text, r.add_special, r.parse_special);
    if (g.prompt.empty()) {
      throw ApiError(400, "the prompt is empty and this model adds no BOS token to start from", "invalid_request_error",
                     "prompt", "");
    }
    echoes->push_back(!r.echo ? std::string() : prompt.is_tokens ? tokenizer_.decode(prompt.tokens) : prompt.text);
    requests.push_back(std::move(g));
  }
  const int n = r.n;
  auto echoed = std::make_shared<std::vector<bool>>(requests.size() * static_cast<size_t>(n), false);
  const bool strips_space = tokenizer_.strips_leading_space();
  return submit(std::move(requests), "prompt", [sink, echoes, echoed, n, strips_space](size_t request, const GenerationEvent& e) {
    const size_t index = request * static_cast<size_t>(n) + static_cast<size_t>(e.index);
    ChatEvent c = to_chat_event(e, static_cast<int>(index));
    if (!(*echoed)[index]) {
      (*echoed)[index] = true;
      const std::string& echo = (*echoes)[request];
      c.text = echo + c.text;
      std::vector<TokenLogprob> prompt = e.prompt_logprobs;
      // The tokens spell the echoed text (clients find the continuation by text_offset): a
      // SentencePiece model's word-boundary space on the text's first token is not in the text.
      auto first = std::find_if(prompt.begin(), prompt.end(), [](const TokenLogprob& t) { return !t.chosen.bytes.empty(); });
      if (strips_space && first != prompt.end() && first->chosen.bytes[0] == ' ' && !echo.starts_with(' ')) {
        first->chosen.bytes.erase(0, 1);
      }
      c.logprobs.insert(c.logprobs.begin(), prompt.begin(), prompt.end());
    }
    sink(c);
  });
}

EmbeddingResult LocalBackend::embed(const EmbeddingRequest& r) {
  if (scheduler_.reranker_only()) {
    throw ApiError(400,
                   fmt::format("model {} is a cross-encoder reranker (pooling rank): it has no embeddings; use "
                               "/v1/rerank, give it to --rerank to rescore knowledge-base searches, or start the "
                               "server with --pooling cls",
                               options_.model_id),
                   "invalid_request_error", "model", "");
  }
  const int n_embd = model_.config().n_embd;
  if (r.dimensions > 0 && r.dimensions != n_embd) {
    throw ApiError(400, "this model's embeddings have " + std::to_string(n_embd) + " dimensions; got dimensions = " +
                            std::to_string(r.dimensions),
                   "invalid_request_error", "dimensions", "");
  }
  auto pending = std::make_shared<PendingCall<EmbeddingResult>>();
  pending->result.embeddings.resize(r.inputs.size());
  pending->remaining = static_cast<int>(r.inputs.size());
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const EmbeddingInput& input = r.inputs[i];
    std::vector<int32_t> tokens =
        input.is_tokens ? input.tokens : tokenizer_.encode(input.text, /*add_special=*/true, /*parse_special=*/false);
    try {
      ids.push_back(scheduler_.submit_embedding(std::move(tokens), [pending, i](std::vector<float> e, int n_tokens) {
        std::lock_guard<std::mutex> lock(pending->mutex);
        pending->result.embeddings[i] = std::move(e);
        pending->result.prompt_tokens += n_tokens;
        pending->finish_one();
      }));
    } catch (const Error& e) {
      for (uint64_t id : ids) scheduler_.cancel(id);
      const ApiError refused = refused_by_scheduler(e, "input");
      if (refused.status != 400) throw refused;
      throw ApiError(400, fmt::format("input {}: {}", i, e.what()), refused.type, refused.param, refused.code);
    }
  }
  EmbeddingResult result = pending->wait(scheduler_, ids, r.cancelled, "embedding");
  for (const auto& e : result.embeddings) {
    if (e.empty()) throw ApiError(500, "internal error: the engine failed to compute an embedding", "server_error", "", "");
  }
  return result;
}

// Every pair of the call is one scheduler request, scored in the scheduler's batches beside
// other callers' pairs; the wait (PendingCall) drops the unscored pairs of a caller that left.
RerankResult LocalBackend::rerank(const RerankRequest& r) {
  if (!scheduler_.reranker_only()) return Backend::rerank(r);  // the 400 naming the model
  validate_rerank_request(r);
  std::vector<std::vector<int32_t>> pairs;
  pairs.reserve(r.documents.size());
  for (const std::string& document : r.documents) {
    pairs.push_back(rerank_pair_tokens(tokenizer_, scheduler_.max_input_tokens(), r.query, document));
  }
  auto pending = std::make_shared<PendingCall<RerankResult>>();
  pending->remaining = 1;  // one scheduler request however many pairs
  uint64_t id = 0;
  try {
    id = scheduler_.submit_rerank(std::move(pairs), [pending](std::vector<float> scores, int n_tokens) {
      std::lock_guard<std::mutex> lock(pending->mutex);
      pending->result = RerankResult{{scores.begin(), scores.end()}, n_tokens};
      pending->finish_one();
    });
  } catch (const Error& e) {
    throw refused_by_scheduler(e, "documents");
  }
  RerankResult result = pending->wait(scheduler_, {id}, r.cancelled, "reranking");
  if (result.scores.size() != r.documents.size()) {
    throw ApiError(500, "internal error: the engine failed to score the documents", "server_error", "", "");
  }
  return result;
}

}  // namespace rpu
