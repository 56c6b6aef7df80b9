#include "convert/shadow_check.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "convert/metric.h"
#include "convert/split.h"

namespace rpu::convert {

double wilson_upper_bound(double p, int n, double z) {
  if (n <= 0) return 1;
  const double nn = n, z2 = z * z;
  const double centre = p + z2 / (2 * nn);
  const double spread = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  return std::min(1.0, (centre + spread) / (1 + z2 / nn));
}

std::vector<ShadowScore> shadow_scores(const std::vector<LoggedCall>& rows, const std::vector<std::string>& routes,
                                       const ShadowCheckOptions& o) {
  const std::set<std::string> wanted(routes.begin(), routes.end());
  auto in_scope = [&](const LoggedCall& c) {
    return c.time_ms >= o.since_ms && (wanted.empty() || wanted.count(c.route) > 0);
  };
  // (route, request) -> the primary rows with that request.
  std::map<std::pair<std::string, std::string>, std::vector<const LoggedCall*>> primaries;
  for (const LoggedCall& c : rows) {
    if (in_scope(c) && c.kind != "shadow") primaries[{c.route, request_key(c.messages, c.tools)}].push_back(&c);
  }
  std::map<std::string, ShadowScore> by_route;
  for (const std::string& r : routes) by_route[r].route = r;
  std::map<std::string, double> sums;
  for (const LoggedCall& shadow : rows) {
    if (!in_scope(shadow) || shadow.kind != "shadow") continue;
    ShadowScore& s = by_route[shadow.route];
    s.route = shadow.route;
    const auto it = primaries.find({shadow.route, request_key(shadow.messages, shadow.tools)});
    if (it == primaries.end()) {
      ++s.unmatched;
      continue;
    }
    const LoggedCall* nearest = it->second.front();
    for (const LoggedCall* p : it->second) {
      if (std::llabs(p->time_ms - shadow.time_ms) < std::llabs(nearest->time_ms - shadow.time_ms)) nearest = p;
    }
    // Right or wrong, as S6 calibrated the route (a JSON answer with one field of five wrong is wrong).
    sums[shadow.route] += score_answer(metric_for_answer(shadow.answer), shadow.answer, nearest->answer).correct ? 1 : 0;
    ++s.pairs;
  }
  std::vector<ShadowScore> out;
  for (auto& [route, s] : by_route) {
    s.mean_score = s.pairs > 0 ? sums[route] / s.pairs : 0;
    s.upper_bound = wilson_upper_bound(s.mean_score, s.pairs);
    s.below_target = s.pairs >= o.min_pairs && s.upper_bound < o.target;
    out.push_back(s);
  }
  return out;
}

}  // namespace rpu::convert
