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

std::string GatewayMetrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  auto header = [&](const char* name, const char* help, const char* type) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto labels = [](const std::tuple<std::string, std::string, std::string>& k) {
    return fmt::format("route=\"{}\",key=\"{}\",answered_by=\"{}\"", metric_label_value(std::get<0>(k)),
                       metric_label_value(std::get<1>(k)), metric_label_value(std::get<2>(k)));
  };
  header("rpu_gateway_calls_total", "Calls the gateway answered, by route, client key and answering target.", "counter");
  for (const auto& [k, c] : calls_) out += fmt::format("rpu_gateway_calls_total{{{}}} {}\n", labels(k), c.calls);
  header("rpu_gateway_call_errors_total", "Calls that ended in an error.", "counter");
  for (const auto& [k, c] : calls_) out += fmt::format("rpu_gateway_call_errors_total{{{}}} {}\n", labels(k), c.errors);
  header("rpu_gateway_tokens_total", "Tokens by route, client key, answering target and kind.", "counter");
  for (const auto& [k, c] : calls_) {
    out += fmt::format("rpu_gateway_tokens_total{{{},kind=\"prompt\"}} {}\n", labels(k), c.prompt_tokens);
    out += fmt::format("rpu_gateway_tokens_total{{{},kind=\"completion\"}} {}\n", labels(k), c.completion_tokens);
  }
  header("rpu_gateway_call_seconds_total", "Wall time of the calls.", "counter");
  for (const auto& [k, c] : calls_) out += fmt::format("rpu_gateway_call_seconds_total{{{}}} {:.6f}\n", labels(k), c.seconds);
  header("rpu_gateway_escalations_total", "Calls the small model passed to the upstream, by reason.", "counter");
  for (const auto& [k, n] : escalations_) {
    out += fmt::format("rpu_gateway_escalations_total{{route=\"{}\",reason=\"{}\"}} {}\n", metric_label_value(k.first),
                       metric_label_value(k.second), n);
  }
  header("rpu_gateway_fallbacks_total", "Calls answered by the route's fallback because its target failed.", "counter");
  for (const auto& [route, n] : fallbacks_) {
    out += fmt::format("rpu_gateway_fallbacks_total{{route=\"{}\"}} {}\n", metric_label_value(route), n);
  }
  header("rpu_gateway_classified_total", "Calls the conversion loop's task classifier sent to the route.", "counter");
  for (const auto& [route, n] : classified_) {
    out += fmt::format("rpu_gateway_classified_total{{route=\"{}\"}} {}\n", metric_label_value(route), n);
  }
  header("rpu_gateway_shadow_calls_total", "Shadow calls, by outcome.", "counter");
  for (const auto& [k, n] : shadows_) {
    out += fmt::format("rpu_gateway_shadow_calls_total{{route=\"{}\",outcome=\"{}\"}} {}\n", metric_label_value(k.first),
                       metric_label_value(k.second), n);
  }
  header("rpu_gateway_rate_limited_total", "Requests refused by a client key's rate limit.", "counter");
  for (const auto& [key, n] : rate_limited_) {
    out += fmt::format("rpu_gateway_rate_limited_total{{key=\"{}\"}} {}\n", metric_label_value(key), n);
  }
  header("rpu_gateway_reloads_total", "Reloads of the routes file: applied, or failed (the previous routes stayed).",
         "counter");
  out += fmt::format("rpu_gateway_reloads_total{{outcome=\"ok\"}} {}\n", reloads_ok_);
  out += fmt::format("rpu_gateway_reloads_total{{outcome=\"error\"}} {}\n", reloads_error_);
  return out;
}

}  // namespace rpu::gateway
