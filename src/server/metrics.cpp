// Prometheus registry, text rendering and the server's own series (see metrics.h).
// Format reference: the Prometheus text exposition format, version 0.0.4.
#include "server/metrics.h"

#include "pipeline/metrics_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <set>
#include <utility>

#include "core/error.h"

namespace rpu {

namespace {

bool is_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Label names may not contain ':' and names starting "__" are reserved for Prometheus.
bool is_label_name(std::string_view name) {
  return is_metric_name(name) && name.find(':') == std::string_view::npos && !name.starts_with("__");
}

void check_label_names(const std::string& metric, const std::vector<std::string>& label_names,
                       bool is_histogram) {
  std::set<std::string> seen;
  for (const std::string& label : label_names) {
    if (!is_label_name(label)) fail("metric {}: invalid label name '{}'", metric, label);
    // Histograms add their own "le" label to every bucket.
    if (is_histogram && label == "le") fail("metric {}: histograms may not use the label 'le'", metric);
    if (!seen.insert(label).second) fail("metric {}: label '{}' given twice", metric, label);
  }
}

// HELP text escapes only backslash and newline (quotes are literal there).
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void render_header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, type);
}

// {a="x",b="y"}, with an optional extra label (a histogram bucket's "le") appended last.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    fmt::format_to(std::back_inserter(out), "{}=\"{}\"", names[i], metric_label_value(values[i]));
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    fmt::format_to(std::back_inserter(out), "{}=\"{}\"", extra_name, extra_value);
  }
  out += '}';
  return out;
}

const char* type_name(const Counter*) { return "counter"; }
const char* type_name(const Gauge*) { return "gauge"; }
const char* type_name(const Histogram*) { return "histogram"; }

void render_samples(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                    const std::vector<std::string>& values, const Counter& counter) {
  fmt::format_to(std::back_inserter(out), "{}{} {}\n", name, label_set(label_names, values),
                 format_metric_value(counter.value()));
}

void render_samples(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                    const std::vector<std::string>& values, const Gauge& gauge) {
  fmt::format_to(std::back_inserter(out), "{}{} {}\n", name, label_set(label_names, values),
                 format_metric_value(gauge.value()));
}

void render_samples(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                    const std::vector<std::string>& values, const Histogram& histogram) {
  const Histogram::Snapshot snap = histogram.snapshot();
  const std::vector<double>& bounds = histogram.upper_bounds();
  for (size_t i = 0; i <= bounds.size(); ++i) {
    const std::string le = i < bounds.size() ? format_metric_value(bounds[i]) : "+Inf";
    fmt::format_to(std::back_inserter(out), "{}_bucket{} {}\n", name, label_set(label_names, values, "le", le),
                   snap.cumulative[i]);
  }
  const std::string labels = label_set(label_names, values);
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", name, labels,
                 format_metric_value(snap.sum), name, labels, snap.count);
}

class GaugeFunctionFamily : public MetricFamilyBase {
 public:
  GaugeFunctionFamily(std::string name, std::string help, std::function<double()> read)
      : name_(std::move(name)), help_(std::move(help)), read_(std::move(read)) {}
  void render(std::string& out) const override {
    render_header(out, name_, help_, "gauge");
    fmt::format_to(std::back_inserter(out), "{} {}\n", name_, format_metric_value(read_()));
  }

 private:
  std::string name_, help_;
  std::function<double()> read_;
};

}  // namespace

std::string format_metric_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);  // shortest representation that parses back exactly
}

void Counter::inc(double amount) {
  if (!(amount >= 0)) fail("a counter can only increase (got {})", amount);
  value_.fetch_add(amount, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> upper_bounds) : upper_bounds_(std::move(upper_bounds)) {
  // +Inf is always the last bucket; accept it spelled out but keep it implicit.
  if (!upper_bounds_.empty() && std::isinf(upper_bounds_.back()) && upper_bounds_.back() > 0) upper_bounds_.pop_back();
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (std::isnan(upper_bounds_[i])) fail("histogram bucket bound is NaN");
    if (i > 0 && !(upper_bounds_[i - 1] < upper_bounds_[i])) fail("histogram bucket bounds must be strictly ascending");
  }
  bucket_counts_ = std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1);
}

