// S6's iteration: is a deployed specialist still as good as the teacher on live traffic?
//
// A specialist route's `shadow:` sends a share of its calls to the teacher as well, and the
// gateway logs both answers with the same (scrubbed) request: the primary row (what the client
// got: the specialist's answer, or the teacher's after escalation) and the shadow row (the
// teacher's, kind "shadow"). Pairs are matched by route and request (split.h request_key; the
// primary row nearest in time when a request repeats) and the primary answer is scored against
// the shadow's with the metric the teacher answer's shape picks (metric.h), right or wrong as S6
// calibrated the route (not a JSON answer's share of right fields: the seventh bench run's extract
// route showed 0.979 of fields on 24 pairs while 80% of its local answers were right). The mean
// is the route's delivered quality as a share of the teacher's, escalations included. A route with at least min_pairs pairs is rolled back when its
// pairs show it below the target, not merely a mean under it: the one-sided 95% upper bound of
// the mean (Wilson score interval) must be under the target. One disagreement in 19 pairs
// (0.947, upper bound 0.99) is what a route at the teacher's level shows now and then, not least
// as the teacher's own wrong answers count against it; rolling back on it would make routes flap.
// Rolled back means removed from the routes file (routing_table.h remove_route, atomic), so the
// gateway sends its calls to the teacher again.
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
  double upper_bound = 0;  // one-sided 95% upper confidence bound of mean_score (1 with no pairs)
  bool below_target = false;
};

struct ShadowCheckOptions {
  double target = 0.95;
  int min_pairs = 20;       // fewer pairs: no verdict either way
  int64_t since_ms = 0;     // only rows from this time on (e.g. since the route was deployed)
};

// The Wilson score interval's one-sided upper bound for a mean `p` of `n` scores in [0, 1]
// (exact for the right/wrong scores above).
double wilson_upper_bound(double p, int n, double z = 1.6449);

// Scores every route in `routes` (every route with shadow rows when empty), in name order.
std::vector<ShadowScore> shadow_scores(const std::vector<LoggedCall>& rows, const std::vector<std::string>& routes,
                                       const ShadowCheckOptions& options);

}  // namespace rpu::convert
