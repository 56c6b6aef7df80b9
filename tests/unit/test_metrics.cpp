// Prometheus metrics: the rendered text is parsed back by a strict parser of the text
// exposition format 0.0.4 written here (independent of the renderer), and the values are
// checked against hand-computed ones: cumulative buckets, escaping, float spellings, exact
// totals under concurrent updates, and the sliding token-rate window.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "pipeline/metrics_text.h"
#include "server/metrics.h"

namespace rpu {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;
  std::map<std::string, std::string> type;
  std::vector<Sample> samples;
};

double parse_value(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  EXPECT_TRUE(!text.empty() && *end == '\0') << "bad value '" << text << "'";
  EXPECT_FALSE(std::isnan(value) || std::isinf(value)) << "non-canonical spelling '" << text << "'";
  return value;
}

bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

std::string read_name(const std::string& line, size_t& pos) {
  const size_t start = pos;
  while (pos < line.size() && is_name_char(line[pos], pos == start)) ++pos;
  EXPECT_GT(pos, start) << "expected a name at column " << start << " of: " << line;
  return line.substr(start, pos - start);
}

// The family a sample belongs to: histograms add _bucket/_sum/_count to their name.
std::string family_of(const Exposition& exp, const std::string& sample_name) {
  if (exp.type.count(sample_name)) return sample_name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (sample_name.size() > s.size() && sample_name.ends_with(s)) {
      const std::string base = sample_name.substr(0, sample_name.size() - s.size());
      auto it = exp.type.find(base);
      if (it != exp.type.end() && it->second == "histogram") return base;
    }
  }
  return {};
}

// Strict: every line is a HELP, a TYPE or a sample; a family's HELP and TYPE come once and
// before its samples; label values use only the three escapes the format defines.
Exposition parse_exposition(const std::string& text) {
  Exposition exp;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "text must end with a newline";
  std::istringstream lines(text);
  std::string line;
  std::set<std::string> families_with_samples;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      size_t pos = 7;
      const std::string name = read_name(line, pos);
      EXPECT_TRUE(pos < line.size() && line[pos] == ' ') << line;
      const std::string rest = pos < line.size() ? line.substr(pos + 1) : "";
      EXPECT_FALSE(families_with_samples.count(name)) << "HELP/TYPE after samples: " << line;
      if (line[2] == 'H') {
        std::string help;
        for (size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '\\' && i + 1 < rest.size() && (rest[i + 1] == '\\' || rest[i + 1] == 'n')) {
            help += rest[i + 1] == 'n' ? '\n' : '\\';
            ++i;
          } else {
            help += rest[i];
          }
        }
        EXPECT_TRUE(exp.help.emplace(name, help).second) << "second HELP for " << name;
      } else {
        EXPECT_TRUE(rest == "counter" || rest == "gauge" || rest == "histogram" || rest == "summary" ||
                    rest == "untyped")
            << line;
        EXPECT_TRUE(exp.type.emplace(name, rest).second) << "second TYPE for " << name;
      }
      continue;
    }
    EXPECT_FALSE(line.empty() || line[0] == '#') << "unexpected line: '" << line << "'";
    if (line.empty() || line[0] == '#') continue;
    Sample sample;
    size_t pos = 0;
    sample.name = read_name(line, pos);
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        const std::string label = read_name(line, pos);
        EXPECT_EQ(line.substr(pos, 2), "=\"") << line;
        pos += 2;
        std::string value;
        while (pos < line.size() && line[pos] != '"') {
          if (line[pos] == '\\') {
            const char next = pos + 1 < line.size() ? line[pos + 1] : '\0';
            EXPECT_TRUE(next == '\\' || next == '"' || next == 'n') << "bad escape in " << line;
            value += next == 'n' ? '\n' : next;
            pos += 2;
          } else {
            value += line[pos++];
          }
        }
        EXPECT_LT(pos, line.size()) << "unterminated label value: " << line;
        ++pos;
        EXPECT_TRUE(sample.labels.emplace(label, value).second) << "label twice: " << line;
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      EXPECT_LT(pos, line.size()) << "unterminated label set: " << line;
      ++pos;
    }
    EXPECT_TRUE(pos < line.size() && line[pos] == ' ') << line;
    sample.value = parse_value(line.substr(pos + 1));
    const std::string family = family_of(exp, sample.name);
    EXPECT_FALSE(family.empty()) << "sample without TYPE: " << line;
    EXPECT_TRUE(exp.help.count(family)) << "sample without HELP: " << line;
    families_with_samples.insert(family);
    exp.samples.push_back(std::move(sample));
  }
  return exp;
}