void Histogram::observe(double value) {
  // Bucket "le" counts values <= its bound: the first bound not below the value. NaN compares
  // false with everything, so it lands in +Inf (as in the Prometheus Go client).
  const size_t index = std::isnan(value) ? upper_bounds_.size()
                                          : static_cast<size_t>(std::lower_bound(upper_bounds_.begin(),
                                                                                 upper_bounds_.end(), value) -
                                                                upper_bounds_.begin());
  bucket_counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  // The count is the sum of the buckets read here, so "+Inf" == "_count" always holds even
  // while other threads observe (the sum may be a few observations apart; that is allowed).
  Snapshot snap;
  snap.cumulative.resize(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += bucket_counts_[i].load(std::memory_order_relaxed);
    snap.cumulative[i] = running;
  }
  snap.count = running;
  snap.sum = sum_.load(std::memory_order_relaxed);
  return snap;
}

std::vector<double> latency_buckets_seconds() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}

template <typename Metric>
MetricFamily<Metric>::MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                   std::function<std::unique_ptr<Metric>()> make)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), make_(std::move(make)) {
  // An unlabelled series exists (at zero) from the start, so dashboards never see a gap.
  if (label_names_.empty()) children_.emplace(std::vector<std::string>{}, make_());
}

template <typename Metric>
Metric& MetricFamily<Metric>::with(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size())
    fail("metric {}: {} label values for {} labels", name_, label_values.size(), label_names_.size());
  std::lock_guard lock(mutex_);
  auto it = children_.find(label_values);
  if (it == children_.end()) it = children_.emplace(label_values, make_()).first;
  return *it->second;
}

template <typename Metric>
void MetricFamily<Metric>::render(std::string& out) const {
  render_header(out, name_, help_, type_name(static_cast<const Metric*>(nullptr)));
  std::lock_guard lock(mutex_);
  for (const auto& [values, metric] : children_) render_samples(out, name_, label_names_, values, *metric);
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

void MetricsRegistry::check_new_name(const std::string& name) const {
  if (!is_metric_name(name)) fail("invalid metric name '{}'", name);
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) fail("metric {} registered twice", name);
}

MetricFamily<Counter>& MetricsRegistry::counter(std::string name, std::string help,
                                                std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  check_new_name(name);
  check_label_names(name, label_names, false);
  auto family = std::make_unique<MetricFamily<Counter>>(name, std::move(help), std::move(label_names),
                                                        [] { return std::make_unique<Counter>(); });
  auto& ref = *family;
  names_.push_back(std::move(name));
  families_.push_back(std::move(family));
  return ref;
}

MetricFamily<Gauge>& MetricsRegistry::gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  check_new_name(name);
  check_label_names(name, label_names, false);
  auto family = std::make_unique<MetricFamily<Gauge>>(name, std::move(help), std::move(label_names),
                                                      [] { return std::make_unique<Gauge>(); });
  auto& ref = *family;
  names_.push_back(std::move(name));
  families_.push_back(std::move(family));
  return ref;
}

MetricFamily<Histogram>& MetricsRegistry::histogram(std::string name, std::string help,
                                                    std::vector<double> upper_bounds,
                                                    std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  check_new_name(name);
  check_label_names(name, label_names, true);
  Histogram validate(upper_bounds);  // reject bad bounds now, not on the first labelled use
  auto family = std::make_unique<MetricFamily<Histogram>>(
      name, std::move(help), std::move(label_names),
      [bounds = std::move(upper_bounds)] { return std::make_unique<Histogram>(bounds); });
  auto& ref = *family;
  names_.push_back(std::move(name));
  families_.push_back(std::move(family));
  return ref;
}

void MetricsRegistry::gauge_function(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  check_new_name(name);
  families_.push_back(std::make_unique<GaugeFunctionFamily>(name, std::move(help), std::move(read)));
  names_.push_back(std::move(name));
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& family : families_) family->render(out);
  return out;
}

namespace {
constexpr uint64_t kCountMask = 0xffffffffu;
}

void RateMeter::add(uint64_t n, double now) {
  const uint64_t second = static_cast<uint64_t>(std::max(now, 0.0));
  const uint64_t tag = (second + 1) << 32;  // +1: a zero slot means "never used"
  std::atomic<uint64_t>& slot = slots_[second % kWindowSeconds];
  uint64_t old = slot.load(std::memory_order_relaxed);
  uint64_t updated;
  do {
    // A slot still tagged with an older second is stale: this second starts it afresh.
    const uint64_t base = (old & ~kCountMask) == tag ? (old & kCountMask) : 0;
    updated = tag | std::min(base + n, kCountMask);
  } while (!slot.compare_exchange_weak(old, updated, std::memory_order_relaxed));
}

