#include "chat/tool_calls.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/json_text.h"
#include "core/rng.h"
#include "chat/chat_template.h"

namespace rpu {

using nlohmann::ordered_json;

namespace {

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kMistralTag = "[TOOL_CALLS]";
constexpr std::size_t kMistralIdLength = 9;
constexpr std::size_t kOpenAiIdLength = 24;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_identifier_char(char c) { return is_alnum(c) || c == '_'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::size_t skip_space(std::string_view s, std::size_t pos) {
  while (pos < s.size() && is_space(s[pos])) ++pos;
  return pos;
}

// True when `word` occurs as a whole identifier (so "tools" matches but "tool_calls" does not).
bool mentions_identifier(std::string_view text, std::string_view word) {
  for (std::size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const bool starts = at == 0 || !is_identifier_char(text[at - 1]);
    const bool ends = at + word.size() == text.size() || !is_identifier_char(text[at + word.size()]);
    if (starts && ends) return true;
  }
  return false;
}

// The end (one past) of the JSON object or array starting at `pos`, found by balancing brackets
// outside strings; npos when it never closes. The text is validated later by the JSON parser.
std::size_t find_json_end(std::string_view s, std::size_t pos) {
  if (pos >= s.size() || (s[pos] != '{' && s[pos] != '[')) return std::string_view::npos;
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = pos; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<ordered_json> parse_json(std::string_view text) {
  // Model output: a value nested deeper than any real call would overflow the stack when copied.
  if (json_nesting_depth(text) > kMaxJsonNesting) return std::nullopt;
  ordered_json value = ordered_json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

// The text a message's content stands for: a string, the text parts of an array, JSON otherwise.
std::string content_text(const ordered_json& content) {
  if (content.is_null()) return "";
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {
    std::string text;
    for (const auto& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string())
        text += part["text"].get<std::string>();
    }
    return text;
  }
  return content.dump();
}

// A call as JSON: {"name": string, <args_key>: object | JSON text of an object | absent}. The
// other usual key is accepted too, since models mix them up. Returns {name, compact arguments}.
struct CallParts {
  std::string name;
  std::string arguments;
};
std::optional<CallParts> call_parts(const ordered_json& call, ToolCallFormat format) {
  if (!call.is_object() || !call.contains("name") || !call["name"].is_string()) return std::nullopt;
  CallParts parts{call["name"].get<std::string>(), "{}"};
  if (parts.name.empty()) return std::nullopt;
  const char* preferred = format == ToolCallFormat::kLlama3Json ? "parameters" : "arguments";
  const char* other = format == ToolCallFormat::kLlama3Json ? "arguments" : "parameters";
  const ordered_json* args = call.contains(preferred) ? &call[preferred] : call.contains(other) ? &call[other] : nullptr;
  if (args == nullptr || args->is_null()) return parts;
  if (args->is_object()) {
    parts.arguments = args->dump();
  } else if (args->is_string()) {
    const auto inner = parse_json(args->get_ref<const std::string&>());
    if (!inner || !inner->is_object()) return std::nullopt;
    parts.arguments = inner->dump();
  } else {
    return std::nullopt;
  }
  return parts;
}

ordered_json openai_call(const CallParts& parts, std::string id) {
  return ordered_json{{"id", std::move(id)},
                      {"type", "function"},
                      {"function", {{"name", parts.name}, {"arguments", parts.arguments}}}};
}

// Accumulates the output of a parser: calls, and the text between them as content.
class ParseResult {
 public:
  explicit ParseResult(std::string_view output) : output_(output) {}
  // The call markup spans [from, to); the text before it (since the last call) is content.
  void add_call(std::size_t from, std::size_t to, ordered_json call) {
    segments_.push_back(output_.substr(segment_start_, from - segment_start_));
    segment_start_ = to;
    calls_.push_back(std::move(call));
  }
  ParsedToolCalls finish() {
    ParsedToolCalls parsed;
    if (calls_.empty()) {
      parsed.content = std::string(output_);
      return parsed;
    }
    // The whitespace that separated text from call markup belongs to neither.
    segments_.push_back(output_.substr(segment_start_));
    for (std::string_view segment : segments_) {
      segment = trim(segment);
      if (segment.empty()) continue;
      if (!parsed.content.empty()) parsed.content += '\n';
      parsed.content += segment;
    }
    parsed.tool_calls = std::move(calls_);
    return parsed;
  }

 private:
  std::string_view output_;
  std::size_t segment_start_ = 0;
  std::vector<std::string_view> segments_;
  ordered_json calls_ = ordered_json::array();
};

// <tool_call> JSON </tool_call> blocks. A final block whose closing tag is missing (a stop string
// ate it) still counts when only its JSON follows the opening tag.
ParsedToolCalls parse_hermes(std::string_view text, const RandomAlnum& random) {
  ParseResult result(text);
  std::size_t search = 0;
  while (true) {
    const std::size_t open = text.find(kHermesOpen, search);
    if (open == std::string_view::npos) break;
    const std::size_t body_start = open + kHermesOpen.size();
    const std::size_t close = text.find(kHermesClose, body_start);
    const std::size_t body_end = close == std::string_view::npos ? text.size() : close;
    const std::size_t block_end = close == std::string_view::npos ? text.size() : close + kHermesClose.size();
    const auto json = parse_json(trim(text.substr(body_start, body_end - body_start)));
    const auto parts = json ? call_parts(*json, ToolCallFormat::kHermes) : std::nullopt;
    if (parts) {
      result.add_call(open, block_end, openai_call(*parts, make_tool_call_id(ToolCallFormat::kHermes, random)));
      search = block_end;
    } else {
      search = body_start;  // malformed: the block stays in content; look for later ones
    }
  }
  return result.finish();
}

// The generic format: the Hermes blocks its injected instructions ask for; a reply with none
// that is one call object, {"name", "arguments"} and nothing else around it, is a call too. Models trained on logged calls (a
// convert specialist, whose training answers are the call as JSON) write that, and a forced
// call's grammar allows it.
ParsedToolCalls parse_generic(std::string_view text, const RandomAlnum& random) {
  ParsedToolCalls tagged = parse_hermes(text, random);
  if (!tagged.tool_calls.empty()) return tagged;
  const std::size_t pos = skip_space(text, 0);
  const std::size_t end = find_json_end(text, pos);
  if (end == std::string_view::npos || text[pos] != '{' || skip_space(text, end) != text.size()) return tagged;
  const auto json = parse_json(text.substr(pos, end - pos));
  // Only an object that is nothing but a call: {"name", "arguments"} ({"name": ...} alone may be
  // an answer about a person).
  const bool call_shaped = json && json->is_object() && json->size() == 2 && json->contains("name") &&
                           (json->contains("arguments") || json->contains("parameters"));
  const auto parts = call_shaped ? call_parts(*json, ToolCallFormat::kGeneric) : std::nullopt;
  if (!parts) return tagged;
  ParseResult result(text);
  result.add_call(pos, end, openai_call(*parts, make_tool_call_id(ToolCallFormat::kGeneric, random)));
  return result.finish();
}

// Llama 3.x writes the call(s) as the whole reply, optionally after <|python_tag|>: JSON objects
// separated by whitespace or ';'. Text after the last call stays content; so does a reply that
// does not start with a call.
ParsedToolCalls parse_llama3(std::string_view text, const RandomAlnum& random) {
  ParseResult result(text);
  const std::size_t tag = text.find(kPythonTag);
  std::size_t pos = skip_space(text, tag == std::string_view::npos ? 0 : tag + kPythonTag.size());
  std::size_t call_start = tag == std::string_view::npos ? pos : tag;
  while (true) {
    const std::size_t end = find_json_end(text, pos);
    if (end == std::string_view::npos || text[pos] != '{') break;
    const auto json = parse_json(text.substr(pos, end - pos));
    const auto parts = json ? call_parts(*json, ToolCallFormat::kLlama3Json) : std::nullopt;
    if (!parts) break;
    result.add_call(call_start, end, openai_call(*parts, make_tool_call_id(ToolCallFormat::kLlama3Json, random)));
    // The separator belongs to the next call's span, so it never shows up as content.
    call_start = pos = end;
    while (pos < text.size() && (is_space(text[pos]) || text[pos] == ';')) ++pos;
  }
  return result.finish();
}

// [TOOL_CALLS] followed by a JSON array of calls. The tag is a special token that a detokenizer
// may drop, so a reply that is nothing but such an array counts too. Every element must be a
// valid call, or the whole array stays content.
ParsedToolCalls parse_mistral(std::string_view text, const RandomAlnum& random) {
  ParseResult result(text);
  auto add_array = [&](std::size_t from, std::size_t array_start, bool must_end_text) {
    const std::size_t end = find_json_end(text, array_start);
    if (end == std::string_view::npos || text[array_start] != '[') return std::string_view::npos;
    if (must_end_text && skip_space(text, end) != text.size()) return std::string_view::npos;
    const auto json = parse_json(text.substr(array_start, end - array_start));
    if (!json || !json->is_array() || json->empty()) return std::string_view::npos;
    ordered_json calls = ordered_json::array();
    for (const auto& element : *json) {
      const auto parts = call_parts(element, ToolCallFormat::kMistral);
      if (!parts) return std::string_view::npos;
      std::string id = element.value("id", ordered_json()).is_string() ? element["id"].get<std::string>() : "";
      const bool usable = id.size() == kMistralIdLength && std::all_of(id.begin(), id.end(), is_alnum);
      calls.push_back(openai_call(*parts, usable ? id : make_tool_call_id(ToolCallFormat::kMistral, random)));
    }
    for (std::size_t i = 0; i < calls.size(); ++i) result.add_call(i == 0 ? from : end, end, std::move(calls[i]));
    return end;
  };
  std::size_t search = 0;
  bool tagged = false;
  for (std::size_t tag = text.find(kMistralTag); tag != std::string_view::npos; tag = text.find(kMistralTag, search)) {
    tagged = true;
    const std::size_t end = add_array(tag, skip_space(text, tag + kMistralTag.size()), false);
    search = end == std::string_view::npos ? tag + kMistralTag.size() : end;
  }
  if (!tagged) add_array(0, skip_space(text, 0), true);
  return result.finish();
}

void require(bool condition, const char* message) {
  if (!condition) fail("{}", message);
}

const ordered_json& tool_function(const ordered_json& tool) { return tool.at("function"); }

ordered_json tool_parameters(const ordered_json& tool) {
  const ordered_json& function = tool_function(tool);
  return function.contains("parameters") ? function["parameters"] : ordered_json{{"type", "object"}};
}

std::string tool_name(const ordered_json& tool) { return tool_function(tool).at("name").get<std::string>(); }

bool has_tools(const ordered_json& tools) { return tools.is_array() && !tools.empty(); }

// A GBNF string literal for the given bytes (UTF-8 passes through; control bytes are escaped).
std::string gbnf_literal(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\x{:02X}", static_cast<unsigned char>(c));
        else out += c;
    }
  }
  return out + "\"";
}

// One alternative of the `call` rule: {"name": "<name>", "<args_key>": <schema> [, "id": ...]}.
std::string call_rule_body(ToolCallFormat format, const std::string& name, const std::string& args_rule) {
  const std::string args_key = format == ToolCallFormat::kLlama3Json ? "parameters" : "arguments";
  std::string body = fmt::format("\"{{\" ws {} ws \":\" ws {} ws \",\" ws {} ws \":\" ws {}", gbnf_literal("\"name\""),
                                 gbnf_literal(ordered_json(name).dump()), gbnf_literal("\"" + args_key + "\""), args_rule);
  // Mistral models write their own 9-character id after the arguments; allow, never require it.
  if (format == ToolCallFormat::kMistral) body += " ( ws \",\" ws \"\\\"id\\\"\" ws \":\" ws mistral-id )?";
  return body + " ws \"}\"";
}

// The history rewrites below index into messages freely; make_chat_context's validation of the
// OpenAI shape (an array of objects with a string role, tool_calls with function.name and
// string|object arguments) turns a malformed request into one rpu::Error first.
void validate_messages(const ordered_json& messages) { make_chat_context(messages, ordered_json(), {}, ordered_json()); }

}  // namespace

std::string_view to_string(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kHermes: return "hermes";
    case ToolCallFormat::kLlama3Json: return "llama3-json";
    case ToolCallFormat::kMistral: return "mistral";
    case ToolCallFormat::kGeneric: return "generic";
  }
  return "unknown";
}

