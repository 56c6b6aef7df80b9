// rpu serve against hostile or unusual HTTP (issue 11): a busy port, silent and slowloris
// connections, bad Content-Length framing, wrong methods, the Bearer scheme's case, graceful
// shutdown on SIGTERM, and the request log. Raw sockets, so every byte is the test's.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "raw_http.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kApiKey = "hardening-key";

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string get(const std::string& path, const std::string& extra_headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra_headers + "\r\n";
}

std::string post(const std::string& path, const std::string& body, const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " + kApiKey +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers +
         "\r\n" + body;
}

class ServerHardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_path_ = new std::string(test::temp_path("tiny-hardening.gguf"));
    const auto synth = test::run_rpu({"synth", *model_path_, "--like", "tiny", "--type", "Q8_0", "--seed", "5"});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
  }
  static void TearDownTestSuite() { delete model_path_; }

  static std::unique_ptr<test::ServerProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {*model_path_, "--alias", "tiny", "--parallel", "2", "--ctx", "1024",
                                     "--threads", "1", "--api-key", kApiKey};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<test::ServerProcess>(args);
  }
  static std::string* model_path_;
};
std::string* ServerHardeningTest::model_path_ = nullptr;

// Finding 1: httplib's default SO_REUSEPORT let a second server share the port silently.
TEST_F(ServerHardeningTest, StartingOnABusyPortFailsNamingThePort) {
  auto first = start();
  try {
    test::ServerProcess second({*model_path_, "--alias", "tiny", "--threads", "1"}, first->port());
    FAIL() << "a second server started on busy port " << first->port();
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(std::to_string(first->port())), std::string::npos) << message;
    EXPECT_NE(message.find("in use"), std::string::npos) << message;
    EXPECT_EQ(message.find("exit code 0)"), std::string::npos) << message;
  }
  EXPECT_EQ(test::status_of(test::raw_request(first->port(), get("/health"))), 200);
}

// Finding 6: silent and slowloris connections held every HTTP thread and /health waited
// behind them (9 s with 200 silent connections, a timeout with 80 slowloris ones).
TEST_F(ServerHardeningTest, SilentAndSlowlorisConnectionsDoNotDelayHealth) {
  auto server = start({"--max-connections-per-client", "1000"});
  const auto tstart = Clock::now();
  std::vector<std::unique_ptr<test::RawConnection>> silent, slow;
  for (int i = 0; i < 200; ++i) silent.push_back(std::make_unique<test::RawConnection>(server->port()));
  for (int i = 0; i < 80; ++i) {
    slow.push_back(std::make_unique<test::RawConnection>(server->port()));
    slow.back()->send("GET /health HTTP/1.1\r\n");
  }
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    while (!done) {
      for (auto& c : slow) c->send("X-Slow: 1\r\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  // httplib's listen backlog of 5 dropped a burst's SYNs: these took 28 s to connect.
  EXPECT_LT(seconds_since(tstart), 5.0) << "connecting 280 clients";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    const std::string response = test::raw_request(server->port(), get("/health"), 20000);
    const double took = seconds_since(t0);
    EXPECT_EQ(test::status_of(response), 200) << response;
    EXPECT_LT(took, 2.0) << "/health took " << took << " s";
  }
  done = true;
  trickle.join();
}

// Slow request bodies hold request threads (here all 2 + 2 + 8 of them); /health and other
// bodiless GETs have threads of their own.
TEST_F(ServerHardeningTest, SlowBodiesOnEveryWorkerDoNotDelayHealth) {
  auto server = start({"--queue", "2"});
  std::vector<std::unique_ptr<test::RawConnection>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<test::RawConnection>(server->port()));
    slow.back()->send(std::string("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kApiKey +
                      "\r\nContent-Length: 1000\r\n\r\n{");
  }
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    while (!done) {
      for (auto& c : slow) c->send(" ");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    const std::string response = test::raw_request(server->port(), get("/health"), 20000);
    EXPECT_EQ(test::status_of(response), 200) << response;
    EXPECT_LT(seconds_since(t0), 2.0);
  }
  done = true;
  trickle.join();
}

TEST_F(ServerHardeningTest, SlowlorisConnectionGets408AfterTheHeaderDeadline) {
  auto server = start({"--header-timeout", "2"});
  test::RawConnection slow(server->port());
  ASSERT_TRUE(slow.send("GET /health HTTP/1.1\r\n"));
  const auto t0 = Clock::now();
  std::string received;
  // One header line every 300 ms: a per-recv timeout would never fire.
  while (seconds_since(t0) < 12 && !slow.closed_by_peer(300)) slow.send("X-Slow: 1\r\n");
  received = slow.read_until_close(0);
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_EQ(test::status_of(received), 408) << received;
  EXPECT_NE(received.find("request_timeout"), std::string::npos) << received;
}

