// Usage-log throughput (issue 12 goal: >= 5,000 rows/s on SQLite): records of a realistic size
// (a system prompt, a question, an answer: ~1.2 KB) submitted as fast as possible, then
// flushed; rows/s = rows written / wall time including the final flush. Two stores:
// - sqlite: a file in /tmp;
// - postgres: the database in RPU_BENCH_POSTGRES (a postgres:// URI; rows are appended to its
//   `calls` table), or else a throwaway PostgreSQL 15 started here with its default durability
//   settings (tests/support/postgres_server.h), one fresh database per run.
//   build/bench/bench_usage_log [--benchmark_min_time=2] [--benchmark_filter=postgres]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "gateway/usage_log.h"
#include "postgres_server.h"

namespace {

rpu::gateway::UsageRecord sample_record() {
  rpu::gateway::UsageRecord r;
  r.client_key_id = "k1";
  r.route = "arith";
  r.model = "rpu-arith";
  r.request_json = R"({"messages":[{"role":"system","content":")" + std::string(800, 'x') +
                   R"("},{"role":"user","content":"Sam has 12 apples and buys 7 more. How many now?"}]})";
  r.response_json = R"({"role":"assistant","content":"12 + 7 = 19. The answer is 19."})";
  return r;
}

void measure(benchmark::State& state, const std::string& location) {
  rpu::gateway::UsageLog log({.path = location});
  rpu::gateway::UsageRecord r = sample_record();
  int64_t rows = 0;
  for (auto _ : state) {
    for (int i = 0; i < 10000; ++i) {
      r.time_ms = i;
      log.submit(r);
    }
    log.flush();
    rows += 10000;
  }
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
  state.counters["dropped"] = static_cast<double>(log.stats().dropped);
  state.counters["write_errors"] = static_cast<double>(log.stats().write_errors);
}

void BM_UsageLogSqlite(benchmark::State& state) {
  const std::string path = "/tmp/rpu-bench-usage-log.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  measure(state, path);
}
BENCHMARK(BM_UsageLogSqlite)->Name("BM_UsageLogRows/sqlite")->Unit(benchmark::kMillisecond)->UseRealTime();

// The URI to write to, or "" (with the reason in `why`) when there is no server to use.
std::string postgres_location(std::string& why) {
  if (const char* uri = std::getenv("RPU_BENCH_POSTGRES")) return uri;
  static std::unique_ptr<rpu::test::PostgresServer> server;  // started once, stopped at exit
  static int runs = 0;
  if (!server) {
    if (!rpu::test::PostgresServer::installed()) {
      why = "postgresql-15 is not installed; set RPU_BENCH_POSTGRES=postgres://... to use a server";
      return "";
    }
    try {
      server = std::make_unique<rpu::test::PostgresServer>();
    } catch (const std::exception& e) {
      why = e.what();
      return "";
    }
  }
  const std::string database = "bench" + std::to_string(++runs);
  server->create_database(database);
  return server->uri(database);
}

void BM_UsageLogPostgres(benchmark::State& state) {
  std::string why;
  const std::string location = postgres_location(why);
  if (location.empty()) {
    state.SkipWithError(why.c_str());
    for (auto _ : state) {
    }
    return;
  }
  measure(state, location);
}
BENCHMARK(BM_UsageLogPostgres)->Name("BM_UsageLogRows/postgres")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
