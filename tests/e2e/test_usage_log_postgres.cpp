// The usage log against a real PostgreSQL 15 (a throwaway server started here, see
// support/postgres_server.h): rows read back with libpqxx directly (not the log's own reader),
// two gateways writing into one database at once, retention, rpu logs on a postgres:// URI,
// clear errors for a wrong location, and a server that goes away. Skipped only where Debian's
// postgresql-15 is not installed.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>

#include "core/error.h"
#include "gateway/usage_log.h"
#include "gateway/usage_store.h"
#include "postgres_server.h"
#include "raw_http.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu::gateway {
namespace {

using json = nlohmann::ordered_json;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

UsageRecord record(int i, const std::string& key = "k1") {
  UsageRecord r;
  r.time_ms = now_ms();
  r.client_key_id = key;
  r.route = "arith";
  r.model = "rpu-arith";
  r.request_json = json{{"messages", json::array({{{"role", "user"}, {"content", "what is " + std::to_string(i) + " + 1?"}}})}}.dump();
  r.response_json = json{{"role", "assistant"}, {"content", "The answer is " + std::to_string(i + 1) + "."}}.dump();
  r.prompt_tokens = 10;
  r.completion_tokens = 5;
  r.latency_ms = 12.5;
  return r;
}

class UsageLogPostgresTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::PostgresServer::installed()) return;
    try {
      server_ = new test::PostgresServer("-c fsync=off");  // durability is not under test here
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!test::PostgresServer::installed()) {
      GTEST_SKIP() << "postgresql-15 is not installed (no " << test::PostgresServer::kBinDir
                   << "/initdb): the PostgreSQL usage log is not tested";
    }
    ASSERT_NE(server_, nullptr) << "could not start PostgreSQL: " << start_error_;
  }

  // A fresh database per test, so tests never see each other's rows.
  std::string fresh_database(const std::string& name) {
    server_->create_database(name);
    return server_->uri(name);
  }

  static pqxx::result query(const std::string& uri, const std::string& sql) {
    pqxx::connection connection(uri);
    pqxx::work tx(connection);
    return tx.exec(sql);
  }
  static std::string value(const std::string& uri, const std::string& sql) {
    const pqxx::result r = query(uri, sql);
    return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].c_str();
  }

  static inline test::PostgresServer* server_ = nullptr;
  static inline std::string start_error_;
};

