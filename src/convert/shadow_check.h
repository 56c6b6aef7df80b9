// S6's iteration: is a deployed specialist still as good as the teacher on live traffic?
//
// A specialist route's `shadow:` sends a share of its calls to the teacher as well, and the
// gateway logs both answers with the same (scrubbed) request: the primary row (what the client
// got: the specialist's answer, or the teacher's after escalation) and the shadow row (the
// teacher's, kind "shadow"). Pairs are matched by route and request (split.h request_key; the
// primary row nearest in time when a request repeats) and the primary answer is scored against
// the shadow's with the metric the teacher answer's shape picks (metric.h), as S4 scores a
// candidate on held-out calls. The mean is the route's delivered quality as a share of the
// teacher's, escalations included. A route with at least min_pairs pairs whose mean falls
// below the target is rolled back: removed from the routes file (routing_table.h remove_route,
// atomic), so the gateway sends its calls to the teacher again.
#pragma once

#include <string>
#include <vector>

#include "convert/logged_call.h"

namespace rpu::convert {

struct ShadowScore {
  std::string route;
  int pairs = 0;
  int unmatched = 0;       // shadow rows without a primary row for the same request
  double mean_score = 0;   // over the pairs; 0 when there are none
  bool below_target = false;
};

struct ShadowCheckOptions {
  double target = 0.95;
  int min_pairs = 20;       // fewer pairs: no verdict either way
  int64_t since_ms = 0;     // only rows from this time on (e.g. since the route was deployed)
};

// Scores every route in `routes` (every route with shadow rows when empty), in name order.
std::vector<ShadowScore> shadow_scores(const std::vector<LoggedCall>& rows, const std::vector<std::string>& routes,
                                       const ShadowCheckOptions& options);

}  // namespace rpu::convert
