#include "server/generation_stream.h"

#include <atomic>
#include <chrono>
#include <map>

#include "server/event_channel.h"

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct StreamState {
  EventChannel channel;
  std::unique_ptr<CallHandle> handle;
  int remaining = 0;  // choices that have not finished
  std::atomic<bool> finished{false};
  Clock::time_point start = Clock::now();
  bool first_token_seen = false;
  std::map<int, int> generated;               // choice -> tokens reported
  std::map<int, int> prompt_tokens, cached;   // choice -> prompt length, reused prompt tokens
};

// The server is stopping and its drain deadline passed: cancel the call and end the response
// well-formed (an error event and [DONE] for a stream; an error body after the whitespace
// written so far for JSON) rather than have the connection cut mid-response.
bool end_for_shutdown(ServerContext& ctx, StreamState& state, bool stream, httplib::DataSink& sink,
                      const std::string& endpoint) {
  if (state.handle) state.handle->cancel();
  state.finished = true;
  ctx.metrics.on_request_done(endpoint, 503, seconds_since(state.start));
  request_tally().status = 503;
  const std::string error = to_json_text(error_body(
      ApiError(503, "the server is shutting down; the request was cancelled", "server_error", "", "server_shutting_down")));
  const std::string bytes = stream ? "data: " + error + "\n\ndata: [DONE]\n\n" : error;
  if (!sink.write(bytes.data(), bytes.size())) return false;
  sink.done();
  return true;
}

}  // namespace

void serve_call(ServerContext& ctx, httplib::Response& res, const CallStarter& start, CallOutput output,
                const char* endpoint) {
  auto state = std::make_shared<StreamState>();
  state->remaining = output.choices;
  const bool stream = output.stream;
  state->handle = start([state, stream](const ChatEvent& e) { state->channel.push(e, stream || !e.finish_reason.empty()); });

  const char* content_type = output.stream ? "text/event-stream" : "application/json";
  if (output.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
  }
  res.status = 200;
  const std::string endpoint_name = endpoint;
  res.set_chunked_content_provider(
      content_type,
      [state, output, &ctx, endpoint_name](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& bytes) { return bytes.empty() || sink.write(bytes.data(), bytes.size()); };
        if (output.on_start && !write(output.on_start())) return false;
        auto last_write = Clock::now();
        std::deque<ChatEvent> events;
        while (state->remaining > 0) {
          if (ctx.shutting_down) return end_for_shutdown(ctx, *state, output.stream, sink, endpoint_name);
          if (!state->channel.pop_all(events, std::chrono::milliseconds(200))) {
            if (Clock::now() - last_write >= std::chrono::seconds(1)) {
              // Probes the connection: SSE ignores comment lines, JSON ignores leading spaces.
              if (!write(output.stream ? ": keep-alive\n\n" : " ")) return false;
              last_write = Clock::now();
            }
            continue;
          }
          std::string out;
          for (const ChatEvent& e : events) {
            int& reported = state->generated[e.index];
            if (e.completion_tokens > reported) {
              if (!state->first_token_seen) {
                state->first_token_seen = true;
                ctx.metrics.on_first_token(seconds_since(state->start));
              }
              ctx.metrics.on_generated(e.completion_tokens - reported);
              request_tally().completion_tokens += e.completion_tokens - reported;
              reported = e.completion_tokens;
            }
            if (!e.finish_reason.empty()) ctx.metrics.on_speculation(e.drafted_tokens, e.accepted_tokens);
            state->prompt_tokens[e.index] = e.prompt_tokens;
            state->cached[e.index] = e.cached_tokens;
            out += output.on_event(e);
            if (!e.finish_reason.empty()) --state->remaining;
          }
          events.clear();
          if (!write(out)) return false;
          last_write = Clock::now();
        }
        if (!write(output.on_finish())) return false;
        sink.done();
        state->finished = true;
        int prompt = 0, cached = 0;
        for (const auto& [index, tokens] : state->prompt_tokens) {
          if (index % output.choices_per_prompt == 0) prompt += tokens, cached += state->cached[index];
        }
        ctx.metrics.on_prompt(prompt, cached);
        request_tally().prompt_tokens = prompt;
        ctx.metrics.on_request_done(endpoint_name, 200, seconds_since(state->start));
        return true;
      },
      [state, &ctx, endpoint_name](bool) {
        if (state->finished) return;
        // The client went away (or the write failed): free the slots now.
        if (state->handle) state->handle->cancel();
        ctx.metrics.on_request_done(endpoint_name, 499, seconds_since(state->start));
      });
}

}  // namespace rpu
