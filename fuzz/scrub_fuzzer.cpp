// libFuzzer target: personal-data scrubbing (src/gateway/scrub*.cpp) and the way back
// (src/gateway/unscrub.cpp). The gateway scrubs every logged call, and a scrub_input route every
// call its model sees, so any text a client or a model writes reaches them. The input's first
// byte picks where the streamed restore cuts the scrubbed text; the rest is the text.
//
// Required for any text:
//   - Scrubber::find either throws rpu::Error (a pattern's budget ran out: the call fails
//     closed) or returns spans in the text, sorted and not overlapping;
//   - the scrubbed text, restored with the session's own mapping, is the text again (when the
//     text held no placeholder of its own: those are restored too, by design);
//   - restoring it in streamed pieces (PlaceholderRestorer::feed, then flush) gives the same;
//   - scrubbing valid UTF-8 gives valid UTF-8 (the usage log writes it as JSON);
//   - a scrubbed messages array is still an array of the same length.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "gateway/scrub.h"
#include "gateway/unscrub.h"

namespace {

[[noreturn]] void report(const char* what, std::string_view text) {
  std::fprintf(stderr, "%s for text [%.*s]\n", what, static_cast<int>(text.size()), text.data());
  std::abort();
}

void check_spans(const rpu::gateway::Scrubber& scrubber, std::string_view text) {
  const auto spans = scrubber.find(text);
  size_t last_end = 0;
  for (const auto& s : spans) {
    if (s.begin >= s.end || s.end > text.size()) report("a span outside the text or empty", text);
    if (s.begin < last_end) report("spans out of order or overlapping", text);
    last_end = s.end;
  }
}

bool valid_utf8(std::string_view text) {
  try {
    (void)nlohmann::json(std::string(text)).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// The scrubbed text restored whole and in streamed pieces cut every `step` bytes.
void check_round_trip(const rpu::gateway::Scrubber& scrubber, std::string_view text, size_t step) {
  rpu::gateway::ScrubSession session(scrubber);
  const std::string scrubbed = session.scrub(text);
  if (valid_utf8(text) && !valid_utf8(scrubbed)) report("scrubbing made valid UTF-8 invalid", text);
  if (!rpu::gateway::placeholders_in(text).empty()) return;  // its own placeholders are restored too
  std::map<std::string, std::string> originals;
  for (const auto& [value, placeholder] : session.mapping()) originals[placeholder] = value;
  rpu::gateway::PlaceholderRestorer restorer(originals);
  if (restorer.restore(scrubbed) != text) report("scrub then restore did not give the text back", text);
  std::string streamed;
  for (size_t i = 0; i < scrubbed.size(); i += step) {
    streamed += restorer.feed(0, std::string_view(scrubbed).substr(i, step));
  }
  streamed += restorer.flush(0);
  if (streamed != text) report("the streamed restore differs from the text", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const rpu::gateway::Scrubber scrubber;
  const size_t step = 1 + data[0] % 16;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    check_spans(scrubber, text);
    check_round_trip(scrubber, text, step);
    nlohmann::json messages = nlohmann::json::array(
        {{{"role", "user"}, {"content", std::string(text)}},
         {{"role", "assistant"},
          {"tool_calls", {{{"type", "function"}, {"function", {{"name", "f"}, {"arguments", std::string(text)}}}}}}}});
    rpu::gateway::ScrubSession session(scrubber);
    session.scrub_messages(messages);
    if (!messages.is_array() || messages.size() != 2) report("scrub_messages changed the array's shape", text);
  } catch (const rpu::Error&) {
    return 0;  // a budget ran out: the gateway refuses to log (or serve) the call, it never passes it on
  }
  return 0;
}
