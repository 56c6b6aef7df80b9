// The gateway's usage log against the real SQLite file it writes: rows read back with SQL
// (sqlite3 itself, not the log's own reader), a full queue counted as drops, retention by
// row count and age, WAL mode, and the OpenAI fine-tuning export.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "gateway/call_logger.h"
#include "gateway/scrub.h"
#include "gateway/usage_log.h"
#include "gateway/usage_store.h"
#include "gateway/vault.h"
#include "test_util.h"

namespace rpu::gateway {
namespace {

using json = nlohmann::ordered_json;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

UsageRecord record(int i, const std::string& route = "arith") {
  UsageRecord r;
  r.time_ms = now_ms();
  r.client_key_id = "k1";
  r.route = route;
  r.model = "rpu-arith";
  r.request_json = json{{"messages", json::array({{{"role", "user"}, {"content", "what is " + std::to_string(i) + " + 1?"}}})}}.dump();
  r.response_json = json{{"role", "assistant"}, {"content", "The answer is " + std::to_string(i + 1) + "."}}.dump();
  r.prompt_tokens = 10;
  r.completion_tokens = 5;
  r.latency_ms = 12.5;
  return r;
}

// A single-value SQL query on the file, through sqlite3 directly.
std::string query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string value;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

std::string fresh_path(const std::string& name) {
  const std::string path = test::temp_path(name);
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  return path;
}

TEST(UsageLogTest, EverySubmittedCallIsARowInWalMode) {
  const std::string path = fresh_path("usage-rows.db");
  {
    UsageLog log({.path = path});
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(log.submit(record(i, i % 3 == 0 ? "tools" : "arith")));
    log.flush();
    EXPECT_EQ(log.stats().written, 1000u);
    EXPECT_EQ(query(path, "SELECT COUNT(*) FROM calls"), "1000");  // visible to another reader at once
  }
  EXPECT_EQ(query(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query(path, "SELECT COUNT(*) FROM calls WHERE route = 'tools'"), "334");
  EXPECT_EQ(query(path, "SELECT response FROM calls WHERE request LIKE '%what is 41 + 1?%'"),
            R"({"role":"assistant","content":"The answer is 42."})");
  EXPECT_EQ(query(path, "SELECT COUNT(*) FROM calls WHERE confidence IS NULL AND first_token_ms IS NULL"), "1000");
  const auto summary = summarize_usage(path);
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[0].route, "arith");
  EXPECT_EQ(summary[0].calls, 666);
  EXPECT_EQ(summary[0].prompt_tokens, 6660);
}

TEST(UsageLogTest, AFullQueueDropsAndCountsInsteadOfBlocking) {
  const std::string path = fresh_path("usage-full.db");
  UsageLog log({.path = path, .queue_capacity = 5}, /*start_writer=*/false);
  int accepted = 0;
  for (int i = 0; i < 12; ++i) accepted += log.submit(record(i)) ? 1 : 0;
  EXPECT_EQ(accepted, 5);
  EXPECT_EQ(log.stats().dropped, 7u);
  EXPECT_EQ(log.stats().queued, 5u);
  log.start();
  log.flush();
  EXPECT_EQ(log.stats().written, 5u);
  EXPECT_EQ(query(path, "SELECT COUNT(*) FROM calls"), "5");
}

TEST(UsageLogTest, RetentionKeepsTheNewestRowsAndDropsOldOnes) {
  const std::string path = fresh_path("usage-retention.db");
  {
    UsageLog log({.path = path, .batch_rows = 50, .retention_days = 30, .max_rows = 100});
    UsageRecord old = record(-1);
    old.time_ms = now_ms() - int64_t{40} * 86'400'000;  // 40 days ago
    log.submit(old);
    for (int i = 0; i < 250; ++i) log.submit(record(i));
    log.flush();
  }
  EXPECT_EQ(query(path, "SELECT COUNT(*) FROM calls"), "100");
  EXPECT_EQ(query(path, "SELECT MIN(time_ms) >= " + std::to_string(now_ms() - 86'400'000) + " FROM calls"), "1");
  EXPECT_EQ(query(path, "SELECT response FROM calls ORDER BY id DESC LIMIT 1"),
            R"({"role":"assistant","content":"The answer is 250."})");
}

TEST(UsageLogTest, ExportWritesOpenAIFineTuningLinesForSuccessfulCalls) {
  const std::string path = fresh_path("usage-export.db");
  {
    UsageLog log({.path = path});
    UsageRecord with_tools = record(1);
    with_tools.request_json = json{{"messages", json::array({{{"role", "user"}, {"content", "weather?"}}})},
                                   {"tools", json::array({{{"type", "function"}, {"function", {{"name", "get_weather"}}}}})}}
                                  .dump();
    log.submit(with_tools);
    UsageRecord failed = record(2);
    failed.error = "upstream timed out";
    log.submit(failed);
    log.submit(record(3));
  }
  std::ostringstream out;
  EXPECT_EQ(export_openai_jsonl(path, out), 2);
  std::istringstream lines(out.str());
  std::string line;
  std::vector<json> parsed;
  while (std::getline(lines, line)) parsed.push_back(json::parse(line));
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0]["messages"].size(), 2u);
  EXPECT_EQ(parsed[0]["messages"][1]["role"], "assistant");
  EXPECT_EQ(parsed[0]["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(parsed[1]["messages"][0]["content"], "what is 3 + 1?");
  EXPECT_FALSE(parsed[1].contains("tools"));
}

TEST(UsageLogTest, AnUnwritableFileIsAClearError) {
  try {
    UsageLog log({.path = "/nonexistent-dir/usage.db"});
    FAIL() << "opened a file in a missing folder";
  } catch (const rpu::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/usage.db"), std::string::npos) << e.what();
  }
}

// A location is a file unless it is a postgres:// URI; a URI's password never reaches a message.
TEST(UsageLogTest, LocationsSelectTheStoreAndHidePasswords) {
  EXPECT_TRUE(is_postgres_location("postgres://db.internal/usage"));
  EXPECT_TRUE(is_postgres_location("PostgreSQL://db.internal/usage"));
  EXPECT_FALSE(is_postgres_location("usage.db"));
  EXPECT_FALSE(is_postgres_location("/var/log/postgres://x.db"));
  EXPECT_EQ(redact_location("usage.db"), "usage.db");
  EXPECT_EQ(redact_location("postgresql://gw:p%40ss:w@db.internal:5433/usage"), "postgresql://gw@db.internal:5433/usage");
  EXPECT_EQ(redact_location("postgres://db.internal/usage"), "postgres://db.internal/usage");
  EXPECT_EQ(redact_location("postgres://gw@/usage?host=/run/pg&password=hunter2&port=5433"),
            "postgres://gw@/usage?host=/run/pg&port=5433");
  EXPECT_EQ(redact_location("postgres://gw:x@h/db?password=y"), "postgres://gw@h/db");
}

// S2 before S1: calls scrubbed by a ScrubSession and then logged leave no raw value anywhere
// on disk, neither in the database file nor in its write-ahead log (read before checkpoint,
// while the log is still open).
TEST(UsageLogTest, NoRawPersonalValueReachesTheDatabaseOrItsWal) {
  const std::string path = fresh_path("usage-scrubbed.db");
  const std::vector<std::string> raw = {"maria.lopez@example.com", "+44 20 7946 0958", "4111 1111 1111 1111",
                                        "DE89 3704 0044 0532 0130 00", "sk-proj-4fT9xQ2mLr7vZk1pW8sN3bYc",
                                        "203.0.113.77", "123-45-6789"};
  const Scrubber scrubber;
  UsageLog log({.path = path});
  for (int i = 0; i < 20; ++i) {
    ScrubSession session(scrubber);
    nlohmann::json messages = nlohmann::json::array(
        {{{"role", "system"}, {"content", "You are a support agent."}},
         {{"role", "user"},
          {"content", "I'm Maria, mail me at " + raw[0] + " or call " + raw[1] + ". Card " + raw[2] + ", IBAN " + raw[3] +
                          ", my key " + raw[4] + " from " + raw[5] + ", SSN " + raw[6] + "."}},
         {{"role", "assistant"},
          {"content", nullptr},
          {"tool_calls", json::array({{{"id", "c1"}, {"type", "function"},
                                       {"function", {{"name", "lookup"}, {"arguments", json{{"email", raw[0]}}.dump()}}}}})}}});
    session.scrub_messages(messages);
    UsageRecord r = record(i);
    r.request_json = json{{"messages", messages}}.dump();
    r.response_json = json{{"role", "assistant"}, {"content", session.scrub("Sent to " + raw[0] + ".")}}.dump();
    log.submit(std::move(r));
  }
  log.flush();
  std::string bytes;
  for (const char* suffix : {"", "-wal"}) bytes += test::read_file(path + suffix);
  ASSERT_NE(bytes.find("<EMAIL_1>"), std::string::npos) << "the rows were not written";
  for (const std::string& value : raw) EXPECT_EQ(bytes.find(value), std::string::npos) << value << " reached the disk";
}


// The gateway's rows: choices as an array of assistant messages, shadow rows left out of the
// training export, and --reveal putting the sealed original values back.
TEST(UsageLogTest, ExportTakesGatewayRowsRevealsWithTheVaultAndSkipsShadows) {
  const std::string path = fresh_path("usage-export-vault.db");
  const Scrubber scrubber;
  const Vault vault("vault key"), wrong("another key");
  {
    UsageLog log({.path = path});
    UsageRecord raw = record(1);
    raw.request_json =
        json{{"messages", json::array({{{"role", "user"}, {"content", "Mail \"Jane\" at jane.doe@example.com"}}})}}.dump();
    raw.response_json = json::array({{{"role", "assistant"}, {"content", "Sent to jane.doe@example.com."}}}).dump();
    log.submit(scrub_record(scrubber, raw, &vault));
    UsageRecord shadow = record(2);
    shadow.kind = "shadow";
    log.submit(shadow);
  }
  EXPECT_EQ(query(path, "SELECT COUNT(*) FROM calls WHERE kind = 'shadow'"), "1");
  EXPECT_EQ(query(path, "SELECT COUNT(*) FROM calls WHERE vault <> '' AND request NOT LIKE '%jane.doe%'"), "1");
  std::ostringstream scrubbed, revealed;
  EXPECT_EQ(export_openai_jsonl(path, scrubbed), 1);  // the shadow row is not training data
  EXPECT_EQ(scrubbed.str().find("jane.doe@example.com"), std::string::npos);
  EXPECT_NE(scrubbed.str().find("<EMAIL_1>"), std::string::npos);
  EXPECT_EQ(export_openai_jsonl(path, revealed, &vault), 1);
  const json line = json::parse(revealed.str());
  EXPECT_EQ(line["messages"][0]["content"], "Mail \"Jane\" at jane.doe@example.com");
  EXPECT_EQ(line["messages"][1]["content"], "Sent to jane.doe@example.com.");
  std::ostringstream refused;
  EXPECT_THROW(export_openai_jsonl(path, refused, &wrong), VaultError);
}
// Scrubbing keeps the caller's key order, in the request and in a tool call's arguments: the
// conversion loop trains on these rows, and the specialist is then served requests in the
// caller's order (sorted keys made its tool prompts and argument order ones it never saw live:
// the eleventh bench run's tool specialist was right on 83.9% of 300 new calls sent with sorted
// keys, 67.0% as sent).
TEST(UsageLogTest, ScrubbingKeepsTheCallersKeyOrder) {
  const Scrubber scrubber;
  UsageRecord raw = record(1);
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "create_event",
      "description": "Create an event.", "parameters": {"type": "object",
      "properties": {"title": {"type": "string"}, "date": {"type": "string"}}, "required": ["title", "date"]}}}])");
  raw.request_json = json{{"messages", json::array({{{"role", "user"}, {"content", "Lunch with ana.silva@example.com on May 3"}}})},
                          {"tools", tools}, {"max_tokens", 64}}.dump();
  raw.response_json = json::array({{{"role", "assistant"}, {"content", nullptr},
      {"tool_calls", json::array({{{"id", "c1"}, {"type", "function"},
          {"function", {{"name", "create_event"}, {"arguments", R"({"title":"Lunch with ana.silva@example.com","date":"2026-05-03"})"}}}}})}}})
                          .dump();
  const UsageRecord scrubbed = scrub_record(scrubber, raw);
  EXPECT_EQ(scrubbed.request_json.find("ana.silva"), std::string::npos) << scrubbed.request_json;
  const json request = json::parse(scrubbed.request_json);
  std::vector<std::string> keys;
  for (const auto& [key, value] : request.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"messages", "tools", "max_tokens"}));
  EXPECT_EQ(request["tools"].dump(), tools.dump());
  const json response = json::parse(scrubbed.response_json);
  const std::string arguments = response[0]["tool_calls"][0]["function"]["arguments"];
  EXPECT_LT(arguments.find("\"title\""), arguments.find("\"date\"")) << arguments;
  EXPECT_EQ(arguments.find("ana.silva"), std::string::npos) << arguments;
}

