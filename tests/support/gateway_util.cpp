#include "gateway_util.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <regex>
#include <thread>

#include "test_util.h"

namespace rpu::test {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

httplib::Headers auth_headers(const std::string& bearer) {
  httplib::Headers h;
  if (!bearer.empty()) h.emplace("Authorization", "Bearer " + bearer);
  return h;
}

HttpResult to_result(const httplib::Result& res, Clock::time_point start) {
  HttpResult r;
  r.seconds = since(start);
  if (!res) return r;
  r.status = res->status;
  r.body = res->body;
  for (const auto& [k, v] : res->headers) r.headers.emplace(k, v);
  r.json = nlohmann::json::parse(r.body, nullptr, false);
  if (r.json.is_discarded()) r.json = nullptr;
  return r;
}

}  // namespace

std::vector<std::string> story_upstream_args(const std::string& alias) {
  return {fixture("stories260K/stories260K.gguf"), "--chat-template", fixture("templates/google-gemma-2-2b-it.jinja"),
          "--alias", alias, "--parallel", "4", "--threads", "1"};
}

std::unique_ptr<ServerProcess> start_gateway(const std::string& config_path, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--config", config_path};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(args, 0, "gateway");
}

std::unique_ptr<ServerProcess> start_gateway_with_routes_file(const std::string& dir) {
  write_file(dir + "/routes.yaml", "");
  write_file(dir + "/gateway.yaml", R"(models:
  general: {local: builtin, parallel: 2, threads: 1}
routes:
  - name: general
    target: general
default_route: general
routes_file: routes.yaml
)");
  return start_gateway(dir + "/gateway.yaml");
}

std::string write_config(const std::string& name, const std::string& yaml) {
  const std::string path = temp_path(name);
  write_file(path, yaml);
  return path;
}

std::string HttpResult::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (lower(k) == lower(name)) return v;
  }
  return "";
}

nlohmann::json HttpResult::gateway() const {
  if (!json.is_object() || !json.contains("rpu") || !json["rpu"].is_object()) return nullptr;
  return json["rpu"].value("gateway", nlohmann::json());
}

std::string HttpResult::content() const {
  if (!json.is_object() || !json.contains("choices") || json["choices"].empty()) return "";
  const auto& c = json["choices"][0];
  if (c.contains("message") && c["message"].contains("content") && c["message"]["content"].is_string()) {
    return c["message"]["content"].get<std::string>();
  }
  if (c.contains("text") && c["text"].is_string()) return c["text"].get<std::string>();
  return "";
}

HttpResult http_post(const std::string& base_url, const std::string& path, const nlohmann::json& body,
                     const std::string& bearer, double timeout_s, const std::multimap<std::string, std::string>& headers) {
  httplib::Client client(base_url);
  client.set_read_timeout(static_cast<time_t>(timeout_s), 0);
  httplib::Headers h = auth_headers(bearer);
  for (const auto& [k, v] : headers) h.emplace(k, v);
  const auto start = Clock::now();
  return to_result(client.Post(path.c_str(), h, body.dump(), "application/json"), start);
}

HttpResult http_get(const std::string& base_url, const std::string& path, const std::string& bearer) {
  httplib::Client client(base_url);
  client.set_read_timeout(30, 0);
  const auto start = Clock::now();
  return to_result(client.Get(path.c_str(), auth_headers(bearer)), start);
}

StreamResult http_stream_chat(const std::string& base_url, const nlohmann::json& body, const std::string& bearer) {
  nlohmann::json b = body;
  b["stream"] = true;
  httplib::Client client(base_url);
  client.set_read_timeout(60, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.headers = auth_headers(bearer);
  req.headers.emplace("Content-Type", "application/json");
  req.body = b.dump();
  std::string raw;
  StreamResult out;
  req.response_handler = [&](const httplib::Response& r) {
    out.status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    raw.append(data, size);
    return true;
  };
  const auto start = Clock::now();
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  client.send(req, res, error);
  out.seconds = since(start);
  size_t at = 0;
  for (size_t end; (end = raw.find("\n\n", at)) != std::string::npos; at = end + 2) {
    const std::string event = raw.substr(at, end - at);
    if (event.rfind("data: ", 0) != 0) continue;
    const std::string payload = event.substr(6);
    out.events.push_back(payload);
    if (payload == "[DONE]") {
      out.done = true;
      continue;
    }
    const auto chunk = nlohmann::json::parse(payload, nullptr, false);
    if (chunk.is_discarded() || !chunk.contains("choices")) continue;
    for (const auto& c : chunk["choices"]) {
      if (c.contains("delta") && c["delta"].contains("content") && c["delta"]["content"].is_string()) {
        out.text += c["delta"]["content"].get<std::string>();
      }
      if (c.contains("finish_reason") && c["finish_reason"].is_string()) out.finish_reason = c["finish_reason"];
    }
    if (chunk.contains("rpu")) out.rpu = chunk["rpu"];
  }
  return out;
}

nlohmann::json chat_body(const std::string& model, const std::string& user, int max_tokens, const std::string& system) {
  nlohmann::json messages = nlohmann::json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  messages.push_back({{"role", "user"}, {"content", user}});
  return {{"model", model}, {"messages", messages}, {"temperature", 0}, {"max_tokens", max_tokens}};
}

bool is_arithmetic_answer(const std::string& text) {
  static const std::regex answer(R"(The answer is -?[0-9]+\.\s*$)");
  return std::regex_search(text, answer);
}

bool is_arithmetic_refusal(const std::string& text) { return text.find(kRefusalRegex) != std::string::npos; }

bool is_openai_error(const nlohmann::json& body) {
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return false;
  const auto& e = body["error"];
  return e.contains("message") && e["message"].is_string() && !e["message"].get<std::string>().empty() &&
         e.contains("type") && e["type"].is_string() && e.contains("param") && e.contains("code");
}

double metric_value(const std::string& metrics_text, const std::string& name, const std::map<std::string, std::string>& labels) {
  double sum = 0;
  size_t at = 0;
  while (at < metrics_text.size()) {
    size_t end = metrics_text.find('\n', at);
    if (end == std::string::npos) end = metrics_text.size();
    const std::string line = metrics_text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#' || line.rfind(name, 0) != 0) continue;
    const size_t after = name.size();
    if (after < line.size() && line[after] != '{' && line[after] != ' ') continue;  // a longer name
    bool all = true;
    for (const auto& [k, v] : labels) {
      if (line.find(k + "=\"" + v + "\"") == std::string::npos) all = false;
    }
    if (!all) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

std::vector<SqlRow> sqlite_rows(const std::string& db_path, const std::string& sql) {
  std::vector<SqlRow> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return rows;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return rows;
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    SqlRow row;
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      const unsigned char* text = sqlite3_column_text(stmt, i);
      row[sqlite3_column_name(stmt, i)] =
          text == nullptr ? std::nullopt : std::optional<std::string>(reinterpret_cast<const char*>(text));
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

long long sqlite_wait_count(const std::string& db_path, const std::string& sql, long long at_least, int timeout_ms) {
  long long count = 0;
  for (int waited = 0;; waited += 50) {
    const auto rows = sqlite_rows(db_path, sql);
    if (!rows.empty() && !rows[0].empty() && rows[0].begin()->second) count = std::stoll(*rows[0].begin()->second);
    if (count >= at_least || waited >= timeout_ms) return count;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace rpu::test
