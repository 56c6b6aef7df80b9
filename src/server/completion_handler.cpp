// POST /v1/completions: raw prompts (text or token ids; several prompts make several
// generations, choice index = prompt * n + sample), echo, legacy logprobs, streaming.
#include <ctime>

#include "server/generation_stream.h"
#include "server/handlers.h"

namespace rpu {
namespace {

struct CompletionChoiceState {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;
  int completion_tokens = 0;
};

}  // namespace

void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const CompletionRequest r = parse_completion_request(req.body);
  check_model_name(ctx, r.model);

  std::vector<GenerationRequest> requests;
  std::vector<std::string> echoes;  // prompt text per request, for echo
  const uint64_t seed = r.has_seed ? r.sampling.seed : random_seed();
  for (const CompletionPrompt& p : r.prompts) {
    GenerationRequest g;
    if (p.is_tokens) {
      g.prompt = p.tokens;
    } else {
      // As llama.cpp: the model's BOS is added and special tokens written in the text are parsed.
      g.prompt = ctx.tokenizer.encode(p.text, /*add_special=*/true, /*parse_special=*/true);
    }
    if (g.prompt.empty()) {
      throw ApiError(400, "the prompt is empty and this model adds no BOS token to start from", "invalid_request_error",
                     "prompt", "");
    }
    std::string echo;
    if (r.echo) echo = p.is_tokens ? ctx.tokenizer.decode(p.tokens) : p.text;
    echoes.push_back(std::move(echo));
    g.max_tokens = r.max_tokens;
    g.n = r.n;
    g.sampling = r.sampling;
    g.sampling.seed = seed;
    g.stop = r.stop;
    g.ignore_eos = r.ignore_eos;
    g.top_logprobs = r.logprobs;  // -1: none; 0..5 alternatives
    requests.push_back(std::move(g));
  }

  struct Shared {
    std::string id = make_response_id("cmpl-");
    int64_t created = static_cast<int64_t>(std::time(nullptr));
    std::vector<CompletionChoiceState> choices;
    std::vector<bool> echoed;
    Usage usage;
    std::vector<int> prompt_tokens;
  };
  auto shared = std::make_shared<Shared>();
  const int n = r.n;
  shared->choices.resize(requests.size() * static_cast<size_t>(n));
  shared->echoed.assign(shared->choices.size(), false);
  for (const GenerationRequest& g : requests) shared->prompt_tokens.push_back(static_cast<int>(g.prompt.size()));
  const std::string model = ctx.options.model_id;
  const bool stream = r.stream, include_usage = r.include_usage, want_logprobs = r.logprobs >= 0;

  GenerationOutput out;
  out.stream = stream;
  out.prompt_param = "prompt";
  out.on_event = [shared, echoes, n, model, stream, include_usage, want_logprobs](size_t request,
                                                                                  const GenerationEvent& e) {
    const size_t index = request * static_cast<size_t>(n) + static_cast<size_t>(e.index);
    CompletionChoiceState& c = shared->choices[index];
    std::string delta;
    if (!shared->echoed[index]) {
      shared->echoed[index] = true;
      delta = echoes[request];
    }
    delta += e.text;
    c.text += delta;
    c.logprobs.insert(c.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
    c.completion_tokens = e.completion_tokens;
    if (!e.finish_reason.empty()) c.finish_reason = e.finish_reason;
    if (!stream || (delta.empty() && e.finish_reason.empty() && e.logprobs.empty())) return std::string();
    std::optional<std::vector<TokenLogprob>> lp;
    if (want_logprobs) lp = e.logprobs;
    std::optional<std::string> finish;
    if (!e.finish_reason.empty()) finish = e.finish_reason;
    return sse_data(completion_chunk(shared->id, shared->created, model, static_cast<int>(index), delta, lp,
                                     finish, include_usage));
  };
  out.on_finish = [shared, model, stream, include_usage, want_logprobs] {
    Usage& usage = shared->usage;
    usage.prompt_tokens = 0;
    for (int p : shared->prompt_tokens) usage.prompt_tokens += p;
    usage.completion_tokens = 0;
    for (const CompletionChoiceState& c : shared->choices) usage.completion_tokens += c.completion_tokens;
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    if (stream) {
      std::string bytes;
      if (include_usage) bytes += sse_data(completion_usage_chunk(shared->id, shared->created, model, usage));
      return bytes + sse_done();
    }
    std::vector<CompletionChoice> choices;
    for (size_t i = 0; i < shared->choices.size(); ++i) {
      CompletionChoice choice;
      choice.index = static_cast<int>(i);
      choice.text = shared->choices[i].text;
      if (want_logprobs) choice.logprobs = shared->choices[i].logprobs;
      choice.finish_reason = shared->choices[i].finish_reason;
      choices.push_back(std::move(choice));
    }
    return to_json_text(text_completion(shared->id, shared->created, model, choices, usage));
  };
  serve_generations(ctx, res, std::move(requests), std::move(out), "completions");
}

}  // namespace rpu
