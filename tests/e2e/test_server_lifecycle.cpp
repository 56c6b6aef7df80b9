// rpu serve's lifecycle and logging (issue 11): graceful shutdown on SIGTERM (stop accepting,
// let requests in progress finish or cut them at --shutdown-timeout, exit 0; a second signal
// exits at once) and the per-request log (text, or JSON lines with --log-format json).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "raw_http.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kApiKey = "lifecycle-key";

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " + kApiKey +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " + kApiKey + "\r\n\r\n";
}

// A stream that outlasts any shutdown deadline below: the longest the context allows.
const std::string kLongStream =
    R"({"model":"tiny","prompt":"Once upon a time","max_tokens":4000,"stream":true,"ignore_eos":true})";

class ServerLifecycleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_path_ = new std::string(test::temp_path("tiny-lifecycle.gguf"));
    const auto synth = test::run_rpu({"synth", *model_path_, "--like", "tiny", "--type", "Q8_0", "--seed", "5"});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
  }
  static void TearDownTestSuite() { delete model_path_; }

  static std::unique_ptr<test::ServerProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {*model_path_, "--alias", "tiny", "--parallel", "2", "--ctx", "4096",
                                     "--threads", "1", "--api-key", kApiKey};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<test::ServerProcess>(args);
  }
  static std::string* model_path_;
};
std::string* ServerLifecycleTest::model_path_ = nullptr;

TEST_F(ServerLifecycleTest, SigtermDrainsWithinTheDeadlineAndExitsZero) {
  auto server = start({"--shutdown-timeout", "1"});
  test::RawConnection stream(server->port());
  ASSERT_TRUE(stream.send(post("/v1/completions", kLongStream)));
  ASSERT_NE(stream.read_until("data: ", 30000).find("data: "), std::string::npos) << server->log();
  const auto t0 = Clock::now();
  server->signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Stopped accepting at once, while the stream is still being drained.
  test::RawConnection late(server->port());
  EXPECT_FALSE(late.connected());
  // The stream ends well-formed: finished, or (past the deadline) an error event, then
  // "data: [DONE]" and the chunked terminator.
  const std::string received = stream.read_until_close(20000);
  EXPECT_TRUE(stream.closed_by_peer(0)) << received.size();
  EXPECT_NE(received.find("data: [DONE]\n\n\r\n0\r\n\r\n"), std::string::npos) << received.substr(received.size() - 300);
  const int code = server->wait_exit(20000);
  EXPECT_EQ(code, 0) << server->log();
  EXPECT_LT(seconds_since(t0), 1 + 8.0) << server->log();
  if (received.find("server_shutting_down") != std::string::npos) {
    EXPECT_NE(server->log().find("POST /v1/completions 503"), std::string::npos) << server->log();
  }
}

TEST_F(ServerLifecycleTest, SecondSigtermExitsAtOnce) {
  auto server = start({"--shutdown-timeout", "60"});
  test::RawConnection stream(server->port());
  ASSERT_TRUE(stream.send(post("/v1/completions", kLongStream)));
  ASSERT_NE(stream.read_until("data: ", 30000).find("data: "), std::string::npos) << server->log();
  server->signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = Clock::now();
  server->signal(SIGTERM);
  const int code = server->wait_exit(20000);
  EXPECT_NE(code, -1) << server->log();
  EXPECT_LT(seconds_since(t0), 5.0);
}

TEST_F(ServerLifecycleTest, IdleServerStopsAtOnceOnSigterm) {
  auto server = start();
  test::RawConnection idle(server->port());  // an open, silent connection must not hold it
  const auto t0 = Clock::now();
  server->signal(SIGTERM);
  EXPECT_EQ(server->wait_exit(20000), 0) << server->log();
  EXPECT_LT(seconds_since(t0), 5.0);
}

std::vector<nlohmann::json> json_lines(const std::string& log) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.front() == '{') lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

TEST_F(ServerLifecycleTest, RequestLogAsJsonLines) {
  auto server = start({"--log-format", "json"});
  const int port = server->port();
  EXPECT_EQ(test::status_of(test::raw_request(port, get("/health"))), 200);
  const std::string completion = test::raw_request(
      port, post("/v1/completions", R"({"model":"tiny","prompt":"Hello","max_tokens":5,"ignore_eos":true})"));
  EXPECT_EQ(test::status_of(completion), 200) << completion;
  EXPECT_EQ(test::status_of(test::raw_request(port, get("/v1/nothing"))), 404);
  EXPECT_EQ(test::status_of(test::raw_request(port, "GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n")), 401);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string log = server->log();
  EXPECT_EQ(log.find(kApiKey), std::string::npos) << "the key itself was logged:\n" << log;
  const auto lines = json_lines(log);
  ASSERT_EQ(lines.size(), 4u) << log;
  EXPECT_EQ(lines[0]["path"], "/health");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["key_id"], "-");
  EXPECT_EQ(lines[1]["method"], "POST");
  EXPECT_EQ(lines[1]["path"], "/v1/completions");
  EXPECT_EQ(lines[1]["status"], 200);
  EXPECT_EQ(lines[1]["completion_tokens"], 5);
  EXPECT_GT(lines[1]["prompt_tokens"].get<int>(), 0);
  EXPECT_GE(lines[1]["ms"].get<double>(), 0.0);
  EXPECT_TRUE(std::regex_match(lines[1]["key_id"].get<std::string>(), std::regex("[0-9a-f]{8}"))) << lines[1];
  EXPECT_EQ(lines[2]["status"], 404);
  EXPECT_EQ(lines[2]["key_id"], lines[1]["key_id"]);
  EXPECT_EQ(lines[3]["status"], 401);
  EXPECT_EQ(lines[3]["key_id"], "none");
  for (const auto& line : lines) EXPECT_EQ(line["client"], "127.0.0.1") << line;
}

TEST_F(ServerLifecycleTest, RequestLogIsAReadableLineByDefault) {
  auto server = start();
  EXPECT_EQ(test::status_of(test::raw_request(server->port(), get("/health"))), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(std::regex_search(server->log(), std::regex(R"(127\.0\.0\.1 GET /health 200 tokens=0\+0 ms=[0-9.]+ key=-)")))
      << server->log();
}

}  // namespace
}  // namespace rpu