ToolCallFormat detect_tool_call_format(std::string_view chat_template) {
  // The markup a template writes assistant tool calls with is the format the model was trained on.
  if (chat_template.find(kMistralTag) != std::string_view::npos) return ToolCallFormat::kMistral;
  if (chat_template.find(kHermesOpen) != std::string_view::npos) return ToolCallFormat::kHermes;
  // Llama 3.1/3.2/3.3 write {"name": ..., "parameters": ...} (3.1 also <|python_tag|> for builtins).
  const bool llama_call = chat_template.find("\"parameters\"") != std::string_view::npos ||
                          chat_template.find(kPythonTag) != std::string_view::npos;
  if (llama_call && mentions_identifier(chat_template, "tools")) return ToolCallFormat::kLlama3Json;
  return ToolCallFormat::kGeneric;
}

std::optional<std::string> ToolChoice::forced_name() const {
  if (mode == Mode::kFunction) return function_name;
  return std::nullopt;
}

void validate_tools(const ordered_json& tools) {
  if (tools.is_null()) return;
  require(tools.is_array(), "'tools' must be an array");
  std::set<std::string> names;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const ordered_json& tool = tools[i];
    if (!tool.is_object() || tool.value("type", ordered_json()) != "function")
      fail("tools[{}]: expected an object with \"type\": \"function\"", i);
    if (!tool.contains("function") || !tool["function"].is_object()) fail("tools[{}]: missing object 'function'", i);
    const ordered_json& function = tool["function"];
    if (!function.contains("name") || !function["name"].is_string() || function["name"].get<std::string>().empty())
      fail("tools[{}].function: 'name' must be a non-empty string", i);
    if (function.contains("parameters") && !function["parameters"].is_object())
      fail("tools[{}].function.parameters must be a JSON Schema object", i);
    if (function.contains("description") && !function["description"].is_string())
      fail("tools[{}].function.description must be a string", i);
    if (!names.insert(function["name"].get<std::string>()).second)
      fail("tools: function name '{}' appears more than once", function["name"].get<std::string>());
  }
}

