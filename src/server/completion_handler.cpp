// POST /v1/completions: raw prompts (text or token ids; several prompts make several
// generations, choice index = prompt * n + sample), echo, legacy logprobs, streaming; the
// Backend runs them and this file writes the OpenAI text_completion shapes.
#include <ctime>

#include "server/generation_stream.h"
#include "server/handlers.h"

namespace rpu {
namespace {

struct CompletionChoiceState {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  size_t logprob_bytes = 0;  // the entries' tokens so far: a streamed chunk's first text_offset
  std::string finish_reason;
  int completion_tokens = 0;
  int prompt_tokens = 0;
};

struct CompletionShared {
  std::string id = make_response_id("cmpl-");
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  std::string model;
  bool stream = false, include_usage = false, want_logprobs = false;
  int n = 1;
  std::vector<CompletionChoiceState> choices;
};

std::string final_bytes(const CompletionShared& s) {
  Usage usage;
  for (size_t i = 0; i < s.choices.size(); ++i) {
    usage.completion_tokens += s.choices[i].completion_tokens;
    if (i % static_cast<size_t>(s.n) == 0) usage.prompt_tokens += s.choices[i].prompt_tokens;
  }
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  if (s.stream) {
    std::string bytes;
    if (s.include_usage) bytes += sse_data(completion_usage_chunk(s.id, s.created, s.model, usage));
    return bytes + sse_done();
  }
  std::vector<CompletionChoice> choices;
  for (size_t i = 0; i < s.choices.size(); ++i) {
    CompletionChoice choice;
    choice.index = static_cast<int>(i);
    choice.text = s.choices[i].text;
    if (s.want_logprobs) choice.logprobs = s.choices[i].logprobs;
    choice.finish_reason = s.choices[i].finish_reason;
    choices.push_back(std::move(choice));
  }
  return to_json_text(text_completion(s.id, s.created, s.model, choices, usage));
}

}  // namespace

void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  CompletionRequest r = parse_completion_request(req.body);
  tag_caller(r, req);
  check_model_name(ctx, r.model);
  auto shared = std::make_shared<CompletionShared>();
  shared->model = r.model;
  shared->stream = r.stream;
  shared->include_usage = r.include_usage;
  shared->want_logprobs = r.logprobs >= 0;
  shared->n = r.n;
  shared->choices.resize(r.prompts.size() * static_cast<size_t>(r.n));

  CallOutput out;
  out.stream = r.stream;
  out.choices = static_cast<int>(shared->choices.size());
  out.choices_per_prompt = r.n;
  out.on_event = [shared](const ChatEvent& e) {
    if (e.index < 0 || static_cast<size_t>(e.index) >= shared->choices.size()) return std::string();
    CompletionChoiceState& c = shared->choices[static_cast<size_t>(e.index)];
    c.text += e.text;
    // Streamed offsets run on over the choice's chunks, as OpenAI's and vLLM's, so they equal
    // the offsets of the same call unstreamed.
    const size_t text_offset = c.logprob_bytes;
    for (const TokenLogprob& lp : e.logprobs) c.logprob_bytes += lp.chosen.bytes.size();
    c.logprobs.insert(c.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
    c.completion_tokens = e.completion_tokens;
    c.prompt_tokens = e.prompt_tokens;
    if (!e.finish_reason.empty()) c.finish_reason = e.finish_reason;
    if (!shared->stream || (e.text.empty() && e.finish_reason.empty() && e.logprobs.empty())) return std::string();
    std::optional<std::vector<TokenLogprob>> lp;
    if (shared->want_logprobs) lp = e.logprobs;
    std::optional<std::string> finish;
    if (!e.finish_reason.empty()) finish = e.finish_reason;
    return sse_data(completion_chunk(shared->id, shared->created, shared->model, e.index, e.text, lp, text_offset, finish,
                                     shared->include_usage));
  };
  out.on_finish = [shared] { return final_bytes(*shared); };
  Backend& backend = ctx.backend;
  serve_call(ctx, res, [&backend, &r](ChatEventSink sink) { return backend.complete(r, std::move(sink)); },
             std::move(out), "completions");
}

}  // namespace rpu
