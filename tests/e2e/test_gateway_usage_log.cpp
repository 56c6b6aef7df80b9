// rpu gateway end to end, the usage log: calls whose messages hold personal data (e-mail
// addresses, phone numbers, names) are written to the SQLite log (read here with sqlite3
// itself) with typed placeholders and none of the raw values, in the file or its write-ahead
// log; each row's route, model, escalated and confidence columns say what the response's
// rpu.gateway field said.
#include <gtest/gtest.h>

#include <memory>

#include "gateway_util.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using nlohmann::json;

// The raw values: none of them may reach the disk.
const char* const kRawValues[] = {"alice.johnson@example.com", "Alice Johnson", "Johnson", "415-555-0134",
                                  "Bob Miller", "Miller", "carol.diaz@example.org", "Carol Diaz", "+44 20 7946 0958",
                                  "7946 0958", "dave.ng@example.net"};

struct Call {
  json body;
  bool stream = false;
};

class GatewayUsageLogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_path_ = new std::string(test::temp_path("gateway-usage-calls.db"));
    upstream_ = new test::ServerProcess(test::story_upstream_args());
    const std::string config = R"(
models:
  arith: {local: builtin, parallel: 2, threads: 1}
upstreams:
  big:
    url: )" + upstream_->url() + R"(/v1
    model: big
routes:
  - name: arithmetic
    aliases: [arith]
    target: arith
    cascade: {upstream: big, min_confidence: 0.5, refusal: ")" + test::kRefusalRegex + R"("}
  - name: general
    aliases: [gpt-4o]
    target: big
log: {path: )" + *log_path_ + R"(, scrub: true}
)";
    gateway_ = test::start_gateway(test::write_config("gateway-usage.yaml", config)).release();
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete upstream_;
    delete log_path_;
  }
  void SetUp() override {
    if (gateway_ == nullptr) GTEST_FAIL() << "the suite's processes did not start";
  }
  void TearDown() override {
    if (gateway_ != nullptr) EXPECT_TRUE(gateway_->running()) << gateway_->log();
  }

  static std::string* log_path_;
  static test::ServerProcess* upstream_;
  static test::ServerProcess* gateway_;
};
std::string* GatewayUsageLogTest::log_path_ = nullptr;
test::ServerProcess* GatewayUsageLogTest::upstream_ = nullptr;
test::ServerProcess* GatewayUsageLogTest::gateway_ = nullptr;

