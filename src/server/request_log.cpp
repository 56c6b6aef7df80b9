#include "server/request_log.h"

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace rpu {
namespace {

// Paths are percent-decoded by httplib: a "%0A" must not start a forged log line.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch < 0x20 || ch == 0x7f || ch == ' ') {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "%%%02X", ch);
      out += escaped;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

LogFormat parse_log_format(const std::string& name) {
  if (name == "text") return LogFormat::text;
  if (name == "json") return LogFormat::json;
  if (name == "off") return LogFormat::off;
  fail("unknown log format '{}' (expected text, json or off)", name);
}

std::string format_request_log(const RequestLogLine& l, LogFormat format) {
  if (format == LogFormat::json) {
    const nlohmann::ordered_json j = {{"time", utc_now()},
                                      {"client", l.client},
                                      {"method", l.method},
                                      {"path", l.path},
                                      {"status", l.status},
                                      {"prompt_tokens", l.prompt_tokens},
                                      {"completion_tokens", l.completion_tokens},
                                      {"ms", static_cast<double>(static_cast<int64_t>(l.ms * 10)) / 10},
                                      {"key_id", l.key_id}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.1f", l.ms);
  return "rpu: " + utc_now() + " " + printable(l.client) + " " + printable(l.method) + " " + printable(l.path) + " " +
         std::to_string(l.status) + " tokens=" + std::to_string(l.prompt_tokens) + "+" +
         std::to_string(l.completion_tokens) + " ms=" + ms + " key=" + printable(l.key_id);
}

void write_request_log(const RequestLogLine& line, LogFormat format) {
  if (format == LogFormat::off) return;
  const std::string text = format_request_log(line, format) + "\n";
  std::fputs(text.c_str(), stderr);
}

std::string api_key_id(const std::string& key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : key) h = (h ^ ch) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(h >> 32) ^ static_cast<unsigned>(h));
  return buf;
}

}  // namespace rpu
