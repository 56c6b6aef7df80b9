// The header block of an HTTP request, as the connection gate sees it before httplib does:
// where it ends, and the checks that must answer at once rather than after a read timeout.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rpu {

// Length of the header block (request line, headers, blank line) at the start of `bytes`, or
// 0 while it is incomplete. Accepts CRLF and bare LF line ends.
size_t header_block_length(std::string_view bytes);

struct HeadCheck {
  int status = 0;  // 0: acceptable; else the error status to answer with
  std::string message;
  std::string code;
  size_t content_length = 0;  // declared body length (0 when absent)
  // A POST/PUT/PATCH without Content-Length or Transfer-Encoding has no body (RFC 9112), but
  // httplib 0.11.4 would read one until the client closes: the gate adds "Content-Length: 0".
  bool add_empty_length = false;
  bool chunked = false;  // Transfer-Encoding present (a body of unknown length)
};

// Checks the framing headers httplib would otherwise act on only after reading (or waiting
// for) the body: Content-Length must appear at most once, be a decimal number, not exceed
// `max_body`, and not come with Transfer-Encoding.
HeadCheck check_request_head(std::string_view head, size_t max_body);

// Method and target of the request line, for the request log ("-" when absent).
void request_line_parts(std::string_view head, std::string& method, std::string& path);

}  // namespace rpu
