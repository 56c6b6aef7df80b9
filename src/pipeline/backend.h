// The pipeline's one interface: a Backend takes a chat (or completion) call and streams its
// events back; it also embeds text and reranks documents (a cross-encoder's pair scores). Everything above the engine is written against it:
//   LocalBackend   a model in this process (template, tools, grammar, scheduler);
//   RemoteBackend  any OpenAI-compatible server over HTTP;
//   ResilientBackend  retries, backoff and a circuit breaker around one upstream;
//   ReplicaPool    replicas of one model, least outstanding first, health-checked;
//   reasoning      a Backend wrapping a Backend (samples many answers, returns one);
// and every consumer uses it the same way: the HTTP server, `rpu run` and `rpu chat`.
//
// Event contract: events arrive on a backend thread (never block in the sink); the events of
// one choice arrive in order, and its last event carries a finish_reason; the call is over
// when every choice has finished. A call that can never run throws ApiError from chat() /
// complete() before any event.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "pipeline/call.h"

namespace rpu {

class Tokenizer;

struct ChatEvent {
  int index = 0;                       // choice; for completions prompt * n + sample
  std::string text;                    // content since this choice's previous event
  std::string reasoning;               // reasoning since then (think_split.h): reasoning_content
  std::vector<TokenLogprob> logprobs;  // tokens this event accounts for (when asked)
  // Last event of a choice: "stop", "length", "tool_calls", or "error" (then `error` says why).
  std::string finish_reason;
  nlohmann::ordered_json tool_calls;   // last event: OpenAI tool_calls array, or null
  nlohmann::ordered_json extension;    // last event: what a wrapper adds (reasoning: confidence, votes)
  std::string error;
  bool stopped_by_string = false;      // last event: one of the request's stop strings ended it
  int prompt_tokens = 0;               // this choice's prompt
  int cached_tokens = 0;               // prompt tokens whose KV was reused
  int completion_tokens = 0;           // tokens generated for this choice so far (all samples)
  int reasoning_tokens = 0;            // of which spent in the reasoning span (think_split.h)
  int drafted_tokens = 0;              // speculative guesses made for this choice so far
  int accepted_tokens = 0;             // of which kept
};

using ChatEventSink = std::function<void(const ChatEvent&)>;

// A running call. Destroying the handle does not stop the call; cancel() does, after which no
// further events are delivered.
class CallHandle {
 public:
  virtual ~CallHandle() = default;
  virtual void cancel() = 0;
};

struct EmbeddingResult {
  std::vector<std::vector<float>> embeddings;  // one per input, L2-normalised
  int prompt_tokens = 0;
};

// Current load, for /metrics.
struct BackendLoad {
  int queued = 0;
  int active_sequences = 0;
  // KV cache bytes holding rows, shared prefix pages counted once, and as if unshared.
  int64_t kv_bytes_in_use = 0, kv_bytes_mapped = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The model name this backend serves.
  virtual std::string model_id() const = 0;
  // Every model name a request may name (what /v1/models lists); a router serves several.
  virtual std::vector<std::string> model_ids() const { return {model_id()}; }
  // The reranker served beside the generation model(s) (SideReranker), which /v1/rerank
  // answers a request naming no model with; empty when there is none.
  virtual std::string default_reranker() const { return {}; }
  // Prometheus text lines this backend adds to /metrics (a router's per-route and
  // per-upstream counters); empty for none.
  virtual std::string metrics_text() const { return {}; }
  virtual std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) = 0;
  virtual std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) = 0;
  virtual EmbeddingResult embed(const EmbeddingRequest& request) = 0;
  // Scores every document against the query (RerankResult::scores in the request's order).
  // Only a cross-encoder reranks: the default refuses with a 400 naming the model; wrappers
  // pass the call through.
  virtual RerankResult rerank(const RerankRequest& request);
  virtual BackendLoad load() const { return {}; }
  // Whether a request naming `model` is for this backend (a wrapper may accept variants,
  // e.g. reasoning's "NAME+sc8").
  virtual bool accepts_model(const std::string& model) const { return model == model_id(); }
  // How many choices a chat request yields (reasoning answers n samples with one choice).
  virtual int choice_count(const ChatRequest& request) const { return request.n; }
  // The prompt text a chat request renders to, when this backend can also continue raw text
  // with complete() (step search extends a partial answer this way); nullopt otherwise.
  virtual std::optional<std::string> render_chat(const ChatRequest&) { return std::nullopt; }
  // The tokenizer of the model a request naming `model` reaches, when it runs in this process
  // (llama-server's /tokenize and /detokenize); null for remote upstreams and routers.
  virtual const Tokenizer* local_tokenizer(const std::string& /*model*/) const { return nullptr; }
};

// A finished choice, assembled from its events.
struct ChoiceResult {
  std::string text;
  std::string reasoning;  // reasoning_content (think_split.h)
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;
  nlohmann::ordered_json tool_calls;
  nlohmann::ordered_json extension;
  std::string error;
  bool stopped_by_string = false;
  int completion_tokens = 0;
  int reasoning_tokens = 0;
  int drafted_tokens = 0, accepted_tokens = 0;  // speculative decoding
};

struct CallResult {
  std::vector<ChoiceResult> choices;  // by index
  Usage usage;
};

// Collects events into choices (thread-safe; used by the blocking helpers below).
class CallCollector {
 public:
  // choices_per_prompt: n (a completion call's choices are prompt * n + sample).
  CallCollector(int choices, int choices_per_prompt);
  void add(const ChatEvent& event);     // the sink
  // Blocks until every choice finished; returns them.
  CallResult wait();
  // Blocks until every choice finished (true) or `cancelled` (polled every 50 ms) says the
  // caller went away (false).
  bool wait_until_done(const std::function<bool()>& cancelled);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Run a call to the end, blocking the calling thread (reasoning strategies, the CLI, tests).
// `watch`, when given, also sees every event as it arrives (on the backend's thread). When the
// request's `cancelled` says the caller went away, the call is cancelled and ApiError 499 thrown.
CallResult run_chat(Backend& backend, const ChatRequest& request, const ChatEventSink& watch = {});
CallResult run_completion(Backend& backend, const CompletionRequest& request, const ChatEventSink& watch = {});

}  // namespace rpu
