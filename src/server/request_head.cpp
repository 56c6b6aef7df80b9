#include "server/request_head.h"

#include <cctype>
#include <vector>

namespace rpu {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// The values of every header named `name`, in order.
std::vector<std::string_view> header_values(std::string_view head, std::string_view name) {
  std::vector<std::string_view> values;
  size_t line_start = head.find('\n');  // skip the request line
  while (line_start != std::string_view::npos && line_start + 1 < head.size()) {
    ++line_start;
    const size_t line_end = head.find('\n', line_start);
    const std::string_view line = head.substr(line_start, line_end == std::string_view::npos ? head.npos : line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && same_name(trim(line.substr(0, colon)), name)) {
      values.push_back(trim(line.substr(colon + 1)));
    }
    line_start = line_end;
  }
  return values;
}

}  // namespace

size_t header_block_length(std::string_view bytes) {
  // The block ends at the first empty line after the request line.
  size_t pos = bytes.find('\n');
  while (pos != std::string_view::npos) {
    const size_t next = pos + 1;
    if (next < bytes.size() && bytes[next] == '\n') return next + 1;
    if (next + 1 < bytes.size() && bytes[next] == '\r' && bytes[next + 1] == '\n') return next + 2;
    pos = bytes.find('\n', next);
  }
  return 0;
}

HeadCheck check_request_head(std::string_view head, size_t max_body) {
  const auto lengths = header_values(head, "Content-Length");
  if (lengths.empty()) {
    std::string method, path;
    request_line_parts(head, method, path);
    HeadCheck check;
    check.chunked = !header_values(head, "Transfer-Encoding").empty();
    check.add_empty_length = (method == "POST" || method == "PUT" || method == "PATCH") && !check.chunked;
    return check;
  }
  if (lengths.size() > 1) {
    return {400, "the request has more than one Content-Length header", "invalid_content_length", 0};
  }
  const std::string_view value = lengths.front();
  bool digits = !value.empty();
  for (char c : value) digits = digits && c >= '0' && c <= '9';
  if (!digits) {
    return {400, "Content-Length must be a non-negative decimal number of bytes", "invalid_content_length", 0};
  }
  if (!header_values(head, "Transfer-Encoding").empty()) {
    return {400, "a request may not have both Content-Length and Transfer-Encoding", "invalid_content_length", 0};
  }
  // Compare digit by digit so lengths beyond 64 bits are still "too large", not wrapped.
  const std::string limit = std::to_string(max_body);
  std::string_view significant = value.substr(std::min(value.find_first_not_of('0'), value.size()));
  if (significant.size() > limit.size() || (significant.size() == limit.size() && significant > limit)) {
    return {413, "the request body is larger than the server accepts (--max-body " + limit + " bytes)",
            "request_too_large", 0};
  }
  HeadCheck ok;
  ok.content_length = significant.empty() ? 0 : std::stoull(std::string(significant));
  return ok;
}

void request_line_parts(std::string_view head, std::string& method, std::string& path) {
  const std::string_view line = trim(head.substr(0, head.find('\n')));
  const size_t space = line.find(' ');
  // (One assign per output, from a string_view: gcc 12 -O3 reports a false -Wstringop-overflow on
  // `path = "-"` after an early assignment to `method`.)
  method.assign(space == std::string_view::npos || space == 0 ? std::string_view("-") : line.substr(0, space));
  std::string_view target = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  target = target.substr(0, target.find(' '));
  target = target.substr(0, target.find('?'));  // queries may carry secrets; the log keeps the path
  path.assign(target.empty() ? std::string_view("-") : target);
}

}  // namespace rpu
