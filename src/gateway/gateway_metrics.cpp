#include "gateway/gateway_metrics.h"

#include <fmt/format.h>

#include "pipeline/metrics_text.h"

namespace rpu::gateway {

void GatewayMetrics::on_call(const std::string& route, const std::string& key, const std::string& answered_by, bool ok,
                             int64_t prompt_tokens, int64_t completion_tokens, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  CallCounters& c = calls_[{route, key, answered_by}];
  ++c.calls;
  if (!ok) ++c.errors;
  c.prompt_tokens += prompt_tokens;
  c.completion_tokens += completion_tokens;
  c.seconds += seconds;
}

void GatewayMetrics::on_escalation(const std::string& route, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++escalations_[{route, reason}];
}

void GatewayMetrics::on_fallback(const std::string& route) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++fallbacks_[route];
}

void GatewayMetrics::on_classified(const std::string& route) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++classified_[route];
}

void GatewayMetrics::on_shadow(const std::string& route, const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++shadows_[{route, outcome}];
}

void GatewayMetrics::on_rate_limited(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++rate_limited_[key];
}

void GatewayMetrics::on_reload(bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++(ok ? reloads_ok_ : reloads_error_);
}

namespace {

using Samples = std::vector<std::pair<std::string, long long>>;

std::string label(const char* name, const std::string& value) {
  return std::string(name) + "=\"" + metric_label_value(value) + "\"";
}

Samples by_one(const std::map<std::string, uint64_t>& counts, const char* name) {
  Samples out;
  for (const auto& [value, n] : counts) out.push_back({label(name, value), static_cast<long long>(n)});
  return out;
}

Samples by_two(const std::map<std::pair<std::string, std::string>, uint64_t>& counts, const char* first,
               const char* second) {
  Samples out;
  for (const auto& [k, n] : counts) out.push_back({label(first, k.first) + "," + label(second, k.second), static_cast<long long>(n)});
  return out;
}

}  // namespace

std::string GatewayMetrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  // Per (route, key, answering target): calls, errors, tokens by kind, and seconds (a float).
  Samples calls, errors, tokens;
  std::string seconds = "# HELP rpu_gateway_call_seconds_total Wall time of the calls.\n"
                        "# TYPE rpu_gateway_call_seconds_total counter\n";
  for (const auto& [k, c] : calls_) {
    const std::string labels = label("route", std::get<0>(k)) + "," + label("key", std::get<1>(k)) + "," +
                               label("answered_by", std::get<2>(k));
    calls.push_back({labels, static_cast<long long>(c.calls)});
    errors.push_back({labels, static_cast<long long>(c.errors)});
    tokens.push_back({labels + ",kind=\"prompt\"", c.prompt_tokens});
    tokens.push_back({labels + ",kind=\"completion\"", c.completion_tokens});
    seconds += fmt::format("rpu_gateway_call_seconds_total{{{}}} {:.6f}\n", labels, c.seconds);
  }
  append_metric_family(out, "rpu_gateway_calls_total",
                       "Calls the gateway answered, by route, client key and answering target.", "counter", calls);
  append_metric_family(out, "rpu_gateway_call_errors_total", "Calls that ended in an error.", "counter", errors);
  append_metric_family(out, "rpu_gateway_tokens_total", "Tokens by route, client key, answering target and kind.",
                       "counter", tokens);
  out += seconds;
  append_metric_family(out, "rpu_gateway_escalations_total", "Calls the small model passed to the upstream, by reason.",
                       "counter", by_two(escalations_, "route", "reason"));
  append_metric_family(out, "rpu_gateway_fallbacks_total",
                       "Calls answered by the route's fallback because its target failed.", "counter",
                       by_one(fallbacks_, "route"));
  append_metric_family(out, "rpu_gateway_classified_total", "Calls the conversion loop's task classifier sent to the route.",
                       "counter", by_one(classified_, "route"));
  append_metric_family(out, "rpu_gateway_shadow_calls_total", "Shadow calls, by outcome.", "counter",
                       by_two(shadows_, "route", "outcome"));
  append_metric_family(out, "rpu_gateway_rate_limited_total", "Requests refused by a client key's rate limit.", "counter",
                       by_one(rate_limited_, "key"));
  append_metric_family(out, "rpu_gateway_reloads_total",
                       "Reloads of the routes file: applied, or failed (the previous routes stayed).", "counter",
                       {{"outcome=\"ok\"", static_cast<long long>(reloads_ok_)},
                        {"outcome=\"error\"", static_cast<long long>(reloads_error_)}});
  return out;
}

}  // namespace rpu::gateway
