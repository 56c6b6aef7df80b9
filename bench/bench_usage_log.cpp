// Usage-log throughput (issue 12 goal: >= 5,000 rows/s on SQLite): records of a realistic size
// (a system prompt, a question, an answer: ~1.2 KB) submitted as fast as possible, then
// flushed; rows/s = rows written / wall time including the final flush.
//   build/bench/bench_usage_log [--benchmark_min_time=2]
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "gateway/usage_log.h"

namespace {

void BM_UsageLogRows(benchmark::State& state) {
  const std::string path = "/tmp/rpu-bench-usage-log.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  rpu::gateway::UsageLog log({.path = path});
  rpu::gateway::UsageRecord r;
  r.client_key_id = "k1";
  r.route = "arith";
  r.model = "rpu-arith";
  r.request_json = R"({"messages":[{"role":"system","content":")" + std::string(800, 'x') +
                   R"("},{"role":"user","content":"Sam has 12 apples and buys 7 more. How many now?"}]})";
  r.response_json = R"({"role":"assistant","content":"12 + 7 = 19. The answer is 19."})";
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
}
BENCHMARK(BM_UsageLogRows)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
