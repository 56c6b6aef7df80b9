// rpu gateway end to end, client keys: the config holds only SHA-256 digests printed by
// `rpu gateway hash-key`; a missing or wrong key is a 401, a key past its token bucket a 429
// with Retry-After (also as the official `openai` client sees them), calls are counted per key
// in /metrics, and the usage log names the key's id, never the key.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "gateway_util.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using nlohmann::json;

// Distinctive, so that a search of the usage log for them means something.
constexpr const char* kKeyA = "rpu-test-key-alpha-3f9c2d";      // team-a: no limit
constexpr const char* kKeyB = "rpu-test-key-bravo-81e4aa";      // team-b: 6 a minute, burst 2
constexpr const char* kKeyNode = "rpu-test-key-node-5b7e10";    // team-node: 1 a minute, burst 1
constexpr const char* kQuestion = "Tom has 30 cards. He loses 4. How many cards does Tom have now?";

std::string hash_key(const std::string& key) {
  const auto r = test::run_rpu({"gateway", "hash-key", key});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class GatewayAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_path_ = new std::string(test::temp_path("gateway-auth-calls.db"));
    const std::string config = R"(
models:
  arith: {local: builtin, parallel: 2, threads: 1}
routes:
  - name: arithmetic
    aliases: [arith]
    target: arith
default_route: arithmetic
log: {path: )" + *log_path_ + R"(}
keys:
  - id: team-a
    sha256: )" + hash_key(kKeyA) + R"(
  - id: team-b
    sha256: )" + hash_key(kKeyB) + R"(
    requests_per_minute: 6
    burst: 2
  - id: team-node
    sha256: )" + hash_key(kKeyNode) + R"(
    requests_per_minute: 1
    burst: 1
)";
    gateway_ = test::start_gateway(test::write_config("gateway-auth.yaml", config)).release();
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete log_path_;
  }
  void SetUp() override {
    if (gateway_ == nullptr) GTEST_FAIL() << "the suite's processes did not start";
  }
  void TearDown() override {
    if (gateway_ != nullptr) EXPECT_TRUE(gateway_->running()) << gateway_->log();
  }
  static test::HttpResult chat(const std::string& key) {
    return test::http_post(gateway_->url(), "/v1/chat/completions", test::chat_body("arith", kQuestion, 48), key);
  }
  static std::string metrics() {
    const auto r = test::http_get(gateway_->url(), "/metrics", kKeyA);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }

  static std::string* log_path_;
  static test::ServerProcess* gateway_;
};
std::string* GatewayAuthTest::log_path_ = nullptr;
test::ServerProcess* GatewayAuthTest::gateway_ = nullptr;

TEST_F(GatewayAuthTest, HashKeyPrintsTheKeysSha256FromAnArgumentOrStdin) {
  EXPECT_EQ(hash_key("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  const auto from_stdin = test::run_rpu({"gateway", "hash-key"}, "", std::string(kKeyA) + "\n");
  EXPECT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_EQ(from_stdin.out, hash_key(kKeyA) + "\n");
}

TEST_F(GatewayAuthTest, AMissingOrWrongKeyIsA401AndHealthNeedsNone) {
  for (const std::string& key : {std::string(), std::string("not-a-key"), hash_key(kKeyA)}) {
    SCOPED_TRACE("key '" + key + "'");
    const auto r = chat(key);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_TRUE(test::is_openai_error(r.json)) << r.body;
    EXPECT_EQ(r.json["error"].value("code", ""), "invalid_api_key") << r.body;
    EXPECT_EQ(test::http_get(gateway_->url(), "/v1/models", key).status, 401);
    EXPECT_EQ(test::http_get(gateway_->url(), "/metrics", key).status, 401);
  }
  EXPECT_EQ(test::http_get(gateway_->url(), "/health").status, 200);
  const auto ok = chat(kKeyA);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(test::is_arithmetic_answer(ok.content())) << ok.body;
}

TEST_F(GatewayAuthTest, TheThirdQuickRequestOfABurstOfTwoGetsA429WithRetryAfter) {
  const std::string before = metrics();
  EXPECT_EQ(chat(kKeyB).status, 200);
  EXPECT_EQ(chat(kKeyB).status, 200);
  const auto limited = chat(kKeyB);
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_TRUE(test::is_openai_error(limited.json)) << limited.body;
  EXPECT_EQ(limited.json["error"].value("type", ""), "rate_limit_error") << limited.body;
  EXPECT_NE(limited.json["error"].value("message", "").find("team-b"), std::string::npos) << limited.body;
  // 6 a minute: the next token is up to 10 s away.
  const std::string retry_after = limited.header("Retry-After");
  ASSERT_FALSE(retry_after.empty());
  EXPECT_GE(std::stoi(retry_after), 5);
  EXPECT_LE(std::stoi(retry_after), 10);
  // Another key is not held back by team-b's bucket.
  EXPECT_EQ(chat(kKeyA).status, 200);
  const std::string after = metrics();
  auto delta = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    return test::metric_value(after, name, labels) - test::metric_value(before, name, labels);
  };
  EXPECT_EQ(delta("rpu_gateway_rate_limited_total", {{"key", "team-b"}}), 1) << after;
  EXPECT_EQ(delta("rpu_gateway_calls_total", {{"key", "team-b"}, {"route", "arithmetic"}}), 2) << after;
  EXPECT_EQ(delta("rpu_gateway_calls_total", {{"key", "team-a"}, {"route", "arithmetic"}}), 1) << after;
  EXPECT_GT(delta("rpu_gateway_tokens_total", {{"key", "team-b"}, {"kind", "completion"}}), 0) << after;
  EXPECT_EQ(after.find(kKeyB), std::string::npos) << "metrics name key ids, not keys";
}

TEST_F(GatewayAuthTest, TheOfficialClientSeesAuthenticationAndRateLimitErrors) {
  if (!test::node_peers_installed()) GTEST_SKIP() << "tests/peers/node_modules missing (run scripts/install-deps.sh)";
  const test::NodeResult r = test::run_node("gateway/scenarios.mjs", {"auth", gateway_->url(), kKeyA, kKeyNode});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- gateway log ---\n" << gateway_->log();
}

TEST_F(GatewayAuthTest, TheUsageLogNamesTheKeyIdNeverTheKey) {
  ASSERT_EQ(chat(kKeyA).status, 200);
  const std::string count = "SELECT COUNT(*) FROM calls WHERE client_key_id = 'team-a'";
  EXPECT_GE(test::sqlite_wait_count(*log_path_, count, 1), 1);
  std::set<std::string> ids;
  for (const test::SqlRow& row : test::sqlite_rows(*log_path_, "SELECT DISTINCT client_key_id FROM calls")) {
    ids.insert(row.at("client_key_id").value_or("NULL"));
  }
  for (const std::string& id : ids) {
    EXPECT_TRUE(id == "team-a" || id == "team-b" || id == "team-node") << id;
  }
  EXPECT_TRUE(ids.count("team-a")) << "team-a's calls are logged under its id";
  // Neither a key nor its digest is anywhere in the file or its write-ahead log.
  std::string bytes = test::read_file(*log_path_);
  try {
    bytes += test::read_file(*log_path_ + "-wal");
  } catch (const std::exception&) {
    // no WAL (checkpointed)
  }
  for (const char* key : {kKeyA, kKeyB, kKeyNode}) {
    EXPECT_EQ(bytes.find(key), std::string::npos) << key;
    EXPECT_EQ(bytes.find(hash_key(key)), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace rpu
