// The request log of `rpu serve`: one line per request on stderr, readable text by default or
// JSON lines (--log-format json) for log collectors. The API key is never logged: a request
// is attributed by a short hash of the configured key it presented.
#pragma once

#include <cstdint>
#include <string>

namespace rpu {

enum class LogFormat { text, json, off };

// Parses "text", "json" or "off" (throws rpu::Error otherwise).
LogFormat parse_log_format(const std::string& name);

struct RequestLogLine {
  std::string client;  // peer address
  std::string method, path;
  int status = 0;  // 499: the client went away before the response was complete
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double ms = 0;
  std::string key_id = "-";  // "-": no key required; "none"/"invalid"; else the key's hash
};

std::string format_request_log(const RequestLogLine& line, LogFormat format);
// Writes one line to stderr (whole, so lines of concurrent requests do not interleave).
void write_request_log(const RequestLogLine& line, LogFormat format);

// A stable 8-hex-digit id of an API key (FNV-1a), so operators can tell keys apart.
std::string api_key_id(const std::string& key);

}  // namespace rpu