// The value of the one sample with exactly this name and label set.
std::optional<double> find(const Exposition& exp, const std::string& name,
                           const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> found;
  for (const Sample& s : exp.samples) {
    if (s.name != name || s.labels != labels) continue;
    EXPECT_FALSE(found.has_value()) << "duplicate series " << name;
    found = s.value;
  }
  return found;
}

TEST(MetricsTest, RendersCountersAndGaugesExactly) {
  MetricsRegistry registry;
  auto& requests = registry.counter("http_requests_total", "Requests.", {"endpoint", "status"});
  requests.with({"chat", "200"}).inc();
  requests.with({"chat", "200"}).inc(2);
  requests.with({"chat", "500"}).inc();
  registry.gauge("queue_depth", "Waiting.").with({}).set(3);
  EXPECT_EQ(registry.render(),
            "# HELP http_requests_total Requests.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{endpoint=\"chat\",status=\"200\"} 3\n"
            "http_requests_total{endpoint=\"chat\",status=\"500\"} 1\n"
            "# HELP queue_depth Waiting.\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth 3\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndInclusive) {
  MetricsRegistry registry;
  auto& latency = registry.histogram("latency_seconds", "Latency.", {1, 2, 5}, {"endpoint"});
  // 1 and 2 sit exactly on bounds: "le" means <=, so they count in those buckets.
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 7.0}) latency.with({"chat"}).observe(v);
  latency.with({"embed"}).observe(0.25);
  const Exposition exp = parse_exposition(registry.render());
  EXPECT_EQ(exp.type.at("latency_seconds"), "histogram");
  const auto bucket = [&](const char* endpoint, const char* le) {
    return find(exp, "latency_seconds_bucket", {{"endpoint", endpoint}, {"le", le}});
  };
  EXPECT_EQ(bucket("chat", "1"), 2);
  EXPECT_EQ(bucket("chat", "2"), 4);
  EXPECT_EQ(bucket("chat", "5"), 5);
  EXPECT_EQ(bucket("chat", "+Inf"), 6);
  EXPECT_EQ(find(exp, "latency_seconds_count", {{"endpoint", "chat"}}), 6);
  EXPECT_EQ(find(exp, "latency_seconds_sum", {{"endpoint", "chat"}}), 15);
  EXPECT_EQ(bucket("embed", "1"), 1);
  EXPECT_EQ(bucket("embed", "+Inf"), 1);
  EXPECT_EQ(find(exp, "latency_seconds_sum", {{"endpoint", "embed"}}), 0.25);
  EXPECT_EQ(exp.samples.size(), 2u * (4 + 2));
}

