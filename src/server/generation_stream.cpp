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
  std::vector<uint64_t> ids;
  int remaining = 0;  // samples that have not finished
  std::atomic<bool> finished{false};
  Clock::time_point start = Clock::now();
  bool first_token_seen = false;
  std::map<std::pair<size_t, int>, int> generated;  // (request, sample) -> tokens reported
};

}  // namespace

void serve_generations(ServerContext& ctx, httplib::Response& res, std::vector<GenerationRequest> requests,
                       GenerationOutput output, const char* endpoint) {
  auto state = std::make_shared<StreamState>();
  for (const GenerationRequest& r : requests) state->remaining += r.n;
  int prompt_tokens = 0;
  const bool stream = output.stream;
  for (size_t i = 0; i < requests.size(); ++i) {
    prompt_tokens += static_cast<int>(requests[i].prompt.size());
    try {
      state->ids.push_back(ctx.scheduler.submit(std::move(requests[i]), [state, i, stream](const GenerationEvent& e) {
        state->channel.push({i, e}, stream || !e.finish_reason.empty());
      }));
    } catch (const QueueFullError& e) {
      for (uint64_t id : state->ids) ctx.scheduler.cancel(id);
      throw ApiError(429, e.what(), "rate_limit_exceeded", "", "queue_full");
    } catch (const Error& e) {
      for (uint64_t id : state->ids) ctx.scheduler.cancel(id);
      throw ApiError(400, e.what(), "invalid_request_error", output.prompt_param, "context_length_exceeded");
    }
  }

  const char* content_type = output.stream ? "text/event-stream" : "application/json";
  if (output.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
  }
  res.status = 200;
  const std::string endpoint_name = endpoint;
  res.set_chunked_content_provider(
      content_type,
      [state, output, &ctx, endpoint_name, prompt_tokens](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& bytes) { return bytes.empty() || sink.write(bytes.data(), bytes.size()); };
        if (output.on_start && !write(output.on_start())) return false;
        auto last_write = Clock::now();
        std::deque<ChannelEvent> events;
        int cached_tokens = 0;
        while (state->remaining > 0) {
          if (!state->channel.pop_all(events, std::chrono::milliseconds(200))) {
            if (Clock::now() - last_write >= std::chrono::seconds(1)) {
              // Probes the connection: SSE ignores comment lines, JSON ignores leading spaces.
              if (!write(output.stream ? ": keep-alive\n\n" : " ")) return false;
              last_write = Clock::now();
            }
            continue;
          }
          std::string out;
          for (const ChannelEvent& ce : events) {
            const GenerationEvent& e = ce.event;
            int& reported = state->generated[{ce.request, e.index}];
            if (e.completion_tokens > reported) {
              if (!state->first_token_seen) {
                state->first_token_seen = true;
                ctx.metrics.on_first_token(seconds_since(state->start));
              }
              ctx.metrics.on_generated(e.completion_tokens - reported);
              reported = e.completion_tokens;
            }
            cached_tokens = e.cached_tokens;
            out += output.on_event(ce.request, e);
            if (!e.finish_reason.empty()) --state->remaining;
          }
          events.clear();
          if (!write(out)) return false;
          last_write = Clock::now();
        }
        if (!write(output.on_finish())) return false;
        sink.done();
        state->finished = true;
        ctx.metrics.on_prompt(prompt_tokens, cached_tokens);
        ctx.metrics.on_request_done(endpoint_name, 200, seconds_since(state->start));
        return true;
      },
      [state, &ctx, endpoint_name](bool) {
        if (state->finished) return;
        // The client went away (or the write failed): free the slots now.
        for (uint64_t id : state->ids) ctx.scheduler.cancel(id);
        ctx.metrics.on_request_done(endpoint_name, 499, seconds_since(state->start));
      });
}

}  // namespace rpu
