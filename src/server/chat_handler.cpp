// POST /v1/chat/completions: the OpenAI request becomes a pipeline ChatRequest, the Backend
// runs it (template, tools, grammar, n samples, reasoning), and its events become the OpenAI
// response or Server-Sent Events. A wrapper's annotation (reasoning's confidence and votes)
// is returned as the extension field "rpu" of the response (streams: of the finish chunk).
#include <ctime>

#include "server/connection_gate.h"
#include "server/generation_stream.h"
#include "server/handlers.h"

namespace rpu {
namespace {

struct ChoiceState {
  std::string text;
  std::string reasoning;
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;
  nlohmann::ordered_json tool_calls;
  nlohmann::ordered_json extension;
};

struct ChatShared {
  std::string id = make_response_id("chatcmpl-");
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  std::string model;
  bool stream = false, include_usage = false, want_logprobs = false;
  std::vector<ChoiceState> choices;
  Usage usage;
  std::vector<int> completion_tokens;
  std::vector<int> reasoning_tokens;
};

std::optional<std::string> content_of(const ChoiceState& c) {
  // With tool calls and nothing else said, OpenAI sends content null.
  if (c.tool_calls.is_array() && !c.tool_calls.empty() && c.text.empty()) return std::nullopt;
  return c.text;
}

// The stream chunks for one event.
std::string chunks_for(ChatShared& s, const ChatEvent& e) {
  ChoiceState& c = s.choices[static_cast<size_t>(e.index)];
  std::string bytes;
  if (!e.text.empty() || !e.reasoning.empty() || !e.logprobs.empty()) {
    std::optional<std::vector<TokenLogprob>> lp;
    if (s.want_logprobs) lp = e.logprobs;
    bytes += sse_data(chat_chunk_content(s.id, s.created, s.model, e.index, e.reasoning, e.text, lp, s.include_usage));
  }
  if (e.finish_reason.empty()) return bytes;
  if (c.tool_calls.is_array() && !c.tool_calls.empty()) {
    bytes += sse_data(chat_chunk_tool_calls(s.id, s.created, s.model, e.index, c.tool_calls, s.include_usage));
  }
  nlohmann::ordered_json finish = chat_chunk_finish(s.id, s.created, s.model, e.index, c.finish_reason, s.include_usage);
  if (!c.extension.is_null()) finish["rpu"] = c.extension;
  return bytes + sse_data(finish);
}

std::string final_bytes(ChatShared& s) {
  Usage& usage = s.usage;
  usage.completion_tokens = 0;
  for (int tokens : s.completion_tokens) usage.completion_tokens += tokens;
  usage.reasoning_tokens = 0;
  for (int tokens : s.reasoning_tokens) usage.reasoning_tokens += tokens;
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  if (s.stream) {
    std::string bytes;
    if (s.include_usage) bytes += sse_data(chat_chunk_usage(s.id, s.created, s.model, usage));
    return bytes + sse_done();
  }
  std::vector<ChatChoice> choices;
  nlohmann::ordered_json extension;
  for (size_t i = 0; i < s.choices.size(); ++i) {
    const ChoiceState& c = s.choices[i];
    ChatChoice choice;
    choice.index = static_cast<int>(i);
    choice.content = content_of(c);
    choice.reasoning = c.reasoning;
    choice.tool_calls = c.tool_calls;
    if (s.want_logprobs) choice.logprobs = c.logprobs;
    choice.finish_reason = c.finish_reason;
    choices.push_back(std::move(choice));
    if (!c.extension.is_null() && extension.is_null()) extension = c.extension;
  }
  nlohmann::ordered_json body = chat_completion(s.id, s.created, s.model, choices, usage);
  if (!extension.is_null()) body["rpu"] = extension;
  return to_json_text(body);
}

}  // namespace

void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ChatRequest r = parse_chat_request(req.body);
  tag_caller(r, req);
  r.cancelled = current_client_gone_check();  // template / schema work stops for a client that left
  check_model_name(ctx, r.model);
  auto shared = std::make_shared<ChatShared>();
  shared->model = r.model;
  shared->stream = r.stream;
  shared->include_usage = r.include_usage;
  shared->want_logprobs = r.logprobs;
  const int choices = ctx.backend.choice_count(r);
  shared->choices.resize(static_cast<size_t>(choices));
  shared->completion_tokens.assign(static_cast<size_t>(choices), 0);
  shared->reasoning_tokens.assign(static_cast<size_t>(choices), 0);

  CallOutput out;
  out.stream = r.stream;
  out.choices = choices;
  out.on_start = [shared] {
    if (!shared->stream) return std::string();
    std::string bytes;
    for (size_t i = 0; i < shared->choices.size(); ++i) {
      bytes += sse_data(chat_chunk_role(shared->id, shared->created, shared->model, static_cast<int>(i),
                                        shared->include_usage));
    }
    return bytes;
  };
  out.on_event = [shared](const ChatEvent& e) {
    if (e.index < 0 || static_cast<size_t>(e.index) >= shared->choices.size()) return std::string();
    ChoiceState& c = shared->choices[static_cast<size_t>(e.index)];
    c.text += e.text;
    c.reasoning += e.reasoning;
    c.logprobs.insert(c.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
    shared->completion_tokens[static_cast<size_t>(e.index)] = e.completion_tokens;
    shared->reasoning_tokens[static_cast<size_t>(e.index)] = e.reasoning_tokens;
    shared->usage.prompt_tokens = e.prompt_tokens;
    shared->usage.cached_tokens = e.cached_tokens;
    if (!e.finish_reason.empty()) {
      c.finish_reason = e.finish_reason;
      c.tool_calls = e.tool_calls;
      c.extension = e.extension;
    }
    return shared->stream ? chunks_for(*shared, e) : std::string();
  };
  out.on_finish = [shared] { return final_bytes(*shared); };
  Backend& backend = ctx.backend;
  serve_call(ctx, res, [&backend, &r](ChatEventSink sink) { return backend.chat(r, std::move(sink)); },
             std::move(out), "chat");
}

}  // namespace rpu
