// Client-side latency of chat calls at a fixed open-loop rate, against several OpenAI-compatible
// endpoints in turn (bench/gateway_latency.sh: rpu serve directly, and rpu gateway in front of
// it). Rounds alternate the targets (A B A B ...), each for --segment seconds at --rate calls/s,
// so slow drift of the machine (other processes, CPU frequency) falls on every target alike.
//
//   build/bench/gateway_latency --target direct=http://127.0.0.1:8080 --target gateway=http://127.0.0.1:8090
//       [--rate 100] [--segment 5] [--rounds 5] [--max-tokens 1] [--model M] [--workers 8] [--warmup 50]
//       [--raw FILE]   (every call: target, round, ms)
//
// A target may end in ",stream" (the call is streamed; the latency is to the end of the stream)
// and ",new" (a new connection per call, as the gateway opens upstream): for breaking down
// where the gateway's time goes.
//
// Open loop: call i is due at start + i/rate whatever happened to the calls before it. Worker w
// sends calls w, w+W, w+2W, ... over its own kept-alive connection to the target, so a call is
// only late when the worker's previous call (W/rate seconds earlier) has not finished. Latency =
// end of the response - the time the call was due. Every call is the same non-streamed chat
// request (temperature 0, --max-tokens). Prints a markdown table: per target p50 / p90 / p99 /
// mean and the differences to the first target, and the p50 of every round (the drift).
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string name, url;
  bool stream = false, new_connections = false;
  std::vector<double> latencies_ms;           // every successful call
  std::vector<std::vector<double>> rounds;    // per round
  int errors = 0;
  std::string first_error;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "%s\nusage: gateway_latency --target NAME=URL [--target NAME=URL ...] [--rate 100] [--segment 5] "
               "[--rounds 5] [--max-tokens 1] [--model M] [--workers 8] [--warmup 50]\n",
               message);
  std::exit(2);
}

