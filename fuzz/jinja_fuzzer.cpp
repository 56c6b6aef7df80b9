// libFuzzer target for the jinja engine: the input is a chat template's source, rendered with a
// fixed conversation (system, user, assistant with a tool call, tool result, tools, flags). It
// must either render or throw rpu::Error (a syntax error, the template's raise_exception, a
// limit), never crash, and never run past its work budget (kept small here so that every input
// is quick even under the sanitizers; the budget accounting is the same as in production).
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

using nlohmann::ordered_json;

const ordered_json& context() {
  static const ordered_json ctx = [] {
    const ordered_json messages = ordered_json::parse(R"([
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "What is the weather in Paris? 日本語 🙂"},
      {"role": "assistant", "content": "<think>check</think>Let me look.",
       "tool_calls": [{"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"days\": [1, 2]}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21.5}"},
      {"role": "assistant", "content": "It is 21.5 degrees."},
      {"role": "user", "content": [{"type": "text", "text": "thanks"}]}
    ])");
    const ordered_json tools = ordered_json::parse(R"([{"type": "function", "function": {
      "name": "get_weather", "description": "Weather for a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "array"}},
                     "required": ["city"]}}}])");
    rpu::ChatContextOptions options;
    options.bos_token = "<s>";
    options.eos_token = "</s>";
    options.tool_call_arguments_as_objects = true;
    return rpu::make_chat_context(messages, tools, options, ordered_json{{"enable_thinking", false}});
  }();
  return ctx;
}

rpu::ChatRenderOptions options() {
  rpu::ChatRenderOptions o;
  o.now = [] {
    std::tm t{};
    t.tm_year = 125;
    t.tm_mday = 1;
    return t;
  };
  o.max_output_bytes = std::size_t{1} << 20;
  o.max_cost = 20'000'000;
  return o;
}

volatile std::size_t g_sink = 0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const rpu::ChatRenderOptions render_options = options();
  std::string source(reinterpret_cast<const char*>(data), size);
  try {
    const rpu::ChatTemplate tmpl = rpu::ChatTemplate::parse(std::move(source));
    g_sink = g_sink + tmpl.render(context(), render_options).size();
  } catch (const rpu::Error&) {
  }
  return 0;
}