// The conversion loop reads whole rows back: every field as written, in order, after an id.
TEST(UsageLogTest, EachRowReadsEveryFieldBackInOrder) {
  const std::string path = fresh_path("usage-rows.db");
  UsageRecord full = record(1);
  full.first_token_ms = 12.5;
  full.confidence = 0.25;
  full.escalated = true;
  full.kind = "shadow";
  full.vault = "sealed";
  full.error = "boom";
  {
    UsageLog log({.path = path});
    log.submit(full);
    log.submit(record(2));
    log.submit(record(3));
  }
  std::vector<std::pair<int64_t, UsageRecord>> rows;
  open_usage_store(path, StoreAccess::kRead)->each_row(0, [&](int64_t id, const UsageRecord& r) { rows.push_back({id, r}); });
  ASSERT_EQ(rows.size(), 3u);
  const UsageRecord& r = rows[0].second;
  EXPECT_EQ(r.time_ms, full.time_ms);
  EXPECT_EQ(r.client_key_id, full.client_key_id);
  EXPECT_EQ(r.route, full.route);
  EXPECT_EQ(r.model, full.model);
  EXPECT_EQ(r.request_json, full.request_json);
  EXPECT_EQ(r.response_json, full.response_json);
  EXPECT_EQ(r.prompt_tokens, full.prompt_tokens);
  EXPECT_EQ(r.completion_tokens, full.completion_tokens);
  EXPECT_DOUBLE_EQ(r.latency_ms, full.latency_ms);
  EXPECT_DOUBLE_EQ(r.first_token_ms, 12.5);
  EXPECT_DOUBLE_EQ(r.confidence, 0.25);
  EXPECT_TRUE(r.escalated);
  EXPECT_EQ(r.error, "boom");
  EXPECT_EQ(r.kind, "shadow");
  EXPECT_EQ(r.vault, "sealed");
  EXPECT_EQ(rows[1].second.confidence, -1);  // NULL reads back as "none"
  EXPECT_EQ(rows[1].second.kind, "primary");
  std::vector<int64_t> later;
  open_usage_store(path, StoreAccess::kRead)->each_row(rows[1].first, [&](int64_t id, const UsageRecord&) { later.push_back(id); });
  EXPECT_EQ(later, std::vector<int64_t>{rows[2].first});
}

// The client's max_tokens is logged with the request (the conversion loop evaluates specialists
// under it); logs written before it was kept read as "none".
TEST(UsageLogTest, ALoggedRequestKeepsItsMaxTokens) {
  const std::string answer = json{{"role", "assistant"}, {"content", "billing"}}.dump();
  const json messages = json::array({{{"role", "user"}, {"content", "I was charged twice"}}});
  auto exchange = read_exchange(json{{"messages", messages}, {"max_tokens", 5}}.dump(), answer);
  ASSERT_TRUE(exchange.has_value());
  EXPECT_EQ(exchange->max_tokens, 5);
  exchange = read_exchange(json{{"messages", messages}}.dump(), answer);
  ASSERT_TRUE(exchange.has_value());
  EXPECT_EQ(exchange->max_tokens, 0);
  exchange = read_exchange(json{{"messages", messages}, {"max_tokens", "five"}}.dump(), answer);
  ASSERT_TRUE(exchange.has_value());
  EXPECT_EQ(exchange->max_tokens, 0);
}

}  // namespace
}  // namespace rpu::gateway
