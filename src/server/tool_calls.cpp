#include "server/tool_calls.h"

#include <random>

#include "core/error.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

std::string call_id() {
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id.push_back(kAlphabet[engine() % 62]);
  return id;
}

std::string trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// {"name": ..., "<args_key>": {...}} -> an OpenAI tool call, or nothing when malformed.
std::optional<json> to_openai_call(const json& call, const char* args_key) {
  if (!call.is_object() || !call.contains("name") || !call["name"].is_string()) return std::nullopt;
  json args = call.contains(args_key) ? call[args_key] : json::object();
  if (args.is_string()) {  // some models write the arguments as a JSON string
    try {
      args = json::parse(args.get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (!args.is_object()) return std::nullopt;
  return json{{"id", call_id()},
              {"type", "function"},
              {"function", {{"name", call["name"]}, {"arguments", args.dump(-1, ' ', false, json::error_handler_t::replace)}}}};
}

std::optional<json> parse_json(std::string_view text) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ParsedToolCalls parse_hermes(std::string_view out) {
  ParsedToolCalls parsed;
  std::string content;
  size_t pos = 0;
  for (;;) {
    const size_t open = out.find("<tool_call>", pos);
    if (open == std::string_view::npos) break;
    const size_t body = open + 11;
    const size_t close = out.find("</tool_call>", body);
    const size_t end = close == std::string_view::npos ? out.size() : close;
    const auto call = parse_json(trim(out.substr(body, end - body)));
    const auto converted = call ? to_openai_call(*call, "arguments") : std::nullopt;
    if (!converted) break;  // malformed: this and the rest stay content
    content += out.substr(pos, open - pos);
    parsed.tool_calls.push_back(*converted);
    pos = close == std::string_view::npos ? out.size() : close + 12;
  }
  content += out.substr(pos);
  parsed.content = trim(content);
  return parsed;
}

ParsedToolCalls parse_llama3(std::string_view out) {
  ParsedToolCalls parsed;
  std::string text = trim(out);
  if (text.rfind("<|python_tag|>", 0) == 0) text = trim(std::string_view(text).substr(14));
  // One call per line or separated by ';'.
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\n' || text[i] == ';') {
      const std::string part = trim(std::string_view(text).substr(start, i - start));
      if (!part.empty()) parts.push_back(part);
      start = i + 1;
    }
  }
  json calls = json::array();
  for (const std::string& part : parts) {
    const auto call = parse_json(part);
    std::optional<json> converted;
    if (call) converted = to_openai_call(*call, call->contains("parameters") ? "parameters" : "arguments");
    if (!converted) {
      parsed.content = trim(out);
      return parsed;
    }
    calls.push_back(*converted);
  }
  if (calls.empty()) {
    parsed.content = trim(out);
    return parsed;
  }
  parsed.tool_calls = calls;
  return parsed;
}

ParsedToolCalls parse_mistral(std::string_view out) {
  ParsedToolCalls parsed;
  const size_t tag = out.find("[TOOL_CALLS]");
  if (tag == std::string_view::npos) {
    parsed.content = trim(out);
    return parsed;
  }
  const auto list = parse_json(trim(out.substr(tag + 12)));
  if (!list || !list->is_array()) {
    parsed.content = trim(out);
    return parsed;
  }
  for (const json& call : *list) {
    const auto converted = to_openai_call(call, "arguments");
    if (!converted) {
      parsed.content = trim(out);
      parsed.tool_calls = json::array();
      return parsed;
    }
    parsed.tool_calls.push_back(*converted);
  }
  parsed.content = trim(out.substr(0, tag));
  return parsed;
}

// A GBNF string literal for `text`.
std::string literal(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

}  // namespace

ToolCallFormat detect_tool_call_format(std::string_view t) {
  if (t.find("<tool_call>") != std::string_view::npos) return ToolCallFormat::kHermes;
  if (t.find("[TOOL_CALLS]") != std::string_view::npos) return ToolCallFormat::kMistral;
  if (t.find("\"parameters\": ") != std::string_view::npos && t.find("<|start_header_id|>") != std::string_view::npos) {
    return ToolCallFormat::kLlama3Json;
  }
  return ToolCallFormat::kGeneric;
}

nlohmann::ordered_json inject_tool_instructions(const nlohmann::ordered_json& messages,
                                                const nlohmann::ordered_json& tools) {
  std::string text =
      "You may call functions to answer. The available functions, as JSON Schema signatures:\n<tools>\n";
  for (const json& tool : tools) text += tool.dump() + "\n";
  text +=
      "</tools>\nTo call a function, reply with only a JSON object inside <tool_call></tool_call> tags:\n"
      "<tool_call>\n{\"name\": <function-name>, \"arguments\": <arguments-object>}\n</tool_call>";
  json out = messages;
  if (!out.empty() && out[0].value("role", "") == "system" && out[0].contains("content") && out[0]["content"].is_string()) {
    out[0]["content"] = out[0]["content"].get<std::string>() + "\n\n" + text;
  } else {
    out.insert(out.begin(), json{{"role", "system"}, {"content", text}});
  }
  return out;
}

nlohmann::ordered_json rewrite_tool_history(const nlohmann::ordered_json& messages) {
  json out = json::array();
  for (const json& m : messages) {
    const std::string role = m.value("role", "");
    if (role == "assistant" && m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty()) {
      std::string text = m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "";
      for (const json& call : m["tool_calls"]) {
        if (!call.contains("function")) continue;
        const json& fn = call["function"];
        json args = fn.value("arguments", json::object());
        if (args.is_string()) {
          if (auto parsed = parse_json(args.get<std::string>())) args = *parsed;
        }
        if (!text.empty()) text += "\n";
        text += "<tool_call>\n" + json{{"name", fn.value("name", "")}, {"arguments", args}}.dump() + "\n</tool_call>";
      }
      out.push_back({{"role", "assistant"}, {"content", text}});
    } else if (role == "tool") {
      const std::string content = m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>()
                                                                                    : m.value("content", json()).dump();
      out.push_back({{"role", "user"}, {"content", "<tool_response>\n" + content + "\n</tool_response>"}});
    } else {
      out.push_back(m);
    }
  }
  return out;
}

ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view output) {
  switch (format) {
    case ToolCallFormat::kLlama3Json: return parse_llama3(output);
    case ToolCallFormat::kMistral: return parse_mistral(output);
    case ToolCallFormat::kHermes:
    case ToolCallFormat::kGeneric: return parse_hermes(output);
  }
  return parse_hermes(output);
}

