// rpu gateway's usage log under kill -9 (issue: "after kill -9 under load, at most the last
// fraction of a second of calls is lost"). A gateway with the built-in model and an SQLite log
// (scrubbed) serves several client threads for a few seconds; then it is killed with SIGKILL
// while they are still sending. Each call carries a tag ("call T-N") that the scrubber leaves
// alone, so the log's rows can be matched to the completions the clients saw:
//   - no row for a call the clients never sent, and none twice;
//   - rows <= completions seen + calls that were in flight at the kill (answered by the model
//     and queued for the log, but the response never reached the client);
//   - every completion the clients saw more than kLossWindow before the kill is in the log.
// A record goes: the call's last event -> the scrub queue (one thread) -> the usage log's queue
// -> a transaction every flush interval (100 ms) -> the WAL. kill -9 loses what is still in the
// two queues and the batch being written, so kLossWindow = 0.5 s leaves room for a scheduling
// hiccup on a loaded machine on top of the ~100-200 ms the path takes. The test prints how many
// completed calls were lost and how old the oldest of them was at the kill.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClients = 6;
constexpr auto kLoadTime = std::chrono::milliseconds(3000);
constexpr double kLossWindowSeconds = 0.5;

struct CallId {
  int client = 0, seq = 0;
  bool operator<(const CallId& o) const { return client != o.client ? client < o.client : seq < o.seq; }
};

struct ClientLog {
  std::vector<std::pair<CallId, Clock::time_point>> completed;  // answered 200, when the client saw it
  std::vector<CallId> failed;                                   // sent, no 200 (in flight at the kill)
  int unexpected = 0;                                           // failures before the kill
  std::string first_unexpected;
};

// The rows of the calls table as call ids (parsed from the logged request), after the kill.
std::vector<CallId> logged_calls(const std::string& db_path, std::string& error) {
  std::vector<CallId> ids;
  sqlite3* db = nullptr;
  // Read-write so that SQLite can replay the WAL the killed writer left behind.
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    error = db ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return ids;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT request FROM calls ORDER BY id", -1, &stmt, nullptr) != SQLITE_OK) {
    error = sqlite3_errmsg(db);
    sqlite3_close(db);
    return ids;
  }
  const std::regex tag(R"(call (\d+)-(\d+):)");
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    std::string request = text ? text : "";
    std::smatch m;
    if (std::regex_search(request, m, tag)) {
      ids.push_back({std::stoi(m[1].str()), std::stoi(m[2].str())});
    } else {
      ids.push_back({-1, -1});  // a row no client sent (or whose tag was scrubbed)
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return ids;
}

