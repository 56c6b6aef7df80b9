// The gateway's counters for /metrics, by route, client key and upstream (the upstreams'
// own retry and circuit counters come from their backends). Label values are config names
// and key ids, so the number of series is bounded by the config.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace rpu::gateway {

class GatewayMetrics {
 public:
  // outcome: "ok" or "error"; answered_by: the target that answered.
  void on_call(const std::string& route, const std::string& key, const std::string& answered_by, bool ok,
               int64_t prompt_tokens, int64_t completion_tokens, double seconds);
  void on_escalation(const std::string& route, const std::string& reason);
  void on_fallback(const std::string& route);
  void on_classified(const std::string& route);  // the task classifier chose the route
  void on_shadow(const std::string& route, const std::string& outcome);  // "sent", "skipped", "error"
  void on_rate_limited(const std::string& key);
  void on_reload(bool ok);  // a routes-file reload: applied, or failed (the old table stays)
  // Prometheus text exposition lines (no trailing blank line).
  std::string render() const;

 private:
  struct CallCounters {
    uint64_t calls = 0, errors = 0;
    int64_t prompt_tokens = 0, completion_tokens = 0;
    double seconds = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, std::string>, CallCounters> calls_;  // route, key, answered_by
  std::map<std::pair<std::string, std::string>, uint64_t> escalations_, shadows_;
  std::map<std::string, uint64_t> fallbacks_, rate_limited_, classified_;
  uint64_t reloads_ok_ = 0, reloads_error_ = 0;
};

}  // namespace rpu::gateway