TEST_F(GatewayUsageLogTest, RowsHavePlaceholdersNoRawValuesAndTheGatewaysDecisions) {
  const std::vector<Call> calls = {
      // The specialist answers (the question is its own).
      {test::chat_body("arith",
                       "My name is Alice Johnson (alice.johnson@example.com). Mia has 12 apples. She buys 7 more. How "
                       "many apples does Mia have now?",
                       60)},
      // The specialist refuses; the upstream answers. (No digits here: the specialist takes
      // a phone number for a sum.)
      {test::chat_body("arith", "Hello, I'm Bob Miller. Who are you?", 40)},
      // The upstream directly.
      {test::chat_body("gpt-4o",
                       "Dear assistant, my colleague Carol Diaz (carol.diaz@example.org, +44 20 7946 0958 or "
                       "415-555-0134) wants a story about a cat.",
                       40)},
      // Streamed.
      {test::chat_body("arith", "Write to dave.ng@example.net: Tom has 30 cards. He loses 4. How many cards does Tom "
                                "have now?", 60),
       true},
  };
  std::vector<json> answers;  // rpu.gateway of each
  std::vector<std::string> texts;
  for (const Call& c : calls) {
    if (c.stream) {
      const auto s = test::http_stream_chat(gateway_->url(), c.body);
      ASSERT_EQ(s.status, 200);
      answers.push_back(s.rpu["gateway"]);
      texts.push_back(s.text);
    } else {
      const auto r = test::http_post(gateway_->url(), "/v1/chat/completions", c.body);
      ASSERT_EQ(r.status, 200) << r.body;
      answers.push_back(r.gateway());
      texts.push_back(r.content());
    }
  }
  // Both sides of the cascade occur.
  EXPECT_FALSE(answers[0].value("escalated", true)) << answers[0].dump();
  EXPECT_TRUE(answers[1].value("escalated", false)) << answers[1].dump();

  ASSERT_EQ(test::sqlite_wait_count(*log_path_, "SELECT COUNT(*) FROM calls", 4), 4);
  const auto rows = test::sqlite_rows(*log_path_, "SELECT * FROM calls ORDER BY id");
  ASSERT_EQ(rows.size(), 4u);
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE("call " + std::to_string(i) + ": " + answers[i].dump());
    const test::SqlRow& row = rows[i];
    EXPECT_EQ(row.at("route"), answers[i].value("route", ""));
    EXPECT_EQ(row.at("model"), answers[i].value("answered_by", ""));
    EXPECT_EQ(row.at("escalated"), answers[i].value("escalated", false) ? "1" : "0");
    EXPECT_EQ(row.at("client_key_id"), "-");
    EXPECT_EQ(row.at("kind"), "primary");
    EXPECT_EQ(row.at("error"), "");
    if (answers[i].contains("confidence")) {
      ASSERT_TRUE(row.at("confidence").has_value());
      EXPECT_NEAR(std::stod(*row.at("confidence")), answers[i]["confidence"].get<double>(), 1e-9);
    } else {
      EXPECT_FALSE(row.at("confidence").has_value()) << *row.at("confidence");
    }
    EXPECT_GT(std::stoll(row.at("prompt_tokens").value_or("0")), 0);
    EXPECT_GT(std::stoll(row.at("completion_tokens").value_or("0")), 0);
    // The answer as the client got it (it held no personal data).
    const json response = json::parse(row.at("response").value_or("null"));
    ASSERT_TRUE(response.is_array()) << response.dump();
    EXPECT_EQ(response[0].value("content", ""), texts[i]);
  }
  // The route of each call as expected: the specialist, the upstream after it, the upstream.
  EXPECT_EQ(rows[0].at("model"), "arith");
  EXPECT_EQ(rows[0].at("route"), "arithmetic");
  EXPECT_EQ(rows[1].at("model"), "big");
  EXPECT_EQ(rows[1].at("route"), "arithmetic");
  EXPECT_EQ(rows[2].at("model"), "big");
  EXPECT_EQ(rows[2].at("route"), "general");
  EXPECT_FALSE(rows[2].at("confidence").has_value()) << "no small model judged it";
  // The requests as sent, with placeholders for the values.
  const std::string r0 = rows[0].at("request").value_or(""), r1 = rows[1].at("request").value_or(""),
                    r2 = rows[2].at("request").value_or(""), r3 = rows[3].at("request").value_or("");
  EXPECT_NE(r0.find("<EMAIL_1>"), std::string::npos) << r0;
  EXPECT_NE(r0.find("<PERSON_1>"), std::string::npos) << r0;
  EXPECT_NE(r1.find("<PERSON_1>"), std::string::npos) << r1;
  EXPECT_NE(r2.find("<PERSON_1>"), std::string::npos) << r2;
  EXPECT_NE(r2.find("<EMAIL_1>"), std::string::npos) << r2;
  EXPECT_NE(r2.find("<PHONE_1>"), std::string::npos) << r2;
  EXPECT_NE(r2.find("<PHONE_2>"), std::string::npos) << r2;
  EXPECT_NE(r3.find("<EMAIL_1>"), std::string::npos) << r3;
  EXPECT_NE(r0.find("Mia has 12 apples"), std::string::npos) << "the rest of the text stays: " << r0;

  // None of the raw values anywhere on disk: the database file and its write-ahead log.
  std::string bytes = test::read_file(*log_path_);
  try {
    bytes += test::read_file(*log_path_ + "-wal");
  } catch (const std::exception&) {
    // checkpointed: no WAL
  }
  for (const char* raw : kRawValues) EXPECT_EQ(bytes.find(raw), std::string::npos) << raw;
}

TEST_F(GatewayUsageLogTest, AFailedCallIsLoggedWithItsErrorAndScrubbed) {
  // The stand-in upstream's Gemma template refuses system messages: the upstream's 400 is the
  // client's, and the call is logged with it.
  const std::string marker = "Maria Garcia";
  const auto r = test::http_post(gateway_->url(), "/v1/chat/completions",
                                 test::chat_body("gpt-4o", "Tell a story.", 16,
                                                 "You write for " + marker + " (maria.garcia@example.com)."));
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(test::is_openai_error(r.json)) << r.body;
  const std::string failed = "SELECT COUNT(*) FROM calls WHERE error <> ''";
  ASSERT_EQ(test::sqlite_wait_count(*log_path_, failed, 1), 1);
  const auto rows = test::sqlite_rows(*log_path_, "SELECT * FROM calls WHERE error <> ''");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("route"), "general");
  EXPECT_EQ(rows[0].at("model"), "big");
  EXPECT_EQ(rows[0].at("escalated"), "0");
  EXPECT_NE(rows[0].at("error").value_or("").find("System role not supported"), std::string::npos)
      << rows[0].at("error").value_or("");
  const std::string request = rows[0].at("request").value_or("");
  EXPECT_NE(request.find("<PERSON_1>"), std::string::npos) << request;
  EXPECT_NE(request.find("<EMAIL_1>"), std::string::npos) << request;
  std::string bytes = test::read_file(*log_path_);
  try {
    bytes += test::read_file(*log_path_ + "-wal");
  } catch (const std::exception&) {
    // checkpointed: no WAL
  }
  EXPECT_EQ(bytes.find(marker), std::string::npos);
  EXPECT_EQ(bytes.find("maria.garcia@example.com"), std::string::npos);
}

}  // namespace
}  // namespace rpu