TEST(MetricsTest, HistogramWithoutLabelsStartsAtZeroAndTakesNaNAsInf) {
  MetricsRegistry registry;
  auto& h = registry.histogram("h", "H.", {0.1, 0.2});
  Exposition exp = parse_exposition(registry.render());
  EXPECT_EQ(find(exp, "h_bucket", {{"le", "0.1"}}), 0);
  EXPECT_EQ(find(exp, "h_count"), 0);
  h.with({}).observe(NAN);
  exp = parse_exposition(registry.render());
  EXPECT_EQ(find(exp, "h_bucket", {{"le", "0.2"}}), 0);
  EXPECT_EQ(find(exp, "h_bucket", {{"le", "+Inf"}}), 1);
  EXPECT_TRUE(std::isnan(*find(exp, "h_sum")));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  const std::string nasty = "a\\b\"c\nd}{,=";
  registry.counter("c_total", "Help with \\ and\nnewline \"quoted\".", {"path"}).with({nasty}).inc();
  const std::string text = registry.render();
  EXPECT_NE(text.find("c_total{path=\"a\\\\b\\\"c\\nd}{,=\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP c_total Help with \\\\ and\\nnewline \"quoted\".\n"), std::string::npos) << text;
  const Exposition exp = parse_exposition(text);
  EXPECT_EQ(find(exp, "c_total", {{"path", nasty}}), 1);
  EXPECT_EQ(exp.help.at("c_total"), "Help with \\ and\nnewline \"quoted\".");
  EXPECT_EQ(metric_label_value("plain"), "plain");
}

TEST(MetricsTest, FormatsFloatsAsPrometheusParsesThem) {
  EXPECT_EQ(format_metric_value(INFINITY), "+Inf");
  EXPECT_EQ(format_metric_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_metric_value(NAN), "NaN");
  EXPECT_EQ(format_metric_value(3), "3");
  EXPECT_EQ(format_metric_value(0.1), "0.1");
  EXPECT_EQ(format_metric_value(-2.5), "-2.5");
  // Shortest spelling still reads back as the same double.
  for (double v : {1e-7, 123456789.125, 1.0 / 3, 6.02e23, 5e-324}) {
    const std::string text = format_metric_value(v);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
    EXPECT_EQ(text.find_first_not_of("0123456789.e+-"), std::string::npos) << text;
  }
  MetricsRegistry registry;
  auto& g = registry.gauge("g", "G.", {"k"});
  g.with({"nan"}).set(NAN);
  g.with({"inf"}).set(INFINITY);
  const Exposition exp = parse_exposition(registry.render());
  EXPECT_TRUE(std::isnan(*find(exp, "g", {{"k", "nan"}})));
  EXPECT_EQ(find(exp, "g", {{"k", "inf"}}), INFINITY);
}

TEST(MetricsTest, RejectsInvalidDefinitionsAndUpdates) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.counter("9starts_with_digit", "x"), Error);
  EXPECT_THROW(registry.counter("has-dash", "x"), Error);
  EXPECT_THROW(registry.counter("", "x"), Error);
  EXPECT_THROW(registry.counter("ok_total", "x", {"bad:label"}), Error);
  EXPECT_THROW(registry.counter("ok_total", "x", {"__reserved"}), Error);
  EXPECT_THROW(registry.counter("ok_total", "x", {"a", "a"}), Error);
  EXPECT_THROW(registry.histogram("h", "x", {1, 2}, {"le"}), Error);
  EXPECT_THROW(registry.histogram("h", "x", {2, 1}), Error);
  EXPECT_THROW(registry.histogram("h", "x", {1, 1}), Error);
  auto& counter = registry.counter("ok_total", "x", {"a"});
  EXPECT_THROW(registry.gauge("ok_total", "again"), Error);
  EXPECT_THROW(counter.with({}), Error);
  EXPECT_THROW(counter.with({"1", "2"}), Error);
  EXPECT_THROW(counter.with({"1"}).inc(-1), Error);
  EXPECT_THROW(counter.with({"1"}).inc(NAN), Error);
  EXPECT_EQ(counter.with({"1"}).value(), 0);
  // A bound of +Inf is accepted and not rendered twice.
  registry.histogram("with_inf", "x", {1, INFINITY});
  const Exposition exp = parse_exposition(registry.render());
  EXPECT_EQ(find(exp, "with_inf_bucket", {{"le", "+Inf"}}), 0);
}