// Runs one segment against `target`: `count` calls due every 1/rate s from now.
void run_segment(Target& target, const std::string& plain_body, double rate, int count, int workers,
                 std::vector<double>& out) {
  std::vector<std::vector<double>> per_worker(static_cast<size_t>(workers));
  std::vector<int> errors(static_cast<size_t>(workers), 0);
  std::vector<std::string> first_error(static_cast<size_t>(workers));
  std::string body = plain_body;
  if (target.stream) body.insert(1, R"("stream":true,)");
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(20);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      httplib::Client client(target.url);
      client.set_keep_alive(!target.new_connections);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30, 0);
      for (int i = w; i < count; i += workers) {
        const Clock::time_point due =
            start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / rate));
        std::this_thread::sleep_until(due);
        auto res = client.Post("/v1/chat/completions", body, "application/json");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
        if (res && res->status == 200) {
          per_worker[static_cast<size_t>(w)].push_back(ms);
        } else if (errors[static_cast<size_t>(w)]++ == 0) {
          first_error[static_cast<size_t>(w)] =
              res ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
                  : "transport: " + httplib::to_string(res.error());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < workers; ++w) {
    out.insert(out.end(), per_worker[static_cast<size_t>(w)].begin(), per_worker[static_cast<size_t>(w)].end());
    target.errors += errors[static_cast<size_t>(w)];
    if (target.first_error.empty()) target.first_error = first_error[static_cast<size_t>(w)];
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Target> targets;
  double rate = 100, segment_s = 5;
  int rounds = 5, max_tokens = 1, workers = 8, warmup = 50;
  std::string model = "rpu";
  std::string raw_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--target") {
      const std::string v = value();
      const size_t eq = v.find('=');
      if (eq == std::string::npos) usage("--target wants NAME=URL");
      Target t;
      t.name = v.substr(0, eq);
      t.url = v.substr(eq + 1);
      for (size_t comma; (comma = t.url.rfind(',')) != std::string::npos;) {
        const std::string option = t.url.substr(comma + 1);
        if (option == "stream") {
          t.stream = true;
        } else if (option == "new") {
          t.new_connections = true;
        } else {
          usage(("unknown target option " + option).c_str());
        }
        t.url.erase(comma);
      }
      targets.push_back(std::move(t));
    } else if (a == "--rate") {
      rate = std::stod(value());
    } else if (a == "--segment") {
      segment_s = std::stod(value());
    } else if (a == "--rounds") {
      rounds = std::stoi(value());
    } else if (a == "--max-tokens") {
      max_tokens = std::stoi(value());
    } else if (a == "--model") {
      model = value();
    } else if (a == "--workers") {
      workers = std::stoi(value());
    } else if (a == "--raw") {
      raw_path = value();
    } else if (a == "--warmup") {
      warmup = std::stoi(value());
    } else {
      usage(("unknown argument " + a).c_str());
    }
  }
  if (targets.empty()) usage("no --target");
  const std::string body = R"({"model":")" + model + R"(","max_tokens":)" + std::to_string(max_tokens) +
                           R"(,"temperature":0,"messages":[{"role":"system","content":"You solve arithmetic word problems."},)"
                           R"({"role":"user","content":"Sam has 12 apples and buys 7 more. How many apples does Sam have now?"}]})";
  const int per_segment = static_cast<int>(std::lround(rate * segment_s));

  // Warm-up (connections, first touches), not measured.
  for (Target& t : targets) {
    std::vector<double> ignored;
    run_segment(t, body, rate, warmup, workers, ignored);
    t.errors = 0;
    t.first_error.clear();
  }
  for (int r = 0; r < rounds; ++r) {
    for (Target& t : targets) {
      t.rounds.emplace_back();
      run_segment(t, body, rate, per_segment, workers, t.rounds.back());
      t.latencies_ms.insert(t.latencies_ms.end(), t.rounds.back().begin(), t.rounds.back().end());
      std::fprintf(stderr, "round %d/%d %-10s p50 %.3f ms p99 %.3f ms\n", r + 1, rounds, t.name.c_str(),
                   percentile(t.rounds.back(), 50), percentile(t.rounds.back(), 99));
    }
  }

  std::printf("%d rounds x %zu targets, %.1f s each at %.0f calls/s (open loop, %d workers, kept-alive "
              "connections unless \",new\"), max_tokens %d\n\n",
              rounds, targets.size(), segment_s, rate, workers, max_tokens);
  std::printf("| target | calls | errors | p50 ms | p90 ms | p99 ms | mean ms |\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (const Target& t : targets) {
    std::printf("| %s | %zu | %d | %.3f | %.3f | %.3f | %.3f |\n", t.name.c_str(), t.latencies_ms.size(), t.errors,
                percentile(t.latencies_ms, 50), percentile(t.latencies_ms, 90), percentile(t.latencies_ms, 99),
                mean(t.latencies_ms));
  }
  const Target& base = targets.front();
  std::string drift;
  for (size_t k = 1; k < targets.size(); ++k) {
    const Target& t = targets[k];
    // Per round: the difference of the p50s of the two segments next to each other in time.
    std::vector<double> round_diffs;
    for (size_t r = 0; r < t.rounds.size(); ++r) {
      round_diffs.push_back(percentile(t.rounds[r], 50) - percentile(base.rounds[r], 50));
    }
    std::printf("| %s - %s | | | **%+.3f** | %+.3f | **%+.3f** | %+.3f |\n", t.name.c_str(), base.name.c_str(),
                percentile(t.latencies_ms, 50) - percentile(base.latencies_ms, 50),
                percentile(t.latencies_ms, 90) - percentile(base.latencies_ms, 90),
                percentile(t.latencies_ms, 99) - percentile(base.latencies_ms, 99),
                mean(t.latencies_ms) - mean(base.latencies_ms));
    char line[128];
    std::snprintf(line, sizeof line, "\n%s - %s, p50 per round (ms):", t.name.c_str(), base.name.c_str());
    drift += line;
    for (double d : round_diffs) {
      std::snprintf(line, sizeof line, " %+.3f", d);
      drift += line;
    }
    std::snprintf(line, sizeof line, " (median %+.3f)", percentile(round_diffs, 50));
    drift += line;
  }
  std::printf("%s\n", drift.c_str());
  if (!raw_path.empty()) {
    FILE* raw = std::fopen(raw_path.c_str(), "w");
    if (raw == nullptr) usage(("cannot write " + raw_path).c_str());
    for (const Target& t : targets) {
      for (size_t r = 0; r < t.rounds.size(); ++r) {
        for (double ms : t.rounds[r]) std::fprintf(raw, "%s %zu %.4f\n", t.name.c_str(), r, ms);
      }
    }
    std::fclose(raw);
  }
  int errors = 0;
  for (const Target& t : targets) {
    if (t.errors > 0) std::fprintf(stderr, "%s: %d errors, first: %s\n", t.name.c_str(), t.errors, t.first_error.c_str());
    errors += t.errors;
  }
  return errors > 0 ? 1 : 0;
}
