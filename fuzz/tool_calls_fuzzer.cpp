// libFuzzer target: reading tool calls out of generated text (src/chat/tool_calls.cpp). A model
// writes whatever its weights and its prompt (possibly injected by a document or a tool's
// result) lead it to, so the reader must take any text: never throw, and every call it returns
// must be one an OpenAI client can use (an id, type "function", a name, arguments that are a
// JSON object's text). The first byte picks the format (Hermes, Llama 3 JSON, Mistral, generic).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/tool_calls.h"

namespace {

[[noreturn]] void broken(const char* what, const nlohmann::ordered_json& call) {
  std::fprintf(stderr, "%s: %s\n", what, call.dump().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  constexpr rpu::ToolCallFormat kFormats[] = {rpu::ToolCallFormat::kHermes, rpu::ToolCallFormat::kLlama3Json,
                                              rpu::ToolCallFormat::kMistral, rpu::ToolCallFormat::kGeneric};
  const rpu::ToolCallFormat format = kFormats[data[0] & 3];
  const std::string_view output(reinterpret_cast<const char*>(data + 1), size - 1);
  rpu::ParsedToolCalls parsed;
  try {
    parsed = rpu::parse_tool_calls(format, output, rpu::seeded_random_alnum(1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_tool_calls threw on model output: %s\n", e.what());
    std::abort();
  }
  if (!parsed.tool_calls.is_array()) broken("tool_calls is not an array", parsed.tool_calls);
  for (const auto& call : parsed.tool_calls) {
    if (!call.is_object() || !call.contains("id") || !call["id"].is_string() || call["id"].get<std::string>().empty()) {
      broken("a call without an id", call);
    }
    if (call.value("type", std::string()) != "function") broken("a call whose type is not function", call);
    const auto& function = call.value("function", nlohmann::ordered_json());
    if (!function.is_object() || !function.contains("name") || !function["name"].is_string() ||
        function["name"].get<std::string>().empty()) {
      broken("a call without a name", call);
    }
    if (!function.contains("arguments") || !function["arguments"].is_string()) broken("arguments not a string", call);
    const auto arguments = nlohmann::ordered_json::parse(function["arguments"].get<std::string>(), nullptr, false);
    if (!arguments.is_object()) broken("arguments that are not a JSON object's text", call);
  }
  return 0;
}
