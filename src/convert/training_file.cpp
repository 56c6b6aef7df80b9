#include "convert/training_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "chat/tool_calls.h"
#include "convert/working.h"
#include "core/error.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

std::string text_of(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const json& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
        if (!out.empty()) out += '\n';  // (not ("" or "\n") + string&&: gcc 12 -O3's false -Wstringop-overflow)
        out += part["text"].get_ref<const std::string&>();
      }
    }
  }
  return out;
}

// A logged message as the chat layer reads it: text content, "developer" as "system", an
// assistant's tool calls and a tool result's role kept (rewrite_tool_history_as_text turns
// them into text).
json chat_message(const json& m) {
  const std::string role = m.value("role", "user");
  json out{{"role", role == "developer" ? std::string("system") : role}, {"content", text_of(m.value("content", json()))}};
  if (role == "assistant" && m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty()) {
    out["tool_calls"] = m["tool_calls"];
  }
  return out;
}

// A history the chat layer refuses (a malformed tool call from a log), from chat_message's
// output: every message as plain text, the tool calls as their answer_text.
json plain_messages(const json& messages) {
  json out = json::array();
  for (json message : messages) {
    if (message.contains("tool_calls")) {
      if (message["content"].get_ref<const std::string&>().empty()) message["content"] = answer_text(message);
      message.erase("tool_calls");
    }
    if (message["role"] == "tool") message["role"] = "user";
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace

json training_prompt(const LoggedCall& call) {
  json messages = json::array();
  if (call.messages.is_array()) {
    for (const json& m : call.messages) {
      if (m.is_object()) messages.push_back(chat_message(m));
    }
  }
  const json tools = call.tools.is_array() && !call.tools.empty() ? call.tools : json();
  try {
    // Specialists rpu trains (from scratch or from the built-in model) have a template without
    // tool markup (ToolCallFormat::kGeneric), so LocalBackend serves them the tools as injected
    // instructions and the history's calls and results as text: the same text here, or the
    // model would learn one prompt and be asked another. The log keeps no tool_choice: "auto".
    return prepare_tool_conversation(ToolCallFormat::kGeneric, messages, tools, parse_tool_choice(json(), tools), true)
        .messages;
  } catch (const std::exception&) {  // rpu::Error, or a json error on a call without "function"
    return plain_messages(messages);
  }
}

json training_messages(const LoggedCall& call) {
  json out = training_prompt(call);
  // With the teacher's working first, when it showed any (working.h).
  out.push_back(json{{"role", "assistant"}, {"content", with_working(teacher_working(call.answer), answer_text(call.answer))}});
  return out;
}

TrainingFileReport write_training_file(const std::vector<const LoggedCall*>& calls, const SplitOptions& split,
                                       const std::string& path) {
  TrainingFileReport report;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write training file '{}'", tmp);
    for (const LoggedCall* c : calls) {
      if (!c->from_teacher) {
        ++report.not_teacher;
        continue;
      }
      if (is_held_out(*c, split)) {
        ++report.held_out_skipped;
        continue;
      }
      if (!foreign_placeholders(*c, c->answer).empty()) {
        ++report.foreign_placeholders;
        continue;
      }
      out << json{{"messages", training_messages(*c)}}.dump() << '\n';
      ++report.written;
    }
    out.flush();
    if (!out) fail("writing training file '{}' failed", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  return report;
}

}  // namespace rpu::convert