ToolChoice parse_tool_choice(const ordered_json& tool_choice, const ordered_json& tools) {
  validate_tools(tools);
  ToolChoice choice;
  if (tool_choice.is_null()) {
    choice.mode = has_tools(tools) ? ToolChoice::Mode::kAuto : ToolChoice::Mode::kNone;
    return choice;
  }
  if (tool_choice.is_string()) {
    const std::string& mode = tool_choice.get_ref<const std::string&>();
    if (mode == "none") choice.mode = ToolChoice::Mode::kNone;
    else if (mode == "auto") choice.mode = has_tools(tools) ? ToolChoice::Mode::kAuto : ToolChoice::Mode::kNone;
    else if (mode == "required") choice.mode = ToolChoice::Mode::kRequired;
    else fail("tool_choice: expected \"none\", \"auto\", \"required\" or a function object, got \"{}\"", mode);
    if (choice.mode == ToolChoice::Mode::kRequired && !has_tools(tools))
      fail("tool_choice \"required\" needs at least one tool in 'tools'");
    return choice;
  }
  const bool shaped = tool_choice.is_object() && tool_choice.value("type", ordered_json()) == "function" &&
                      tool_choice.contains("function") && tool_choice["function"].is_object() &&
                      tool_choice["function"].contains("name") && tool_choice["function"]["name"].is_string();
  if (!shaped) fail("tool_choice: expected {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}");
  choice.mode = ToolChoice::Mode::kFunction;
  choice.function_name = tool_choice["function"]["name"].get<std::string>();
  const bool known = has_tools(tools) && std::any_of(tools.begin(), tools.end(), [&](const ordered_json& tool) {
                       return tool_name(tool) == choice.function_name;
                     });
  if (!known) fail("tool_choice names function '{}', which is not among the tools", choice.function_name);
  return choice;
}