double RateMeter::rate(double now) const {
  if (!(now > 0)) return 0;
  const double current = std::floor(now);
  const double first = current - (kWindowSeconds - 1);  // oldest whole second still counted
  uint64_t events = 0;
  for (const auto& slot : slots_) {
    const uint64_t packed = slot.load(std::memory_order_relaxed);
    const uint64_t tag = packed >> 32;
    if (tag == 0) continue;
    const double second = static_cast<double>(tag - 1);
    if (second >= first && second <= current) events += packed & kCountMask;
  }
  const double span = now - std::max(first, 0.0);
  return span > 0 ? static_cast<double>(events) / span : 0;
}

ServerMetrics::ServerMetrics(Clock clock)
    : clock_(clock ? std::move(clock)
                   : Clock([] {
                       return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
                           .count();
                     })),
      start_(clock_()),
      requests_(registry_.counter("rpu_requests_total", "HTTP requests finished, by endpoint and status code.",
                                  {"endpoint", "status"})),
      request_latency_(registry_.histogram("rpu_request_latency_seconds",
                                           "Time from receiving a request to sending its last byte.",
                                           latency_buckets_seconds(), {"endpoint"})),
      prompt_tokens_(registry_.counter("rpu_prompt_tokens_total", "Prompt tokens of admitted requests.").with({})),
      generated_tokens_(registry_.counter("rpu_generated_tokens_total", "Tokens generated.").with({})),
      drafted_tokens_(registry_
                          .counter("rpu_draft_tokens_total",
                                   "Tokens guessed by speculative decoding (prompt lookup or a draft model).")
                          .with({})),
      accepted_tokens_(registry_
                           .counter("rpu_draft_tokens_accepted_total",
                                    "Speculative guesses the model verified and kept.")
                           .with({})),
      cached_prompt_tokens_(registry_
                                .counter("rpu_cached_prompt_tokens_total",
                                         "Prompt tokens whose KV cache was reused instead of recomputed.")
                                .with({})),
      queue_depth_(registry_.gauge("rpu_queue_depth", "Requests waiting for a free sequence slot.").with({})),
      active_sequences_(registry_.gauge("rpu_active_sequences", "Sequences being decoded together.").with({})),
      kv_cache_bytes_(registry_
                          .gauge("rpu_kv_cache_bytes",
                                 "KV cache pages holding rows, in bytes; prompt prefixes shared between slots count once.")
                          .with({})),
      kv_cache_unshared_bytes_(registry_
                                   .gauge("rpu_kv_cache_unshared_bytes",
                                          "KV cache bytes the same rows would take if every slot held its own copy.")
                                   .with({})),
      time_to_first_token_(registry_
                               .histogram("rpu_time_to_first_token_seconds",
                                          "Time from receiving a request to its first generated token.",
                                          latency_buckets_seconds())
                               .with({})) {
  registry_.gauge_function(
      "rpu_generation_tokens_per_second",
      fmt::format("Generated tokens per second over the last {} s.", RateMeter::kWindowSeconds),
      [this] { return generation_rate_.rate(now()); });
}

double ServerMetrics::now() const { return std::max(clock_() - start_, 0.0); }

void ServerMetrics::on_request_done(std::string_view endpoint, int status, double latency_seconds) {
  const std::string name(endpoint);
  requests_.with({name, std::to_string(status)}).inc();
  request_latency_.with({name}).observe(latency_seconds);
}

void ServerMetrics::on_prompt(int64_t prompt_tokens, int64_t cached_tokens) {
  prompt_tokens_.inc(static_cast<double>(prompt_tokens));
  cached_prompt_tokens_.inc(static_cast<double>(cached_tokens));
}

void ServerMetrics::on_speculation(int64_t drafted_tokens, int64_t accepted_tokens) {
  drafted_tokens_.inc(static_cast<double>(drafted_tokens));
  accepted_tokens_.inc(static_cast<double>(accepted_tokens));
}

void ServerMetrics::on_generated(int64_t n_tokens) {
  generated_tokens_.inc(static_cast<double>(n_tokens));
  generation_rate_.add(static_cast<uint64_t>(n_tokens), now());
}

void ServerMetrics::on_first_token(double latency_seconds) { time_to_first_token_.observe(latency_seconds); }

void ServerMetrics::set_queue_depth(int64_t n) { queue_depth_.set(static_cast<double>(n)); }

void ServerMetrics::set_active_sequences(int64_t n) { active_sequences_.set(static_cast<double>(n)); }

void ServerMetrics::set_kv_cache_bytes(int64_t in_use, int64_t unshared) {
  kv_cache_bytes_.set(static_cast<double>(in_use));
  kv_cache_unshared_bytes_.set(static_cast<double>(unshared));
}

std::string ServerMetrics::render() const { return registry_.render(); }

}  // namespace rpu
