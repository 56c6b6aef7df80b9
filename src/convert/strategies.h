// S4's inference-time strategies: besides answering greedily, a candidate model may be served
// with a reasoning strategy (src/reasoning: several samples voted on, or scored by a verifier),
// which the gateway applies through the route's `reasoning` extension. S4 evaluates each
// candidate with each strategy that fits the cluster and picks the best (model, strategy)
// pair, charging the extra samples (select.h).
//
// The strategies are one table (kStrategyTable in strategies.cpp), one row each:
//   greedy  temperature 0, one sample: the answer as it is (always tried, first);
//   sc5     self-consistency, 5 samples at temperature 0.7, the most common answer wins;
//           confidence = the winner's share of the 5 votes;
//   bon5    best-of-5 scored by the grounded arithmetic verifier (every "a op b = c" step
//           right and every operand from the question or an earlier step); only for clusters
//           whose answers are numbers; confidence = share of samples passing with the answer;
//   bon16   the same with 16 samples and the complete verifier (the chain must also use every
//           number of the question); numbers only.
// Votes read the answer the cluster's metric scores: its last number for final_number
// answers, the whole text (trimmed, lowercased) otherwise; tool calls vote with their calls.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/logged_call.h"
#include "convert/metric.h"

namespace rpu::convert {

struct StrategyChoice {
  std::string name;                  // the table's name: "greedy", "sc5", "bon5", "bon16"
  nlohmann::ordered_json reasoning;  // the request's / route's "reasoning" object; null: greedy
};

// Every name in the table, in its order.
std::vector<std::string> strategy_names();

// The rows that fit a cluster whose answers are scored by `metric`, in table order, as the
// reasoning objects to send. `only`: just these names (empty: all); an unknown name throws
// rpu::Error listing the table's names. Greedy is always included (the other strategies are
// charged against it), whether named or not.
std::vector<StrategyChoice> strategies_for(MetricKind metric, const std::vector<std::string>& only = {});

// The metric most of the calls' teacher answers are scored by (ties: the kind listed first in
// metric.h). exact when there are no calls.
MetricKind dominant_metric(const std::vector<const LoggedCall*>& calls);

// "best-of-5, grounded arithmetic verifier" etc. for reports; "greedy" for null.
std::string describe_strategy(const nlohmann::ordered_json& reasoning);

}  // namespace rpu::convert
