// OpenAI tools <-> the model's own tool-call format. Tool-capable chat templates describe the
// tools to the model themselves and fix how it writes a call; the server detects which
// format a template uses, parses calls out of the generated text into OpenAI `tool_calls`,
// and, when the client forces a call, constrains decoding with a grammar of that format.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace rpu {

enum class ToolCallFormat {
  kHermes,      // <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call> (Qwen2.5/3, Hermes, SmolLM3)
  kLlama3Json,  // {"name": ..., "parameters": {...}}, optionally after <|python_tag|> (Llama 3.1/3.2)
  kMistral,     // [TOOL_CALLS][{"name": ..., "arguments": {...}, "id": ...}] (Mistral-Nemo)
  kGeneric,     // the template knows nothing of tools: the server describes them (Hermes format)
};

ToolCallFormat detect_tool_call_format(std::string_view chat_template);

// For kGeneric templates: a system message (merged into a leading one) listing the tools as
// JSON and asking for Hermes <tool_call> blocks.
nlohmann::ordered_json inject_tool_instructions(const nlohmann::ordered_json& messages,
                                                const nlohmann::ordered_json& tools);
// For kGeneric templates, which render only role + content: assistant tool_calls become
// <tool_call> text and tool results become user turns wrapped in <tool_response>.
nlohmann::ordered_json rewrite_tool_history(const nlohmann::ordered_json& messages);

struct ParsedToolCalls {
  std::string content;              // the text outside the calls (trimmed)
  nlohmann::ordered_json tool_calls = nlohmann::ordered_json::array();  // OpenAI tool_calls
};
// Calls found in `output` in the given format (kGeneric reads Hermes). Malformed calls stay
// in the content: the model's text is never dropped.
ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view output);

// GBNF for exactly one call in the format, to one of `tools` (or to `forced_name`), with
// arguments following the tool's parameter schema. schema_to_rules turns a JSON Schema into
// GBNF rules named with a prefix (text/json_schema.h). Throws rpu::Error for an unknown name.
struct ToolSchemaRules {
  std::string rules;
  std::string root;
};
using SchemaToRules = ToolSchemaRules (*)(const nlohmann::ordered_json& schema, std::string_view prefix);
std::string tool_call_grammar(ToolCallFormat format, const nlohmann::ordered_json& tools,
                              const std::optional<std::string>& forced_name, SchemaToRules schema_to_rules);

}  // namespace rpu
