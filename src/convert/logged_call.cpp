#include "convert/logged_call.h"

#include <algorithm>

#include "gateway/scrub.h"
#include "gateway/task_signature.h"
#include "gateway/usage_log.h"
#include "gateway/usage_store.h"

namespace rpu::convert {

std::vector<LoggedCall> load_logged_calls(const std::string& location, const LoadOptions& options) {
  std::vector<LoggedCall> calls;
  const auto store = gateway::open_usage_store(location, gateway::StoreAccess::kRead);
  store->each_row(options.after_id, [&](int64_t id, const gateway::UsageRecord& row) {
    if (options.max_calls > 0 && static_cast<int64_t>(calls.size()) >= options.max_calls) return;
    if (!row.error.empty() || row.response_json.empty()) return;
    std::optional<gateway::LoggedExchange> exchange = gateway::read_exchange(row.request_json, row.response_json);
    if (!exchange) return;
    LoggedCall c;
    c.id = id;
    c.time_ms = row.time_ms;
    c.route = row.route;
    c.model = row.model;
    c.kind = row.kind;
    c.messages = std::move(exchange->messages);
    c.tools = std::move(exchange->tools);
    c.answer = std::move(exchange->answer);
    c.max_tokens = exchange->max_tokens;
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

std::vector<std::string> foreign_placeholders(const LoggedCall& call, const nlohmann::ordered_json& message) {
  std::string answer = message.value("content", nlohmann::ordered_json()).is_string() ? message["content"].get<std::string>() : "";
  if (message.contains("tool_calls")) answer += message["tool_calls"].dump();
  std::vector<std::string> foreign;
  const std::vector<std::string> found = gateway::placeholders_in(answer);
  if (found.empty()) return foreign;
  const std::string request = call.messages.dump() + call.tools.dump();  // placeholders need no JSON escaping
  for (const std::string& p : found) {
    // A derived placeholder ("<PHONE_E164_1>") is the request's if its source is.
    const std::string source = gateway::derived_source(p);
    const bool in_request = request.find(source.empty() ? p : source) != std::string::npos;
    if (!in_request && std::find(foreign.begin(), foreign.end(), p) == foreign.end()) foreign.push_back(p);
  }
  return foreign;
}

}  // namespace rpu::convert
