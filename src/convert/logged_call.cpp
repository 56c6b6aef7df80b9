#include "convert/logged_call.h"

#include <algorithm>

#include "core/json_text.h"
#include "gateway/router.h"
#include "gateway/task_signature.h"
#include "gateway/usage_store.h"

namespace rpu::convert {
namespace {

nlohmann::ordered_json parse_or_null(const std::string& text) {
  if (text.empty()) return nullptr;
  try {
    return parse_json_text<nlohmann::ordered_json>(text, "logged call");
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

std::vector<LoggedCall> load_logged_calls(const std::string& location, const LoadOptions& options) {
  std::vector<LoggedCall> calls;
  const auto store = gateway::open_usage_store(location, gateway::StoreAccess::kRead);
  store->each_row(options.after_id, [&](int64_t id, const gateway::UsageRecord& row) {
    if (options.max_calls > 0 && static_cast<int64_t>(calls.size()) >= options.max_calls) return;
    if (!row.error.empty() || row.response_json.empty()) return;
    const nlohmann::ordered_json request = parse_or_null(row.request_json);
    nlohmann::ordered_json response = parse_or_null(row.response_json);
    if (response.is_array()) response = response.empty() ? nullptr : response[0];
    if (!request.is_object() || !request.contains("messages") || !response.is_object()) return;
    LoggedCall c;
    c.id = id;
    c.time_ms = row.time_ms;
    c.route = row.route;
    c.model = row.model;
    c.kind = row.kind;
    c.messages = request["messages"];
    c.tools = request.contains("tools") ? request["tools"] : nlohmann::ordered_json();
    c.answer = std::move(response);
    c.latency_ms = row.latency_ms;
    c.prompt_tokens = row.prompt_tokens;
    c.completion_tokens = row.completion_tokens;
    c.escalated = row.escalated;
    c.from_teacher = std::find(options.teachers.begin(), options.teachers.end(), row.model) != options.teachers.end();
    calls.push_back(std::move(c));
  });
  return calls;
}

std::string task_signature(const LoggedCall& call) { return gateway::task_signature(call.messages, call.tools); }

std::string answer_text(const nlohmann::ordered_json& message) {
  if (message.contains("tool_calls") && message["tool_calls"].is_array() && !message["tool_calls"].empty()) {
    const auto& function = message["tool_calls"][0].value("function", nlohmann::ordered_json::object());
    nlohmann::ordered_json arguments = function.value("arguments", nlohmann::ordered_json("{}"));
    if (arguments.is_string()) {
      try {
        arguments = nlohmann::ordered_json::parse(arguments.get<std::string>());
      } catch (const std::exception&) {
        // kept as the string it was
      }
    }
    return nlohmann::ordered_json{{"name", function.value("name", "")}, {"arguments", arguments}}.dump();
  }
  if (message.contains("content") && message["content"].is_string()) return message["content"].get<std::string>();
  return "";
}

}  // namespace rpu::convert
