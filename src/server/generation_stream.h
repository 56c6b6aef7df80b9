// Serving a pipeline call over HTTP: starts the call on the Backend, then writes what the
// endpoint makes of its events from a chunked response on the HTTP thread. A client that
// hangs up is noticed at the next write (streams write every token; non-streamed responses
// write a JSON-insignificant space each second while waiting) and the call is cancelled,
// which frees its slots before the scheduler's next step.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/handlers.h"

namespace rpu {

struct CallOutput {
  bool stream = false;  // text/event-stream, else application/json
  int choices = 1;      // the call is over when this many choices have finished
  int choices_per_prompt = 1;  // completions: n samples of each prompt (usage counts a prompt once)
  // Bytes to write before any event (e.g. the role chunks of a chat stream).
  std::function<std::string()> on_start;
  // Bytes to write for one event.
  std::function<std::string(const ChatEvent& event)> on_event;
  // Bytes to write once every choice finished.
  std::function<std::string()> on_finish;
};

using CallStarter = std::function<std::unique_ptr<CallHandle>(ChatEventSink sink)>;

// Starts the call (ApiErrors it throws propagate before anything is written); afterwards the
// response belongs to the stream.
void serve_call(ServerContext& ctx, httplib::Response& res, const CallStarter& start, CallOutput output,
                const char* endpoint);

}  // namespace rpu
