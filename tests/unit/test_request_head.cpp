// The connection gate's view of a request's header block (src/server/request_head.h): where
// it ends, and the framing checks answered before httplib would wait for a body.
#include "server/request_head.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/request_log.h"

namespace rpu {
namespace {

TEST(RequestHeadTest, FindsTheEndOfTheHeaderBlock) {
  EXPECT_EQ(header_block_length("GET / HTTP/1.1\r\nHost: x\r\n"), 0u);
  EXPECT_EQ(header_block_length("GET / HTTP/1.1\r\nHost: x\r\n\r\n{}"), 27u);
  EXPECT_EQ(header_block_length("GET / HTTP/1.1\nHost: x\n\nrest"), 24u);
  EXPECT_EQ(header_block_length("GET / HTTP/1.1\r\n\r\n"), 18u);
  EXPECT_EQ(header_block_length(""), 0u);
}

TEST(RequestHeadTest, ContentLengthMustBeOneDecimalNumberWithinTheLimit) {
  auto check = [](const std::string& headers) {
    return check_request_head("POST /v1/completions HTTP/1.1\r\n" + headers + "\r\n", 1000);
  };
  EXPECT_EQ(check("Content-Length: 10\r\n").status, 0);
  EXPECT_EQ(check("Content-Length: 10\r\n").content_length, 10u);
  EXPECT_EQ(check("content-length:   1000  \r\n").status, 0);
  EXPECT_EQ(check("Content-Length: 0001000\r\n").status, 0);
  EXPECT_EQ(check("Content-Length: 1001\r\n").status, 413);
  EXPECT_EQ(check("Content-Length: 99999999999999999999\r\n").status, 413);
  EXPECT_EQ(check("Content-Length: 184467440737095516160\r\n").status, 413);
  EXPECT_EQ(check("Content-Length: -5\r\n").status, 400);
  EXPECT_EQ(check("Content-Length: +5\r\n").status, 400);
  EXPECT_EQ(check("Content-Length: 5 5\r\n").status, 400);
  EXPECT_EQ(check("Content-Length:\r\n").status, 400);
  EXPECT_EQ(check("Content-Length: 5\r\nContent-length: 5\r\n").status, 400);
  EXPECT_EQ(check("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n").status, 400);
  EXPECT_EQ(check("Transfer-Encoding: chunked\r\n").status, 0);
}

TEST(RequestHeadTest, APostWithoutLengthGetsAnEmptyBody) {
  EXPECT_TRUE(check_request_head("POST /x HTTP/1.1\r\nHost: x\r\n\r\n", 10).add_empty_length);
  EXPECT_FALSE(check_request_head("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 10).add_empty_length);
  EXPECT_FALSE(check_request_head("GET /x HTTP/1.1\r\n\r\n", 10).add_empty_length);
}

TEST(RequestHeadTest, RequestLineParts) {
  std::string method, path;
  request_line_parts("POST /v1/completions?key=secret HTTP/1.1\r\nHost: x\r\n", method, path);
  EXPECT_EQ(method, "POST");
  EXPECT_EQ(path, "/v1/completions");
  request_line_parts("garbage", method, path);
  EXPECT_EQ(method, "-");
  EXPECT_EQ(path, "-");
}

TEST(RequestLogTest, TextLinesCannotBeForgedAndJsonLinesParse) {
  RequestLogLine line{"127.0.0.1", "GET", "/a\nrpu: fake 200", 404, 1, 2, 3.25, "abcd1234"};
  const std::string text = format_request_log(line, LogFormat::text);
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_NE(text.find("/a%0Arpu:%20fake%20200 404 tokens=1+2 ms=3.2"), std::string::npos) << text;
  const auto json = nlohmann::json::parse(format_request_log(line, LogFormat::json));
  EXPECT_EQ(json["path"], "/a\nrpu: fake 200");
  EXPECT_EQ(json["completion_tokens"], 2);
  EXPECT_EQ(api_key_id("secret").size(), 8u);
  EXPECT_NE(api_key_id("secret"), api_key_id("secret2"));
}

}  // namespace
}  // namespace rpu