ordered_json inject_tool_instructions(const ordered_json& messages, const ordered_json& tools, const ToolChoice& choice,
                                      bool template_accepts_system_role) {
  validate_messages(messages);
  validate_tools(tools);
  std::string text =
      "# Tools\n\nYou can call functions to help answer the user. These are their signatures, one JSON object per "
      "line:\n<tools>\n";
  for (const auto& tool : tools) text += tool.dump() + "\n";
  text +=
      "</tools>\n\nTo call a function, reply with a JSON object naming it and giving its arguments, inside "
      "<tool_call></tool_call> tags, one block per call:\n<tool_call>\n{\"name\": \"function_name\", \"arguments\": "
      "{\"argument\": \"value\"}}\n</tool_call>\nFunction results come back inside <tool_response></tool_response> "
      "tags.";
  if (choice.mode == ToolChoice::Mode::kRequired) text += "\nYou must call at least one function now.";
  else if (choice.mode == ToolChoice::Mode::kFunction) text += "\nYou must call the function \"" + choice.function_name + "\" now.";
  else text += "\nIf no function helps, answer directly without <tool_call> tags.";

  ordered_json out = messages;
  if (template_accepts_system_role) {
    if (!out.empty() && out[0].value("role", "") == "system" && out[0].value("content", ordered_json()).is_string()) {
      out[0]["content"] = out[0]["content"].get<std::string>() + "\n\n" + text;
    } else {
      out.insert(out.begin(), ordered_json{{"role", "system"}, {"content", text}});
    }
    return out;
  }
  for (auto& message : out) {
    if (message.value("role", "") != "user") continue;
    message["content"] = text + "\n\n" + content_text(message.value("content", ordered_json()));
    return out;
  }
  out.insert(out.begin(), ordered_json{{"role", "user"}, {"content", text}});
  return out;
}

