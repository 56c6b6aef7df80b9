// POST /v1/chat/completions: messages rendered with the model's chat template, optional
// tools (the model's own tool-call format, parsed back into OpenAI tool_calls), JSON output
// enforced by a grammar, n samples, logprobs, streaming.
#include <ctime>

#include "server/generation_stream.h"
#include "server/handlers.h"
#include "text/json_schema.h"

namespace rpu {
namespace {

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

struct ChoiceState {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;
  int completion_tokens = 0;
  bool sent_any = false;
};

// The grammar the request's output must follow, or null: a forced tool call (tool_choice
// "required" or a named function), or response_format json_object / json_schema.
std::shared_ptr<const Grammar> output_grammar(const ChatRequest& r, ToolCallFormat format, const ToolChoice& choice) {
  try {
    if (choice.forces_call()) {
      auto to_rules = [](const nlohmann::ordered_json& schema, const std::string& prefix) {
        JsonSchemaRules rules = json_schema_to_rules(schema, prefix);
        return SchemaRules{std::move(rules.rules), std::move(rules.root)};
      };
      return Grammar::parse(tool_call_grammar(format, r.tools, choice.forced_name(), to_rules));
    }
    if (r.response_format.is_object()) {
      const std::string type = r.response_format.value("type", "text");
      if (type == "json_object") return Grammar::parse(json_object_grammar());
      if (type == "json_schema") {
        const auto& spec = r.response_format["json_schema"];
        const nlohmann::ordered_json schema = spec.contains("schema") ? spec["schema"] : nlohmann::ordered_json::object();
        return Grammar::parse(json_schema_to_grammar(schema));
      }
    }
  } catch (const Error& e) {
    throw ApiError(400, std::string("invalid schema: ") + e.what(), "invalid_request_error",
                   choice.forces_call() ? "tools" : "response_format", "invalid_schema");
  }
  return nullptr;
}

}  // namespace

void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ChatRequest r = parse_chat_request(req.body);
  check_model_name(ctx, r.model);
  if (!ctx.chat_template) {
    throw ApiError(400, "this model has no usable chat template; use /v1/completions", "invalid_request_error",
                   "messages", "");
  }
  const ToolCallFormat format = ctx.tool_format;
  ToolChoice choice;
  PreparedChat chat;
  try {
    choice = parse_tool_choice(r.tool_choice, r.tools);
    chat = prepare_tool_conversation(format, r.messages, r.tools, choice, ctx.template_has_system_role);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "tools", "");
  }
  const bool use_tools = choice.mode != ToolChoice::Mode::kNone;

  ChatContextOptions options;
  options.bos_token = ctx.bos_text;
  options.eos_token = ctx.eos_text;
  options.tool_call_arguments_as_objects = true;
  std::string prompt;
  try {
    prompt = ctx.chat_template->render(make_chat_context(chat.messages, chat.tools, options,
                                                         r.chat_template_kwargs.is_object() ? r.chat_template_kwargs
                                                                                            : nlohmann::ordered_json()));
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "messages", "");
  }

  GenerationRequest g;
  // Templates write BOS themselves; their special tokens are parsed.
  g.prompt = ctx.tokenizer.encode(prompt, /*add_special=*/false, /*parse_special=*/true);
  g.max_tokens = r.max_tokens;
  g.n = r.n;
  g.sampling = r.sampling;
  if (!r.has_seed) g.sampling.seed = random_seed();
  g.stop = r.stop;
  g.ignore_eos = r.ignore_eos;
  g.top_logprobs = r.logprobs ? r.top_logprobs : -1;
  if (auto grammar = output_grammar(r, format, choice)) {
    auto vocab = ctx.grammar_vocab();
    g.make_constraint = [grammar, vocab] { return std::make_unique<GrammarConstraint>(grammar, vocab); };
  }

  struct Shared {
    std::string id = make_response_id("chatcmpl-");
    int64_t created = static_cast<int64_t>(std::time(nullptr));
    std::vector<ChoiceState> choices;
    Usage usage;
  };
  auto shared = std::make_shared<Shared>();
  shared->choices.resize(static_cast<size_t>(r.n));
  const std::string model = ctx.options.model_id;
  const bool stream = r.stream, include_usage = r.include_usage, want_logprobs = r.logprobs;

  // Tool calls are only known once a choice's text is complete, so with tools a stream sends
  // each choice's content and calls when the choice finishes.
  auto finish_choice = [shared, format, use_tools](ChoiceState& c) -> std::pair<std::optional<std::string>, nlohmann::ordered_json> {
    if (!use_tools) return {c.text, nullptr};
    ParsedToolCalls parsed = parse_tool_calls(format, c.text, system_random_alnum());
    std::optional<std::string> content;
    if (!parsed.tool_calls.empty()) {
      c.finish_reason = "tool_calls";
      if (!parsed.content.empty()) content = parsed.content;
    } else {
      content = c.text;
    }
    return {content, parsed.tool_calls};
  };

  GenerationOutput out;
  out.stream = stream;
  out.on_start = [shared, model, stream, include_usage] {
    if (!stream) return std::string();
    std::string bytes;
    for (size_t i = 0; i < shared->choices.size(); ++i) {
      bytes += sse_data(chat_chunk_role(shared->id, shared->created, model, static_cast<int>(i), include_usage));
    }
    return bytes;
  };
  out.on_event = [shared, model, stream, include_usage, want_logprobs, use_tools, finish_choice](
                     size_t, const GenerationEvent& e) {
    ChoiceState& c = shared->choices[static_cast<size_t>(e.index)];
    c.text += e.text;
    c.logprobs.insert(c.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
    c.completion_tokens = e.completion_tokens;
    shared->usage.prompt_tokens = e.prompt_tokens;
    shared->usage.cached_tokens = e.cached_tokens;
    if (!e.finish_reason.empty()) c.finish_reason = e.finish_reason;
    if (!stream) return std::string();
    std::string bytes;
    if (!use_tools && (!e.text.empty() || !e.logprobs.empty())) {
      std::optional<std::vector<TokenLogprob>> lp;
      if (want_logprobs) lp = e.logprobs;
      bytes += sse_data(chat_chunk_content(shared->id, shared->created, model, e.index, e.text, lp, include_usage));
    }
    if (!e.finish_reason.empty()) {
      if (use_tools) {
        auto [content, calls] = finish_choice(c);
        if (content && !content->empty()) {
          std::optional<std::vector<TokenLogprob>> lp;
          if (want_logprobs) lp = c.logprobs;
          bytes += sse_data(chat_chunk_content(shared->id, shared->created, model, e.index, *content, lp, include_usage));
        }
        if (calls.is_array() && !calls.empty()) {
          bytes += sse_data(chat_chunk_tool_calls(shared->id, shared->created, model, e.index, calls, include_usage));
        }
      }
      bytes += sse_data(chat_chunk_finish(shared->id, shared->created, model, e.index, c.finish_reason, include_usage));
    }
    return bytes;
  };
  out.on_finish = [shared, model, stream, include_usage, want_logprobs, finish_choice] {
    Usage& usage = shared->usage;
    usage.completion_tokens = 0;
    for (const ChoiceState& c : shared->choices) usage.completion_tokens += c.completion_tokens;
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    if (stream) {
      std::string bytes;
      if (include_usage) bytes += sse_data(chat_chunk_usage(shared->id, shared->created, model, usage));
      return bytes + sse_done();
    }
    std::vector<ChatChoice> choices;
    for (size_t i = 0; i < shared->choices.size(); ++i) {
      ChoiceState& c = shared->choices[i];
      auto [content, calls] = finish_choice(c);
      ChatChoice choice;
      choice.index = static_cast<int>(i);
      choice.content = content;
      choice.tool_calls = calls;
      if (want_logprobs) choice.logprobs = c.logprobs;
      choice.finish_reason = c.finish_reason;
      choices.push_back(std::move(choice));
    }
    return to_json_text(chat_completion(shared->id, shared->created, model, choices, usage));
  };
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(g));
  serve_generations(ctx, res, std::move(requests), std::move(out), "chat");
}

}  // namespace rpu
