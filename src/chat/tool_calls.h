// Tool calls: OpenAI `tools` / `tool_choice` in, the model's own tool-call text out, and back.
//
// A tool-capable chat template describes the tools to the model and defines how the model writes
// a call; the server only has to recognise which convention it is, read calls back out of the
// generated text, and (for forced calls) build a grammar that makes the model write one.
//
//   ToolCallFormat format = detect_tool_call_format(template_source);
//   ToolChoice choice = parse_tool_choice(request["tool_choice"], request["tools"]);
//   PreparedChat chat = prepare_tool_conversation(format, messages, tools, choice,
//                                                 template_accepts_system_role(tmpl));
//   prompt = tmpl.render(make_chat_context(chat.messages, chat.tools,
//                        {.tool_call_arguments_as_objects = true, ...}, extra));
//   if (choice.forces_call()) grammar = tool_call_grammar(format, tools, choice.forced_name(), to_rules);
//   ... generate ...
//   ParsedToolCalls parsed = parse_tool_calls(format, generated_text, random_alnum);
//
// Pass tool_call_arguments_as_objects = true to make_chat_context: Qwen2.5, Llama 3.x and
// Mistral render `arguments | tojson`, which would quote the string OpenAI clients send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace rpu {

class ChatTemplate;

enum class ToolCallFormat {
  // <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>, one block per call (Qwen2.5,
  // Qwen3, Hermes 2 Pro).
  kHermes,
  // {"name": "f", "parameters": {...}}, optionally after <|python_tag|> (Llama 3.1 / 3.2 Instruct).
  kLlama3Json,
  // [TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "abcDEF123"}] (Mistral-Nemo and kin).
  kMistral,
  // The template does not describe tools in a format above (most often not at all): the server
  // passes no tools to it, describes them itself (inject_tool_instructions) and reads Hermes calls.
  kGeneric,
};

std::string_view to_string(ToolCallFormat format);

// Recognises the format from the template source: the markup it writes assistant tool calls with.
ToolCallFormat detect_tool_call_format(std::string_view chat_template);

// OpenAI tool_choice: "none", "auto", "required" or {"type":"function","function":{"name":"X"}}.
struct ToolChoice {
  enum class Mode { kNone, kAuto, kRequired, kFunction };
  Mode mode = Mode::kAuto;
  std::string function_name;  // for kFunction

  bool forces_call() const { return mode == Mode::kRequired || mode == Mode::kFunction; }
  std::optional<std::string> forced_name() const;
};

// Validates `tools` (null or an array of {"type":"function","function":{"name": non-empty string,
// "description"?: string, "parameters"?: object}} with distinct names) and `tool_choice` (null
// means "auto" with tools, "none" without; "auto" without tools is "none"). Throws rpu::Error naming the offending field, e.g. a
// forced function that is not among the tools or "required" without tools.
void validate_tools(const nlohmann::ordered_json& tools);
ToolChoice parse_tool_choice(const nlohmann::ordered_json& tool_choice, const nlohmann::ordered_json& tools);

// What to pass to make_chat_context for a request.
struct PreparedChat {
  nlohmann::ordered_json messages;
  nlohmann::ordered_json tools;  // null when the template must not see them
};

// Tool-aware templates get the request as is (tools dropped for tool_choice "none"). kGeneric
// templates get the history rewritten as plain text (rewrite_tool_history_as_text) and the tool
// instructions injected (inject_tool_instructions), and no tools.
PreparedChat prepare_tool_conversation(ToolCallFormat format, const nlohmann::ordered_json& messages,
                                       const nlohmann::ordered_json& tools, const ToolChoice& choice,
                                       bool template_accepts_system_role);

// Returns `messages` with instructions that list `tools` as JSON and ask for Hermes <tool_call>
// blocks (and, for a forced choice, insist on a call). They go into the first system message (a
// new one is prepended if there is none), or, when the template has no system role (Gemma raises
// on one), in front of the first user message's text. Throws rpu::Error on malformed messages or
// tools (as does rewrite_tool_history_as_text on malformed messages).
nlohmann::ordered_json inject_tool_instructions(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                                const ToolChoice& choice, bool template_accepts_system_role = true);

// For templates that only know role/content: assistant messages carrying tool_calls become plain
// content (their text, then one Hermes <tool_call> block per call), and role "tool" messages
// become user messages holding <tool_response>...</tool_response>; consecutive results (and a
// user message right after them) merge into one user turn, so user/assistant still alternate.
nlohmann::ordered_json rewrite_tool_history_as_text(const nlohmann::ordered_json& messages);

// Renders a probe conversation: false when the template throws on a system message or drops its
// text (the instructions must then travel in the user turn). A ChatTemplateBudgetError (the
// template cannot be rendered within its work budget at all) propagates.
bool template_accepts_system_role(const ChatTemplate& chat_template);

// A source of random alphanumeric strings ([A-Za-z0-9]) of the given length. Tests inject a
// seeded one so ids are deterministic.
using RandomAlnum = std::function<std::string(std::size_t length)>;
RandomAlnum seeded_random_alnum(std::uint64_t seed);
RandomAlnum system_random_alnum();  // seeded from std::random_device; not thread-safe per instance

// A new call id: "call_" + 24 alnum, except kMistral: 9 alnum, the only shape its template accepts
// when the call comes back in the history.
std::string make_tool_call_id(ToolCallFormat format, const RandomAlnum& random);

struct ParsedToolCalls {
  std::string content;  // the text outside the call markup (empty when there is none)
  // OpenAI array: [{"id":"call_...","type":"function","function":{"name":"f","arguments":"{...}"}}]
  // with the arguments object re-serialized compactly. Empty array when no call was found.
  nlohmann::ordered_json tool_calls = nlohmann::ordered_json::array();
};

// Reads the calls out of generated text (kGeneric reads Hermes, or a reply that is one bare call object). Never throws on model output: a
// malformed call (bad JSON, missing name, arguments not an object) stays in content verbatim.
// A Mistral call keeps the model's own id when it is 9 alphanumerics.
ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view model_output, const RandomAlnum& random);

// JSON Schema -> GBNF, written elsewhere: rule definitions (one per line, every rule name
// starting with rule_prefix) and the name of the rule that matches the schema.
struct SchemaRules {
  std::string rules;
  std::string root_rule;
};
using SchemaToRules = std::function<SchemaRules(const nlohmann::ordered_json& schema, const std::string& rule_prefix)>;

// The JSON keys a format's call markup writes itself ({"name": ..., "arguments": ...}, Mistral's
// "id"), as opposed to the keys inside the arguments.
std::vector<std::string> tool_call_markup_keys(ToolCallFormat format);

// GBNF (llama.cpp syntax) whose `root` generates exactly one call in the format's wrapper: to
// `forced_name`, or to any tool when it is empty (tool_choice "required"). Keys are written in
// the format's order ({"name", "arguments"} or Llama's {"name", "parameters"}); the arguments
// follow the tool's parameters schema ({"type":"object"} when absent). JSON whitespace between
// tokens is optional and bounded (at most 2 characters) so a model cannot loop on spaces.
// Throws rpu::Error for invalid tools or a forced name that is not among them.
std::string tool_call_grammar(ToolCallFormat format, const nlohmann::ordered_json& tools,
                              const std::optional<std::string>& forced_name, const SchemaToRules& schema_to_rules);

}  // namespace rpu