std::string tool_call_grammar(ToolCallFormat format, const nlohmann::ordered_json& tools,
                              const std::optional<std::string>& forced_name, SchemaToRules schema_to_rules) {
  std::string rules, alternatives;
  const char* args_key = format == ToolCallFormat::kLlama3Json ? "parameters" : "arguments";
  int index = 0;
  bool found = !forced_name;
  for (const json& tool : tools) {
    const json& fn = tool["function"];
    const std::string name = fn["name"].get<std::string>();
    if (forced_name && name != *forced_name) continue;
    found = true;
    const json schema = fn.contains("parameters") && fn["parameters"].is_object() ? fn["parameters"]
                                                                                  : json{{"type", "object"}};
    const std::string prefix = "t" + std::to_string(index++) + "-";
    const ToolSchemaRules args = schema_to_rules(schema, prefix);
    rules += args.rules + "\n";
    // {"name": "<name>", "<args_key>": <arguments>} with the format's key order.
    const std::string head = "{\"name\": \"" + name + "\", \"" + args_key + "\": ";
    alternatives += std::string(alternatives.empty() ? "" : " | ") + "(" + literal(head) + " " + args.root + " " +
                    literal("}") + ")";
  }
  if (!found) fail("tool_choice names the function '{}', which is not among the tools", *forced_name);
  if (alternatives.empty()) fail("tool_choice requires a call but no tools were given");
  std::string root;
  switch (format) {
    case ToolCallFormat::kHermes:
    case ToolCallFormat::kGeneric: root = "root ::= " + literal("<tool_call>\n") + " call " + literal("\n</tool_call>"); break;
    case ToolCallFormat::kLlama3Json: root = "root ::= call"; break;
    case ToolCallFormat::kMistral: root = "root ::= " + literal("[TOOL_CALLS][") + " call " + literal("]"); break;
  }
  return root + "\ncall ::= " + alternatives + "\n" + rules;
}

}  // namespace rpu
