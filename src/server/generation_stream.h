// Serving scheduler events over HTTP: submits one or more generations, then writes what the
// endpoint makes of their events from a chunked response on the HTTP thread. A client that
// hangs up is noticed at the next write (streams write every token; non-streamed responses
// write a JSON-insignificant space each second while waiting) and its requests are
// cancelled, which frees their slots before the scheduler's next step.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/handlers.h"

namespace rpu {

struct GenerationOutput {
  bool stream = false;  // text/event-stream, else application/json
  const char* prompt_param = "messages";  // named in the error when the scheduler refuses a prompt
  // Bytes to write before any event (e.g. the role chunks of a chat stream).
  std::function<std::string()> on_start;
  // Bytes to write for one event of generation `request` (index in the submitted vector).
  std::function<std::string(size_t request, const GenerationEvent& event)> on_event;
  // Bytes to write once every sample of every generation finished.
  std::function<std::string()> on_finish;
};

// Throws ApiError (400 for a request the scheduler rejects, 429 when its queue is full)
// before anything is written; afterwards the response belongs to the stream.
void serve_generations(ServerContext& ctx, httplib::Response& res, std::vector<GenerationRequest> requests,
                       GenerationOutput output, const char* endpoint);

}  // namespace rpu