TEST(MetricsTest, ConcurrentUpdatesGiveExactTotals) {
  MetricsRegistry registry;
  auto& requests = registry.counter("requests_total", "R.", {"status"});
  auto& sizes = registry.histogram("sizes", "S.", {10, 100});
  auto& gauge = registry.gauge("level", "L.").with({});
  constexpr int kThreads = 8, kIterations = 20000;
  std::vector<std::thread> threads;
  std::atomic<bool> stop_rendering{false};
  // A reader renders throughout; the +Inf bucket must always equal _count.
  std::thread reader([&] {
    while (!stop_rendering.load()) {
      const Exposition exp = parse_exposition(registry.render());
      ASSERT_EQ(find(exp, "sizes_bucket", {{"le", "+Inf"}}), find(exp, "sizes_count"));
    }
  });
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& cached = requests.with({"200"});
      for (int i = 0; i < kIterations; ++i) {
        cached.inc();
        requests.with({t % 2 ? "500" : "404"}).inc(0.5);  // looked up every time
        sizes.with({}).observe(i % 3 == 0 ? 5 : 50);
        gauge.add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  stop_rendering = true;
  reader.join();
  const Exposition exp = parse_exposition(registry.render());
  EXPECT_EQ(find(exp, "requests_total", {{"status", "200"}}), kThreads * kIterations);
  EXPECT_EQ(find(exp, "requests_total", {{"status", "404"}}), kThreads / 2 * kIterations * 0.5);
  EXPECT_EQ(find(exp, "requests_total", {{"status", "500"}}), kThreads / 2 * kIterations * 0.5);
  EXPECT_EQ(find(exp, "level"), kThreads * kIterations);
  const double small_per_thread = (kIterations + 2) / 3;  // i % 3 == 0 for i in [0, kIterations)
  EXPECT_EQ(find(exp, "sizes_bucket", {{"le", "10"}}), kThreads * small_per_thread);
  EXPECT_EQ(find(exp, "sizes_bucket", {{"le", "100"}}), kThreads * kIterations);
  EXPECT_EQ(find(exp, "sizes_sum"),
            kThreads * (small_per_thread * 5 + (kIterations - small_per_thread) * 50));
}

TEST(MetricsTest, RateMeterCountsTheLastTenSeconds) {
  RateMeter meter;
  EXPECT_EQ(meter.rate(0), 0);
  meter.add(50, 0.5);
  // Right after start the span is the time since start, not the full window.
  EXPECT_DOUBLE_EQ(meter.rate(2.0), 50 / 2.0);
  meter.add(100, 5.2);
  meter.add(30, 10.1);
  // At 10.5 the window holds whole seconds 1..10 (second 0 has left): 130 tokens over 9.5 s.
  EXPECT_DOUBLE_EQ(meter.rate(10.5), 130 / 9.5);
  // Second 11 reuses second 1's slot; 5.2's tokens are still in the window (seconds 2..11).
  meter.add(5, 11.2);
  meter.add(5, 11.7);
  EXPECT_DOUBLE_EQ(meter.rate(11.75), (100 + 30 + 10) / 9.75);
  // A slot left stale from second 5 is not counted once the window has moved past it.
  EXPECT_DOUBLE_EQ(meter.rate(15.5), (30 + 10) / 9.5);
  EXPECT_EQ(meter.rate(40), 0);
  // Second 25 lands in second 5's slot and replaces its count instead of adding to it.
  meter.add(7, 25.0);
  EXPECT_DOUBLE_EQ(meter.rate(25.5), 7 / 9.5);
}

TEST(MetricsTest, ServerMetricsExportsAllSeries) {
  double clock = 1000.0;
  ServerMetrics metrics([&] { return clock; });
  metrics.on_request_done("chat", 200, 0.3);
  metrics.on_request_done("chat", 200, 1.5);
  metrics.on_request_done("completions", 400, 0.002);
  metrics.on_prompt(120, 100);
  metrics.on_prompt(30, 0);
  metrics.on_speculation(40, 25);
  metrics.on_speculation(8, 2);
  metrics.set_queue_depth(4);
  metrics.set_active_sequences(16);
  metrics.set_kv_cache_bytes(1000, 9000);
  metrics.on_first_token(0.07);
  clock = 1001.25;
  metrics.on_generated(10);
  clock = 1003.5;
  metrics.on_generated(20);
  clock = 1004.0;
  const Exposition exp = parse_exposition(metrics.render());

  const std::map<std::string, std::string> types = {
      {"rpu_requests_total", "counter"},
      {"rpu_prompt_tokens_total", "counter"},
      {"rpu_generated_tokens_total", "counter"},
      {"rpu_cached_prompt_tokens_total", "counter"},
      {"rpu_draft_tokens_total", "counter"},
      {"rpu_draft_tokens_accepted_total", "counter"},
      {"rpu_queue_depth", "gauge"},
      {"rpu_active_sequences", "gauge"},
      {"rpu_kv_cache_bytes", "gauge"},
      {"rpu_kv_cache_unshared_bytes", "gauge"},
      {"rpu_generation_tokens_per_second", "gauge"},
      {"rpu_request_latency_seconds", "histogram"},
      {"rpu_time_to_first_token_seconds", "histogram"},
  };
  EXPECT_EQ(exp.type, types);
  EXPECT_EQ(find(exp, "rpu_requests_total", {{"endpoint", "chat"}, {"status", "200"}}), 2);
  EXPECT_EQ(find(exp, "rpu_requests_total", {{"endpoint", "completions"}, {"status", "400"}}), 1);
  EXPECT_EQ(find(exp, "rpu_prompt_tokens_total"), 150);
  EXPECT_EQ(find(exp, "rpu_cached_prompt_tokens_total"), 100);
  EXPECT_EQ(find(exp, "rpu_generated_tokens_total"), 30);
  EXPECT_EQ(find(exp, "rpu_draft_tokens_total"), 48);
  EXPECT_EQ(find(exp, "rpu_draft_tokens_accepted_total"), 27);
  EXPECT_EQ(find(exp, "rpu_queue_depth"), 4);
  EXPECT_EQ(find(exp, "rpu_active_sequences"), 16);
  EXPECT_EQ(find(exp, "rpu_kv_cache_bytes"), 1000);
  EXPECT_EQ(find(exp, "rpu_kv_cache_unshared_bytes"), 9000);
  // 30 tokens, 4 s after the metrics were created.
  EXPECT_DOUBLE_EQ(*find(exp, "rpu_generation_tokens_per_second"), 30 / 4.0);
  EXPECT_EQ(find(exp, "rpu_request_latency_seconds_bucket", {{"endpoint", "chat"}, {"le", "0.25"}}), 0);
  EXPECT_EQ(find(exp, "rpu_request_latency_seconds_bucket", {{"endpoint", "chat"}, {"le", "0.5"}}), 1);
  EXPECT_EQ(find(exp, "rpu_request_latency_seconds_bucket", {{"endpoint", "chat"}, {"le", "2.5"}}), 2);
  EXPECT_EQ(find(exp, "rpu_request_latency_seconds_count", {{"endpoint", "completions"}}), 1);
  EXPECT_EQ(find(exp, "rpu_request_latency_seconds_bucket", {{"endpoint", "completions"}, {"le", "0.005"}}), 1);
  EXPECT_EQ(find(exp, "rpu_time_to_first_token_seconds_bucket", {{"le", "0.05"}}), 0);
  EXPECT_EQ(find(exp, "rpu_time_to_first_token_seconds_bucket", {{"le", "0.1"}}), 1);
  EXPECT_DOUBLE_EQ(*find(exp, "rpu_time_to_first_token_seconds_sum"), 0.07);

  metrics.set_queue_depth(0);
  clock = 1020.0;  // nothing generated in the last 10 s
  const Exposition later = parse_exposition(metrics.render());
  EXPECT_EQ(find(later, "rpu_queue_depth"), 0);
  EXPECT_EQ(find(later, "rpu_generation_tokens_per_second"), 0);
  EXPECT_EQ(find(later, "rpu_generated_tokens_total"), 30);
  EXPECT_STREQ(ServerMetrics::kContentType, "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace
}  // namespace rpu
