// Prometheus metrics for `rpu serve` (GET /metrics, text exposition format 0.0.4).
//
// MetricsRegistry is a small thread-safe registry of counter, gauge and histogram families
// with label sets. Updating a metric is a few atomic operations, so the scheduler and many
// HTTP threads can update without a lock; looking a labelled child up takes the family's
// mutex, so hot paths keep the reference returned by with() (it stays valid for the
// registry's life). ServerMetrics owns the server's own series and the calls it makes.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rpu {

// Only ever goes up (Prometheus treats a decrease as a process restart).
class Counter {
 public:
  void inc(double amount = 1);  // amount must be >= 0
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into buckets given by their upper bounds (ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;  // not cumulative; last is +Inf
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds for request-scale latencies (5 ms .. 2 min).
std::vector<double> latency_buckets_seconds();

class MetricFamilyBase {
 public:
  virtual ~MetricFamilyBase() = default;
  virtual void render(std::string& out) const = 0;
};

// All series of one metric name, one child per distinct tuple of label values.
template <typename Metric>
class MetricFamily : public MetricFamilyBase {
 public:
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
               std::function<std::unique_ptr<Metric>()> make);
  // The child for these label values (same order as the label names), created on first use.
  Metric& with(const std::vector<std::string>& label_values);
  void render(std::string& out) const override;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<Metric>()> make_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;  // sorted: stable output
};

extern template class MetricFamily<Counter>;
extern template class MetricFamily<Gauge>;
extern template class MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  // Each name may be registered once; names and label names must be valid Prometheus
  // identifiers (rpu::Error otherwise). Families render in registration order.
  MetricFamily<Counter>& counter(std::string name, std::string help,
                                 std::vector<std::string> label_names = {});
  MetricFamily<Gauge>& gauge(std::string name, std::string help,
                             std::vector<std::string> label_names = {});
  MetricFamily<Histogram>& histogram(std::string name, std::string help, std::vector<double> upper_bounds,
                                     std::vector<std::string> label_names = {});
  // An unlabelled gauge whose value is computed when rendered (e.g. a rate over a window).
  void gauge_function(std::string name, std::string help, std::function<double()> read);

  std::string render() const;

 private:
  void check_new_name(const std::string& name) const;

  mutable std::mutex mutex_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<MetricFamilyBase>> families_;
};

// Formats a sample value the way Prometheus parses it: shortest round-trip decimal,
// "+Inf", "-Inf", "NaN".
std::string format_metric_value(double value);

// Events per second over a sliding window, in O(window) memory: one counter per whole
// second in a ring, each tagged with the second it counts so stale slots are recognised.
// Times are seconds since the meter's start (>= 0), supplied by the caller.
class RateMeter {
 public:
  static constexpr int kWindowSeconds = 10;

  void add(uint64_t n, double now);
  // Events in the seconds (floor(now) - window, floor(now)] divided by the time they span,
  // which is shorter than the window right after start.
  double rate(double now) const;

 private:
  // Upper 32 bits: the second counted (+1, so 0 means never used); lower 32: its count.
  std::array<std::atomic<uint64_t>, kWindowSeconds> slots_{};
};

// The series `rpu serve` exports, and the hooks its HTTP layer and scheduler call.
class ServerMetrics {
 public:
  // Seconds on a monotonic clock; injectable so tests control the token-rate window.
  using Clock = std::function<double()>;
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  explicit ServerMetrics(Clock clock = {});

  // One finished HTTP request: endpoint is a short name ("chat", "completions", ...).
  void on_request_done(std::string_view endpoint, int status, double latency_seconds);
  void on_prompt(int64_t prompt_tokens, int64_t cached_tokens);
  // A finished choice's speculative guesses: made and kept.
  void on_speculation(int64_t drafted_tokens, int64_t accepted_tokens);
  void on_generated(int64_t n_tokens);
  void on_first_token(double latency_seconds);
  void set_queue_depth(int64_t n);
  void set_active_sequences(int64_t n);
  // KV cache bytes holding rows (shared prefix pages once) and as if no page were shared.
  void set_kv_cache_bytes(int64_t in_use, int64_t unshared);

  std::string render() const;

 private:
  double now() const;

  Clock clock_;
  double start_;
  RateMeter generation_rate_;
  MetricsRegistry registry_;
  MetricFamily<Counter>& requests_;
  MetricFamily<Histogram>& request_latency_;
  Counter& prompt_tokens_;
  Counter& generated_tokens_;
  Counter& drafted_tokens_;
  Counter& accepted_tokens_;
  Counter& cached_prompt_tokens_;
  Gauge& queue_depth_;
  Gauge& active_sequences_;
  Gauge& kv_cache_bytes_;
  Gauge& kv_cache_unshared_bytes_;
  Histogram& time_to_first_token_;
};

}  // namespace rpu