TEST_F(UsageLogPostgresTest, EveryFieldArrivesIntact) {
  const std::string uri = fresh_database("fields");
  UsageRecord full = record(1);
  full.client_key_id = "key-7f3a";
  full.route = "tools";
  full.model = "gpt-4o";
  // What COPY's text format must escape (tab, newline, backslash), and non-ASCII text.
  full.request_json = json{{"messages", json::array({{{"role", "user"}, {"content", "tab\there\nline \\ back ünïcödé 数"}}})}}.dump();
  full.response_json = R"({"role":"assistant","content":"a\tb"})";
  full.prompt_tokens = 1234567890123;
  full.completion_tokens = 42;
  full.latency_ms = 1234.5678901234;
  full.first_token_ms = 0.1;
  full.confidence = 0.875;
  full.escalated = true;
  full.error = "upstream\ttimed out\n";
  full.kind = "shadow";
  full.vault = "c2VhbGVk";
  UsageRecord bad_bytes = record(2);
  bad_bytes.error = std::string("bad \xff byte and a NUL \0 here", 27);
  {
    UsageLog log({.path = uri});
    log.submit(full);
    log.submit(record(3));  // no first token, no confidence: NULLs
    log.submit(bad_bytes);
    log.flush();
    EXPECT_EQ(log.stats().written, 3u);
    EXPECT_EQ(log.stats().write_errors, 0u);
  }
  const pqxx::result rows = query(uri,
                                  "SELECT time_ms, client_key_id, route, model, request, response, prompt_tokens, "
                                  "completion_tokens, latency_ms, first_token_ms, confidence, escalated, error, kind, vault "
                                  "FROM calls ORDER BY id");
  ASSERT_EQ(rows.size(), 3u);
  const pqxx::row r = rows[0];
  EXPECT_EQ(r[0].as<int64_t>(), full.time_ms);
  EXPECT_EQ(r[1].as<std::string>(), full.client_key_id);
  EXPECT_EQ(r[2].as<std::string>(), full.route);
  EXPECT_EQ(r[3].as<std::string>(), full.model);
  EXPECT_EQ(r[4].as<std::string>(), full.request_json);
  EXPECT_EQ(r[5].as<std::string>(), full.response_json);
  EXPECT_EQ(r[6].as<int64_t>(), full.prompt_tokens);
  EXPECT_EQ(r[7].as<int64_t>(), full.completion_tokens);
  EXPECT_EQ(r[8].as<double>(), full.latency_ms);  // exact: doubles are sent in their shortest exact form
  EXPECT_EQ(r[9].as<double>(), full.first_token_ms);
  EXPECT_EQ(r[10].as<double>(), full.confidence);
  EXPECT_TRUE(r[11].as<bool>());
  EXPECT_EQ(r[12].as<std::string>(), full.error);
  EXPECT_EQ(r[13].as<std::string>(), "shadow");
  EXPECT_EQ(r[14].as<std::string>(), full.vault);
  EXPECT_EQ(rows[1][13].as<std::string>(), "primary");
  EXPECT_TRUE(rows[1][9].is_null());
  EXPECT_TRUE(rows[1][10].is_null());
  EXPECT_FALSE(rows[1][11].as<bool>());
  EXPECT_EQ(rows[2][12].as<std::string>(), "bad \xEF\xBF\xBD byte and a NUL \xEF\xBF\xBD here");  // U+FFFD, not a failed batch
  // each_row (what the conversion loop reads) gives the same fields back.
  std::vector<UsageRecord> read;
  open_usage_store(uri, StoreAccess::kRead)->each_row(0, [&](int64_t, const UsageRecord& row) { read.push_back(row); });
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[0].request_json, full.request_json);
  EXPECT_EQ(read[0].latency_ms, full.latency_ms);
  EXPECT_EQ(read[0].confidence, full.confidence);
  EXPECT_EQ(read[0].kind, "shadow");
  EXPECT_EQ(read[0].vault, full.vault);
  EXPECT_TRUE(read[0].escalated);
  EXPECT_EQ(read[1].first_token_ms, -1);
  // The same columns as the SQLite file, with PostgreSQL types, and the index on time.
  EXPECT_EQ(value(uri, "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) "
                       "FROM information_schema.columns WHERE table_name = 'calls'"),
            "id bigint, time_ms bigint, client_key_id text, route text, model text, request text, response text, "
            "prompt_tokens bigint, completion_tokens bigint, latency_ms double precision, first_token_ms double "
            "precision, confidence double precision, escalated boolean, error text, kind text, vault text");
  EXPECT_EQ(value(uri, "SELECT indexdef FROM pg_indexes WHERE indexname = 'calls_time'"),
            "CREATE INDEX calls_time ON public.calls USING btree (time_ms)");
}

TEST_F(UsageLogPostgresTest, TwoGatewaysWriteIntoOneDatabaseAtOnce) {
  const std::string uri = fresh_database("shared");
  constexpr int kRows = 5000;
  auto gateway = [&](const std::string& key) {
    UsageLog log({.path = uri, .batch_rows = 256});  // small batches: many interleaved transactions
    for (int i = 0; i < kRows; ++i) {
      while (!log.submit(record(i, key))) std::this_thread::yield();
    }
    log.flush();
    EXPECT_EQ(log.stats().written, static_cast<uint64_t>(kRows)) << key;
    EXPECT_EQ(log.stats().write_errors, 0u) << key;
  };
  // Both start together, so both also create the schema at once.
  std::thread first(gateway, "gateway-1"), second(gateway, "gateway-2");
  first.join();
  second.join();
  EXPECT_EQ(value(uri, "SELECT COUNT(*) FROM calls"), std::to_string(2 * kRows));
  EXPECT_EQ(value(uri, "SELECT COUNT(DISTINCT request) FROM calls WHERE client_key_id = 'gateway-2'"), std::to_string(kRows));
}