TEST_F(ServerHardeningTest, PerClientLimitClosesTheOldestIdleConnection) {
  auto server = start({"--max-connections-per-client", "4"});
  std::vector<std::unique_ptr<test::RawConnection>> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<test::RawConnection>(server->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // A fifth connection with a real request is served; the oldest idle one makes room.
  EXPECT_EQ(test::status_of(test::raw_request(server->port(), get("/health"))), 200);
  EXPECT_TRUE(idle[0]->closed_by_peer(3000));
  EXPECT_FALSE(idle[3]->closed_by_peer(200));
}

TEST_F(ServerHardeningTest, TotalConnectionLimitDisplacesTheOldestPendingConnection) {
  auto server = start({"--max-connections", "8", "--max-connections-per-client", "100"});
  std::vector<std::unique_ptr<test::RawConnection>> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(std::make_unique<test::RawConnection>(server->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(test::status_of(test::raw_request(server->port(), get("/health"))), 200);
  EXPECT_TRUE(idle[0]->closed_by_peer(3000));
  EXPECT_FALSE(idle[7]->closed_by_peer(200));
}

// Finding 7: these were answered only after the 60 s read timeout (or accepted).
TEST_F(ServerHardeningTest, BadContentLengthIsAnsweredAtOnce) {
  auto server = start({"--max-body", "1048576"});
  struct Case {
    std::string header;
    int status;
    std::string code;
  };
  // A valid body, so only the framing can be what is refused.
  const std::string body = R"({"model":"tiny","prompt":"Hi","max_tokens":1})";
  const std::string length = std::to_string(body.size());
  const std::vector<Case> cases = {
      {"Content-Length: 99999999999999999999\r\n", 413, "request_too_large"},
      {"Content-Length: 2000000\r\n", 413, "request_too_large"},
      {"Content-Length: -5\r\n", 400, "invalid_content_length"},
      {"Content-Length: 12abc\r\n", 400, "invalid_content_length"},
      {"Content-Length: " + length + "\r\nContent-Length: " + length + "\r\n", 400, "invalid_content_length"},
      {"Content-Length: " + length + "\r\nTransfer-Encoding: chunked\r\n", 400, "invalid_content_length"}};
  for (const Case& c : cases) {
    const auto t0 = Clock::now();
    const std::string response = test::raw_request(
        server->port(),
        std::string("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kApiKey + "\r\n" + c.header +
            "\r\n" + body,
        20000);
    EXPECT_LT(seconds_since(t0), 5.0) << c.header;
    EXPECT_EQ(test::status_of(response), c.status) << c.header << response;
    const auto json = nlohmann::json::parse(test::body_of(response), nullptr, false);
    const nlohmann::json::json_pointer code("/error/code");
    EXPECT_EQ(json.is_object() && json.contains(code) ? json[code].get<std::string>() : "", c.code) << response;
  }
  EXPECT_EQ(test::status_of(test::raw_request(server->port(), get("/health"))), 200);
}

// A POST without Content-Length has no body; httplib waited 60 s for one to end.
TEST_F(ServerHardeningTest, PostWithoutContentLengthIsAnsweredAtOnce) {
  auto server = start();
  const auto t0 = Clock::now();
  const std::string response = test::raw_request(
      server->port(), std::string("POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ") +
          kApiKey + "\r\n\r\n",
      20000);
  EXPECT_LT(seconds_since(t0), 5.0);
  EXPECT_EQ(test::status_of(response), 400) << response;
}

// Finding 10: a known path with the wrong method is a 405 with Allow, not a 404.
TEST_F(ServerHardeningTest, WrongMethodOnAKnownPathIs405WithAllow) {
  auto server = start();
  const std::string auth = std::string("Authorization: Bearer ") + kApiKey + "\r\n";
  const std::string r1 = test::raw_request(server->port(), get("/v1/chat/completions", auth));
  EXPECT_EQ(test::status_of(r1), 405) << r1;
  EXPECT_NE(r1.find("Allow: POST"), std::string::npos) << r1;
  EXPECT_EQ(nlohmann::json::parse(test::body_of(r1))["error"]["code"], "method_not_allowed") << r1;
  const std::string r2 = test::raw_request(server->port(), post("/health", "{}"));
  EXPECT_EQ(test::status_of(r2), 405) << r2;
  EXPECT_NE(r2.find("Allow: GET, HEAD"), std::string::npos) << r2;
  EXPECT_EQ(test::status_of(test::raw_request(server->port(), get("/v1/nothing", auth))), 404);
}

// Finding 11: the auth scheme is case-insensitive (RFC 9110), the key is not.
TEST_F(ServerHardeningTest, BearerSchemeIsCaseInsensitive) {
  auto server = start();
  for (const std::string scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    const std::string r = test::raw_request(server->port(), get("/v1/models", "Authorization: " + scheme + " " + kApiKey + "\r\n"));
    EXPECT_EQ(test::status_of(r), 200) << scheme << r;
  }
  const std::string wrong = test::raw_request(server->port(), get("/v1/models", "Authorization: bearer HARDENING-KEY\r\n"));
  EXPECT_EQ(test::status_of(wrong), 401) << wrong;
  EXPECT_EQ(test::status_of(test::raw_request(server->port(), get("/v1/models", "Authorization: Basic x\r\n"))), 401);
}

}  // namespace
}  // namespace rpu
