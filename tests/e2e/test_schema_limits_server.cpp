// Oversized schemas and tool lists through `rpu serve` (issue 11, findings 3, 5 and 8): each
// is answered with a quick 400 that names the parameter, and the memory of big requests is
// handed back afterwards. Time bounds are generous: the requirement is "does not hang" (these
// requests took 30 s to minutes before).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

long rss_mb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) / 1024;
  return -1;
}

class SchemaLimitsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new test::ServerProcess({test::fixture("stories260K/stories260K.gguf"), "--alias", "m", "--parallel", "1",
                                       "--ctx", "512", "--chat-template",
                                       test::fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja")});
  }
  static void TearDownTestSuite() { delete server_; }

  // Posts a chat request; returns the status and the parsed body, and how long it took.
  static std::pair<int, json> post(const json& body, double& seconds) {
    httplib::Client client(server_->url());
    client.set_read_timeout(300);
    const auto start = Clock::now();
    auto res = client.Post("/v1/chat/completions", body.dump(), "application/json");
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  static json chat(json extra) {
    json body = {{"model", "m"}, {"max_tokens", 1}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
    for (auto& [key, value] : extra.items()) body[key] = value;
    return body;
  }

  static json enum_format(int n) {
    json values = json::array();
    for (int i = 0; i < n; ++i) values.push_back("v" + std::to_string(i));
    return {{"type", "json_schema"}, {"json_schema", {{"name", "e"}, {"schema", {{"enum", values}}}}}};
  }

  static test::ServerProcess* server_;
};
test::ServerProcess* SchemaLimitsServerTest::server_ = nullptr;

// Finding 8: a 1.2M-value enum (13 MB) took 31 s and ~1 GB; 19 requests of 200k values left
// RSS above 1 GB.
TEST_F(SchemaLimitsServerTest, HugeEnumsAreRefusedAndTheirMemoryReturned) {
  double seconds = 0;
  const auto [status, body] = post(chat({{"response_format", enum_format(1'200'000)}}), seconds);
  EXPECT_EQ(status, 400) << body.dump().substr(0, 300);
  EXPECT_EQ(body["error"]["param"], "response_format");
  EXPECT_EQ(body["error"]["code"], "schema_too_large");
  EXPECT_LT(seconds, 30.0);
  const json mid = chat({{"response_format", enum_format(200'000)}});
  for (int i = 0; i < 19; ++i) {
    const auto [s, b] = post(mid, seconds);
    ASSERT_EQ(s, 400) << b.dump().substr(0, 300);
  }
  const long rss = rss_mb(server_->pid());
  EXPECT_GT(rss, 0);
  EXPECT_LT(rss, 300) << "the server kept " << rss << " MB after its big requests were answered";
}

// Finding 3: 20,000 required properties took minutes of CPU that nothing could stop.
TEST_F(SchemaLimitsServerTest, TwentyThousandPropertiesAreA400) {
  json props = json::object(), required = json::array();
  for (int i = 0; i < 20000; ++i) {
    props["p" + std::to_string(i)] = {{"type", "string"}};
    required.push_back("p" + std::to_string(i));
  }
  const json format = {{"type", "json_schema"},
                       {"json_schema", {{"name", "s"}, {"schema", {{"type", "object"}, {"properties", props},
                                                                   {"required", required}}}}}};
  double seconds = 0;
  const auto [status, body] = post(chat({{"response_format", format}}), seconds);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(body["error"]["param"], "response_format");
  EXPECT_LT(seconds, 30.0);
}

// Finding 5: 5,000 tools with tool_choice "required" took 59 s before "prompt too long".
TEST_F(SchemaLimitsServerTest, FiveThousandToolsAreRefusedBeforeTheirGrammarIsBuilt) {
  json tools = json::array();
  for (int i = 0; i < 5000; ++i) {
    tools.push_back({{"type", "function"},
                     {"function", {{"name", "tool_" + std::to_string(i)},
                                   {"parameters", {{"type", "object"},
                                                   {"properties", {{"a", {{"type", "string"}}}, {"b", {{"type", "integer"}}}}},
                                                   {"required", {"a"}}}}}}});
  }
  double seconds = 0;
  const auto [status, body] = post(chat({{"tools", tools}, {"tool_choice", "required"}}), seconds);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(body["error"]["code"], "context_length_exceeded");
  EXPECT_LT(seconds, 30.0);
}

// llama-server's "grammar" field: GBNF the answer must follow, refused with a 400 naming it
// when it is broken or combined with another constraint; a grammar too ambiguous for the text
// being generated ends that answer with finish_reason "error" and the reason, and the server
// goes on serving.
TEST_F(SchemaLimitsServerTest, GrammarFieldConstrainsTheAnswerAndItsFaultsAreReported) {
  double seconds = 0;
  for (int seed = 1; seed <= 3; ++seed) {
    const auto [status, body] = post(chat({{"grammar", "root ::= (\"yes\" | \"no\") \"!\""},
                                           {"max_tokens", 8}, {"temperature", 1.0}, {"seed", seed}}),
                                      seconds);
    ASSERT_EQ(status, 200) << body.dump();
    const std::string content = body["choices"][0]["message"]["content"];
    EXPECT_TRUE(content == "yes!" || content == "no!") << content;
    EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  }
  const auto [broken_status, broken] = post(chat({{"grammar", "root ::= ("}}), seconds);
  EXPECT_EQ(broken_status, 400);
  EXPECT_EQ(broken["error"]["param"], "grammar") << broken.dump();
  EXPECT_EQ(broken["error"]["code"], "invalid_grammar") << broken.dump();
  const auto [both_status, both] = post(chat({{"grammar", "root ::= \"a\""}, {"response_format", {{"type", "json_object"}}}}), seconds);
  EXPECT_EQ(both_status, 400);
  EXPECT_EQ(both["error"]["param"], "grammar") << both.dump();
  const auto [type_status, type] = post(chat({{"grammar", 7}}), seconds);
  EXPECT_EQ(type_status, 400);
  EXPECT_EQ(type["error"]["param"], "grammar") << type.dump();
  std::string huge = "root ::= w\nw ::= \"w0\"";  // past GrammarLimits' 1 MiB of text
  for (int i = 1; i < 120000; ++i) huge += " | \"w" + std::to_string(i) + "\"";
  const auto [huge_status, huge_body] = post(chat({{"grammar", huge}}), seconds);
  EXPECT_EQ(huge_status, 400);
  EXPECT_EQ(huge_body["error"]["param"], "grammar") << huge_body.dump();
  EXPECT_EQ(huge_body["error"]["code"], "schema_too_large") << huge_body.dump();

  // Every "a" may open a level or close part of one: the ways to read "a"^n grow exponentially,
  // and the matcher gives up at its bound (about 23 bytes) instead of hanging the server.
  const auto [amb_status, amb] = post(chat({{"grammar", "root ::= \"\" | \"a\" root \"a\" root \"a\""},
                                            {"max_tokens", 200}, {"ignore_eos", true}, {"temperature", 0}}),
                                       seconds);
  ASSERT_EQ(amb_status, 200) << amb.dump();
  EXPECT_EQ(amb["choices"][0]["finish_reason"], "error") << amb.dump();
  EXPECT_NE(amb["choices"][0]["message"]["content"].get<std::string>().find("too ambiguous"), std::string::npos) << amb.dump();
  const auto [after_status, after] = post(chat({{"grammar", "root ::= \"ok\""}, {"max_tokens", 4}}), seconds);
  EXPECT_EQ(after_status, 200);
  EXPECT_EQ(after["choices"][0]["message"]["content"], "ok") << after.dump();
  EXPECT_TRUE(server_->running());
}

}  // namespace
}  // namespace rpu