ordered_json rewrite_tool_history_as_text(const ordered_json& messages) {
  validate_messages(messages);
  ordered_json out = ordered_json::array();
  bool last_is_tool_turn = false;  // the last output message holds tool results
  for (const auto& message : messages) {
    const std::string role = message.value("role", "");
    if (role == "assistant" && message.contains("tool_calls") && message["tool_calls"].is_array() &&
        !message["tool_calls"].empty()) {
      std::string text = content_text(message.value("content", ordered_json()));
      for (const auto& call : message["tool_calls"]) {
        const ordered_json& function = call.at("function");
        const ordered_json& raw = function.value("arguments", ordered_json::object());
        const auto parsed = raw.is_string() ? parse_json(raw.get_ref<const std::string&>()) : std::optional(raw);
        const std::string arguments = parsed ? parsed->dump() : raw.get<std::string>();
        if (!text.empty()) text += '\n';
        text += "<tool_call>\n{\"name\": " + function.at("name").dump() + ", \"arguments\": " + arguments + "}\n</tool_call>";
      }
      ordered_json rewritten = message;
      rewritten.erase("tool_calls");
      rewritten["content"] = text;
      out.push_back(std::move(rewritten));
      last_is_tool_turn = false;
    } else if (role == "tool") {
      const std::string text = "<tool_response>\n" + content_text(message.value("content", ordered_json())) + "\n</tool_response>";
      if (last_is_tool_turn) out.back()["content"] = out.back()["content"].get<std::string>() + "\n" + text;
      else out.push_back(ordered_json{{"role", "user"}, {"content", text}});
      last_is_tool_turn = true;
    } else if (role == "user" && last_is_tool_turn && message.value("content", ordered_json()).is_string()) {
      out.back()["content"] = out.back()["content"].get<std::string>() + "\n\n" + message["content"].get<std::string>();
      last_is_tool_turn = false;
    } else {
      out.push_back(message);
      last_is_tool_turn = false;
    }
  }
  return out;
}

PreparedChat prepare_tool_conversation(ToolCallFormat format, const ordered_json& messages, const ordered_json& tools,
                                       const ToolChoice& choice, bool template_accepts_system_role) {
  const bool offer_tools = has_tools(tools) && choice.mode != ToolChoice::Mode::kNone;
  if (format != ToolCallFormat::kGeneric) return {messages, offer_tools ? tools : ordered_json()};
  ordered_json plain = rewrite_tool_history_as_text(messages);
  if (offer_tools) plain = inject_tool_instructions(plain, tools, choice, template_accepts_system_role);
  return {std::move(plain), ordered_json()};
}

bool template_accepts_system_role(const ChatTemplate& chat_template) {
  static constexpr const char* kProbe = "rpu-system-probe-5c1e";
  const ordered_json messages = ordered_json::array(
      {{{"role", "system"}, {"content", kProbe}}, {{"role", "user"}, {"content", "Hello"}}});
  try {
    return chat_template.render(make_chat_context(messages, ordered_json(), {}, ordered_json())).find(kProbe) != std::string::npos;
  } catch (const ChatTemplateBudgetError&) {
    throw;  // not a refusal of the system role: the template cannot be rendered in time at all
  } catch (const Error&) {
    return false;
  }
}