TEST_F(UsageLogPostgresTest, RetentionKeepsTheNewestRowsAndDropsOldOnes) {
  const std::string uri = fresh_database("retention");
  {
    UsageLog log({.path = uri, .batch_rows = 50, .retention_days = 30, .max_rows = 100});
    UsageRecord old = record(-1);
    old.time_ms = now_ms() - int64_t{40} * 86'400'000;  // 40 days ago
    log.submit(old);
    for (int i = 0; i < 250; ++i) log.submit(record(i));
    log.flush();
  }
  EXPECT_EQ(value(uri, "SELECT COUNT(*) FROM calls"), "100");
  EXPECT_EQ(value(uri, "SELECT MIN(time_ms) >= " + std::to_string(now_ms() - 86'400'000) + " FROM calls"), "t");
  EXPECT_EQ(value(uri, "SELECT response FROM calls ORDER BY id DESC LIMIT 1"),
            R"({"role":"assistant","content":"The answer is 250."})");
}

// rpu logs' readers (the library calls and the binary) on a postgres:// location.
TEST_F(UsageLogPostgresTest, SummaryAndExportReadPostgres) {
  const std::string uri = fresh_database("readers");
  {
    UsageLog log({.path = uri});
    for (int i = 0; i < 7; ++i) {
      UsageRecord r = record(i);
      if (i >= 5) r.route = "upstream", r.model = "gpt-4o", r.escalated = true;
      if (i == 6) r.error = "upstream timed out";
      log.submit(r);
    }
  }
  const auto summary = summarize_usage(uri);
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[0].route, "arith");
  EXPECT_EQ(summary[0].calls, 5);
  EXPECT_EQ(summary[0].prompt_tokens, 50);
  EXPECT_DOUBLE_EQ(summary[0].mean_latency_ms, 12.5);
  EXPECT_EQ(summary[1].errors, 1);
  EXPECT_EQ(summary[1].escalated, 2);
  std::ostringstream out;
  EXPECT_EQ(export_openai_jsonl(uri, out), 6);  // the failed call is not training data
  EXPECT_EQ(json::parse(out.str().substr(0, out.str().find('\n')))["messages"][1]["content"], "The answer is 1.");

  const auto stats = test::run_rpu({"logs", "stats", uri});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("upstream"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("total: 7 calls"), std::string::npos) << stats.out;
  const auto exported = test::run_rpu({"logs", "export", uri, "--format", "openai-jsonl"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(exported.out, out.str());
}

TEST_F(UsageLogPostgresTest, AWrongLocationIsAClearErrorWithoutThePassword) {
  // Nothing listens on TCP port 1: refused at once.
  const std::string refused = "postgresql://rpu:s3cret@127.0.0.1:1/usage?sslmode=disable";
  try {
    UsageLog log({.path = refused});
    FAIL() << "connected to port 1";
  } catch (const rpu::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'postgresql://rpu@127.0.0.1:1/usage?sslmode=disable'"), std::string::npos) << message;
    EXPECT_NE(message.find("cannot connect"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  const std::string missing_db = server_->uri("no_such_db");
  try {
    summarize_usage(missing_db);
    FAIL() << "read a database that does not exist";
  } catch (const rpu::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_db"), std::string::npos) << e.what();
  }
  const auto cli = test::run_rpu({"logs", "stats", "postgres://rpu:s3cret@127.0.0.1:1/usage"});
  EXPECT_NE(cli.exit_code, 0);
  EXPECT_NE(cli.err.find("postgres://rpu@127.0.0.1:1/usage"), std::string::npos) << cli.err;
  EXPECT_EQ(cli.err.find("s3cret"), std::string::npos) << cli.err;
}

// The server drops the gateway's connection (restart, failover, idle timeout): that batch is
// counted in write_errors, submit() never waits, and the next batch connects again.
TEST_F(UsageLogPostgresTest, ALostConnectionCountsErrorsAndReconnects) {
  const std::string uri = fresh_database("reconnect");
  UsageLog log({.path = uri});
  log.submit(record(1));
  log.flush();
  ASSERT_EQ(log.stats().written, 1u);
  EXPECT_EQ(value(uri, "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = 'reconnect' AND application_name = 'rpu'"),
            "1");
  log.submit(record(2));
  log.flush();
  log.submit(record(3));
  log.flush();
  const UsageLogStats stats = log.stats();
  EXPECT_EQ(stats.written + stats.write_errors, 3u);
  EXPECT_EQ(stats.write_errors, 1u);  // the batch that found the connection gone
  EXPECT_EQ(value(uri, "SELECT COUNT(*) FROM calls"), std::to_string(stats.written));
  EXPECT_EQ(value(uri, "SELECT MAX(response) FROM calls"), R"({"role":"assistant","content":"The answer is 4."})");
}

// The server is gone for good: submit() still only queues, every batch is an error (each one
// tries to connect again and fails), and nothing throws or hangs.
TEST_F(UsageLogPostgresTest, AServerThatIsGoneNeverBlocksSubmit) {
  auto doomed = std::make_unique<test::PostgresServer>("-c fsync=off");
  doomed->create_database("gone");
  UsageLog log({.path = doomed->uri("gone"), .batch_rows = 100});
  doomed.reset();  // stopped (immediate) and its folder, socket included, removed
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(log.submit(record(i)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  log.flush();
  EXPECT_EQ(log.stats().write_errors, 1000u);
  EXPECT_EQ(log.stats().written, 0u);
}

// The issue's use: `rpu gateway --log postgres://...` writes each call (scrubbed) into the table
// gateways share, and its banner names the log without the password.
TEST_F(UsageLogPostgresTest, TheGatewayLogsCallsToPostgres) {
  const std::string uri = fresh_database("gateway");
  const std::string config = test::temp_path("pg-gateway.yaml");
  test::write_file(config,
                   "models:\n  arith: {local: builtin, parallel: 1}\n"
                   "routes:\n  - name: arithmetic\n    target: arith\n"
                   "default_route: arithmetic\n");
  // Trust authentication ignores the password; it is here to be kept out of the banner.
  const std::string with_password = "postgresql://rpu:s3cret@" + uri.substr(std::string("postgresql://rpu@").size());
  {
    test::ServerProcess gateway({"--config", config, "--log", with_password}, 0, "gateway");
    EXPECT_NE(gateway.log().find("usage log: postgresql://rpu@/gateway?"), std::string::npos) << gateway.log();
    EXPECT_EQ(gateway.log().find("s3cret"), std::string::npos) << gateway.log();
    const std::string body =
        R"({"model":"arith","max_tokens":8,"messages":[{"role":"user","content":"Sam has 12 apples and buys 7 more. Mail sam@example.com"}]})";
    const std::string response = test::raw_request(
        gateway.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                        "application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    ASSERT_EQ(test::status_of(response), 200) << response;
    gateway.signal(SIGTERM);  // a clean stop writes what is queued
    ASSERT_EQ(gateway.wait_exit(10000), 0) << gateway.log();
  }
  EXPECT_EQ(value(uri, "SELECT route || ' ' || model FROM calls"), "arithmetic arith");
  EXPECT_EQ(value(uri, "SELECT prompt_tokens > 0 AND completion_tokens > 0 FROM calls"), "t");
  const std::string request = value(uri, "SELECT request FROM calls");
  EXPECT_NE(request.find("<EMAIL_1>"), std::string::npos) << request;
  EXPECT_EQ(request.find("sam@example.com"), std::string::npos) << request;
  EXPECT_EQ(value(uri, "SELECT COUNT(*) FROM calls WHERE response LIKE '%assistant%' AND error = ''"), "1");
}

}  // namespace
}  // namespace rpu::gateway