TEST(GatewayKill, CompletedCallsOlderThanHalfASecondSurviveKill9) {
  const std::string dir = test::temp_path("gateway-kill");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string db_path = dir + "/calls.db";
  const std::string config_path = dir + "/gateway.yaml";
  test::write_file(config_path,
                   "listen: {host: 127.0.0.1}\n"
                   "log: {path: " + db_path + ", scrub: true}\n"
                   "models:\n"
                   "  arith: {local: builtin, parallel: 4, queue: 64, threads: 1}\n"
                   "routes:\n"
                   "  - {name: main, target: arith}\n"
                   "default_route: main\n");
  test::ServerProcess gateway({"--config", config_path, "--log-format", "off"}, 0, "gateway");

  std::atomic<bool> stop{false}, killed{false};
  std::vector<ClientLog> logs(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client(gateway.url());
      client.set_connection_timeout(2, 0);
      client.set_read_timeout(10, 0);
      ClientLog& log = logs[static_cast<size_t>(c)];
      for (int seq = 0; !stop.load(); ++seq) {
        const std::string body =
            R"({"model":"arith","max_tokens":6,"temperature":0,"messages":[{"role":"user","content":"call )" +
            std::to_string(c) + "-" + std::to_string(seq) + ": What is " + std::to_string(seq % 50) + " + " +
            std::to_string(c + 3) + R"(?"}]})";
        const bool before_kill = !killed.load();
        auto res = client.Post("/v1/chat/completions", body, "application/json");
        if (res && res->status == 200) {
          log.completed.push_back({{c, seq}, Clock::now()});
          continue;
        }
        log.failed.push_back({c, seq});
        if (killed.load()) break;  // the gateway is gone: this client is done
        if (before_kill && log.unexpected++ == 0) {
          log.first_unexpected = res ? "HTTP " + std::to_string(res->status) + ": " + res->body
                                     : "transport error: " + httplib::to_string(res.error());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }

  std::this_thread::sleep_for(kLoadTime);
  const Clock::time_point kill_time = Clock::now();
  killed = true;
  gateway.signal(SIGKILL);
  const int code = gateway.wait_exit(10000);
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(code, 128 + SIGKILL);

  // What the clients saw.
  std::map<CallId, Clock::time_point> completed;
  std::set<CallId> sent;
  int unexpected = 0;
  std::string first_unexpected;
  for (const ClientLog& log : logs) {
    for (const auto& [id, at] : log.completed) {
      completed[id] = at;
      sent.insert(id);
    }
    for (const CallId& id : log.failed) sent.insert(id);
    unexpected += log.unexpected;
    if (first_unexpected.empty()) first_unexpected = log.first_unexpected;
  }
  EXPECT_EQ(unexpected, 0) << "calls failed before the kill; first: " << first_unexpected;
  ASSERT_GT(completed.size(), 100u) << "too little load to say anything";
  const size_t in_flight = sent.size() - completed.size();

  // What the log kept.
  std::string error;
  const std::vector<CallId> rows = logged_calls(db_path, error);
  ASSERT_TRUE(error.empty()) << db_path << ": " << error;
  std::set<CallId> logged;
  int unknown = 0, duplicates = 0;
  for (const CallId& id : rows) {
    if (!sent.count(id)) ++unknown;
    if (!logged.insert(id).second) ++duplicates;
  }
  EXPECT_EQ(unknown, 0) << "rows for calls no client sent";
  EXPECT_EQ(duplicates, 0);
  EXPECT_LE(rows.size(), completed.size() + in_flight);

  // Completed calls missing from the log, and how long before the kill each had completed.
  const auto age = [&](Clock::time_point at) { return std::chrono::duration<double>(kill_time - at).count(); };
  size_t lost = 0, completed_before_window = 0;
  double oldest_lost_s = 0;
  for (const auto& [id, at] : completed) {
    if (age(at) > kLossWindowSeconds) ++completed_before_window;
    if (logged.count(id)) continue;
    ++lost;
    oldest_lost_s = std::max(oldest_lost_s, age(at));
  }
  EXPECT_GE(rows.size(), completed_before_window)
      << "calls completed more than " << kLossWindowSeconds << " s before the kill are missing";
  EXPECT_LE(oldest_lost_s, kLossWindowSeconds) << "a call that completed this long before the kill was lost";
  size_t in_flight_logged = 0;
  for (const CallId& id : logged) in_flight_logged += completed.count(id) ? 0 : 1;

  const double load_s = std::chrono::duration<double>(kLoadTime).count();
  std::printf("[ gateway kill -9 ] %zu calls completed in %.1f s (%.0f/s), %zu in flight at the kill; %zu rows "
              "logged (%zu of them in-flight calls); lost: %zu completed calls, the oldest completed %.0f ms "
              "before the kill\n",
              completed.size(), load_s, static_cast<double>(completed.size()) / load_s, in_flight, rows.size(),
              in_flight_logged, lost, oldest_lost_s * 1000);
  RecordProperty("completed", static_cast<int>(completed.size()));
  RecordProperty("rows", static_cast<int>(rows.size()));
  RecordProperty("lost", static_cast<int>(lost));
  RecordProperty("oldest_lost_ms", static_cast<int>(oldest_lost_s * 1000));
}

}  // namespace
}  // namespace rpu
