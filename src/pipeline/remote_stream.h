// Turns an upstream's Server-Sent Events (OpenAI chat.completion.chunk / text_completion
// chunks) back into pipeline ChatEvents: content deltas as they arrive, tool-call deltas
// merged per call, token log-probabilities, and each choice's finish held until the stream
// ends so that it can carry the token counts of the upstream's usage chunk.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/backend.h"

namespace rpu {

class StreamDecoder {
 public:
  StreamDecoder(int choices, ChatEventSink sink);
  // False when the upstream sent more than kMaxEventBytes without ending an event (the call
  // is then abandoned and its choices end with "error").
  bool feed(std::string_view bytes);
  static constexpr size_t kMaxEventBytes = 8u << 20;
  // Records why the stream stops early (the choices then finish with "error").
  void fail(const std::string& error);
  // The stream ended: every choice gets its last event (an error ends the unfinished ones).
  void finish(const std::string& error);

  // What a choice of an echo request (completions) echoes: its prompt's log-probability entries
  // lead the choice's and are not completion tokens. A token prompt has `tokens` entries; a text
  // prompt's are those whose text_offset is before `bytes` (a leading BOS included). Call before
  // feeding; an upstream that sends no text_offset has every entry counted, as without echo.
  struct EchoedPrompt {
    int64_t tokens = -1;  // >= 0: a token prompt of this many entries
    size_t bytes = 0;     // a text prompt's length
    bool pending() const { return tokens > 0 || bytes > 0; }
  };
  void expect_echoes(std::vector<EchoedPrompt> per_choice);

 private:
  struct Choice {
    bool finished = false;
    int tokens = 0;
    EchoedPrompt echo;  // the prompt entries still to come (none once the prompt is past)
    std::string finish_reason;
    nlohmann::ordered_json tool_calls = nlohmann::ordered_json::array();
    nlohmann::ordered_json extension;
  };
  void on_data(std::string_view payload);
  void on_chunk(const nlohmann::ordered_json& chunk);
  void on_choice(const nlohmann::ordered_json& choice, const nlohmann::ordered_json& chunk);
  int echoed_entries(Choice& c, const nlohmann::ordered_json& choice, size_t entries);

  std::mutex mutex_;
  ChatEventSink sink_;
  std::vector<Choice> choices_;
  std::string buffer_, error_;
  int prompt_tokens_ = 0, completion_tokens_ = -1, cached_tokens_ = 0, reasoning_tokens_ = 0;
};

}  // namespace rpu
