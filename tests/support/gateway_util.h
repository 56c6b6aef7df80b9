// Helpers for the gateway's end-to-end tests (tests/e2e/test_gateway*.cpp): the stand-in
// upstream, configs in temporary files, HTTP calls with their status, headers and JSON,
// Prometheus lines, and the usage log read with sqlite3 itself.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server_process.h"

namespace rpu::test {

// `rpu serve` arguments for the stand-in of a hosted large model: stories260K with Gemma's
// chat template, served as `alias`. Its answers are children's-story text.
std::vector<std::string> story_upstream_args(const std::string& alias = "big");

// `rpu gateway --config FILE` on a free port (the config's listen section is overridden).
std::unique_ptr<ServerProcess> start_gateway(const std::string& config_path, const std::vector<std::string>& extra = {});

// A gateway for the routes-file tests: `dir`/gateway.yaml with one local built-in model
// "general" as the default route, and an empty `dir`/routes.yaml as its routes_file.
std::unique_ptr<ServerProcess> start_gateway_with_routes_file(const std::string& dir);

// Writes `yaml` to a fresh temporary file named `name`; its path.
std::string write_config(const std::string& name, const std::string& yaml);

struct HttpResult {
  int status = 0;           // 0: no answer (transport error)
  std::string body;
  nlohmann::json json;      // the parsed body, or null
  std::multimap<std::string, std::string> headers;
  double seconds = 0;       // how long the call took
  std::string header(const std::string& name) const;  // "" when absent (case-insensitive)
  // "rpu.gateway" of a chat/completion answer, or null.
  nlohmann::json gateway() const;
  std::string content() const;  // choices[0].message.content (or .text), "" when absent
};

HttpResult http_post(const std::string& base_url, const std::string& path, const nlohmann::json& body,
                     const std::string& bearer = "", double timeout_s = 60,
                     const std::multimap<std::string, std::string>& headers = {});
HttpResult http_get(const std::string& base_url, const std::string& path, const std::string& bearer = "");

// An SSE chat stream read to its end: the content deltas joined, each data payload, whether
// it ended with [DONE], and the "rpu" field of the finish chunk.
struct StreamResult {
  int status = 0;
  std::string text;
  std::vector<std::string> events;  // data payloads, [DONE] included
  bool done = false;
  std::string finish_reason;
  nlohmann::json rpu;
  double seconds = 0;
};
StreamResult http_stream_chat(const std::string& base_url, const nlohmann::json& body, const std::string& bearer = "");

// {"model", "messages": [system?, user], "temperature": 0, "max_tokens"}.
nlohmann::json chat_body(const std::string& model, const std::string& user, int max_tokens = 48,
                         const std::string& system = "");

// The arithmetic model's shapes: worked steps ending "The answer is N.", or its refusal.
bool is_arithmetic_answer(const std::string& text);
bool is_arithmetic_refusal(const std::string& text);
inline constexpr const char* kRefusalRegex = "I can only help with arithmetic";

// True when `body` is an OpenAI error object: {"error": {message, type, param, code}}.
bool is_openai_error(const nlohmann::json& body);

// Sum of the samples of Prometheus metric `name` whose labels include all of `labels`
// (0 when none).
double metric_value(const std::string& metrics_text, const std::string& name,
                    const std::map<std::string, std::string>& labels = {});

// The usage log, read with sqlite3: each row of `sql` as column -> value (nullopt for NULL).
using SqlRow = std::map<std::string, std::optional<std::string>>;
std::vector<SqlRow> sqlite_rows(const std::string& db_path, const std::string& sql);
// Polls until `sql` (a count) reaches `at_least` or `timeout_ms` passes; the last count.
long long sqlite_wait_count(const std::string& db_path, const std::string& sql, long long at_least,
                            int timeout_ms = 10000);

}  // namespace rpu::test
