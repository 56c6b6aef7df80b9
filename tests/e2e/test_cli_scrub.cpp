// `rpu scrub` as a user runs it: text from a file or stdin, OpenAI messages with --messages,
// per-type counts with --types, and a clean error for a missing file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace rpu {
namespace {

TEST(CliScrubTest, ScrubsTextFromStdinAndFile) {
  const std::string text = "Hi, my name is Maria Garcia, mail maria@example.com or maria@example.com, "
                           "card 4111 1111 1111 1111, build 3f786850e387550fdab836ed7e6dc881de23001b\n";
  const auto r = test::run_rpu({"scrub", "--types"}, "", text);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hi, my name is <PERSON_1>, mail <EMAIL_1> or <EMAIL_1>, card <CREDIT_CARD_1>, "
                   "build 3f786850e387550fdab836ed7e6dc881de23001b\n");
  EXPECT_NE(r.err.find("EMAIL 1\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("PERSON 1\n"), std::string::npos) << r.err;
  const std::string path = test::temp_path("scrub.txt");
  test::write_file(path, text);
  EXPECT_EQ(test::run_rpu({"scrub", path}).out, r.out);
}

TEST(CliScrubTest, ScrubsMessages) {
  const std::string messages = R"([{"role": "user", "content": "call me on +44 20 7946 0958"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
     "function": {"name": "dial", "arguments": "{\"number\": \"+44 20 7946 0958\"}"}}]}])";
  const auto r = test::run_rpu({"scrub", "--messages"}, "", messages);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out[0]["content"], "call me on <PHONE_1>");
  EXPECT_EQ(out[1]["tool_calls"][0]["function"]["arguments"], R"({"number":"<PHONE_1>"})");
}

TEST(CliScrubTest, MissingFileIsAnError) {
  const auto r = test::run_rpu({"scrub", "/nonexistent/input.txt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot read '/nonexistent/input.txt'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rpu