RandomAlnum seeded_random_alnum(std::uint64_t seed) {
  struct State {
    std::mutex mutex;
    Rng rng;
    explicit State(std::uint64_t s) : rng(s) {}
  };
  auto state = std::make_shared<State>(seed);
  return [state](std::size_t length) {
    static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::lock_guard lock(state->mutex);
    std::string out(length, ' ');
    for (char& c : out) c = kAlphabet[state->rng.next() % kAlphabet.size()];
    return out;
  };
}

RandomAlnum system_random_alnum() {
  std::random_device device;
  const std::uint64_t seed = (std::uint64_t{device()} << 32) ^ device();
  return seeded_random_alnum(seed);
}

std::string make_tool_call_id(ToolCallFormat format, const RandomAlnum& random) {
  if (format == ToolCallFormat::kMistral) return random(kMistralIdLength);
  return "call_" + random(kOpenAiIdLength);
}

ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view model_output, const RandomAlnum& random) {
  switch (format) {
    case ToolCallFormat::kLlama3Json: return parse_llama3(model_output, random);
    case ToolCallFormat::kMistral: return parse_mistral(model_output, random);
    case ToolCallFormat::kGeneric: return parse_generic(model_output, random);
    case ToolCallFormat::kHermes: break;
  }
  return parse_hermes(model_output, random);
}

std::vector<std::string> tool_call_markup_keys(ToolCallFormat format) {
  // The parsers read either arguments key (call_parts); Mistral's calls also carry an id.
  std::vector<std::string> keys = {"name", "arguments", "parameters"};
  if (format == ToolCallFormat::kMistral) keys.push_back("id");
  return keys;
}

std::string tool_call_grammar(ToolCallFormat format, const ordered_json& tools, const std::optional<std::string>& forced_name,
                              const SchemaToRules& schema_to_rules) {
  validate_tools(tools);
  if (!has_tools(tools)) fail("a forced tool call needs at least one tool in 'tools'");
  std::vector<std::size_t> chosen;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    if (!forced_name || tool_name(tools[i]) == *forced_name) chosen.push_back(i);
  }
  if (chosen.empty()) fail("tool_choice names function '{}', which is not among the tools", *forced_name);

  std::string alternatives;
  std::string definitions;
  for (std::size_t i : chosen) {
    // Index-based names: tool names may hold characters GBNF rule names cannot.
    const std::string prefix = fmt::format("tool-{}-", i);
    const SchemaRules rules = schema_to_rules(tool_parameters(tools[i]), prefix);
    if (rules.root_rule.rfind(prefix, 0) != 0)
      fail("schema converter returned root rule '{}' without the prefix '{}'", rules.root_rule, prefix);
    definitions += fmt::format("call-{} ::= {}\n", i, call_rule_body(format, tool_name(tools[i]), rules.root_rule));
    definitions += rules.rules;
    if (!definitions.empty() && definitions.back() != '\n') definitions += '\n';
    alternatives += (alternatives.empty() ? "" : " | ") + fmt::format("call-{}", i);
  }

  std::string grammar;
  switch (format) {
    case ToolCallFormat::kHermes: grammar = "root ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\n"; break;
    // Everything the generic parser reads as a call: the tagged block its instructions ask for,
    // or the bare object (what a model trained on logged calls writes, e.g. a convert
    // specialist, whose training answers are the call as JSON), after leading whitespace.
    case ToolCallFormat::kGeneric: grammar = "root ::= ws (\"<tool_call>\\n\" call \"\\n</tool_call>\" | call)\n"; break;
    case ToolCallFormat::kLlama3Json: grammar = "root ::= call\n"; break;
    case ToolCallFormat::kMistral: grammar = "root ::= \"[TOOL_CALLS]\" \"[\" call \"]\"\n"; break;
  }
  grammar += "call ::= " + alternatives + "\n";
  grammar += "ws ::= ( [ \\t\\n] [ \\t\\n]? )?\n";
  if (format == ToolCallFormat::kMistral) {
    grammar += "mistral-id ::= \"\\\"\"";
    for (std::size_t i = 0; i < kMistralIdLength; ++i) grammar += " [a-zA-Z0-9]";
    grammar += " \"\\\"\"\n";
  }
  return grammar + definitions;
}

}  // namespace rpu
