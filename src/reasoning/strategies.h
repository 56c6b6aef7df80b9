// Inference-time reasoning strategies. Each draws samples from a SampleSource (the wrapped
// Backend) and returns one answer with a confidence in [0, 1] the router can escalate on:
//   self-consistency  n samples, answers extracted and voted; confidence = the winner's share
//                     of all n samples (optionally weighted by exp(mean token log-probability));
//   adaptive          the same in rounds, stopping once the leader cannot be overtaken or its
//                     share reaches the threshold (vote.h); reports the samples it used;
//   best-of-N         n samples scored by a verifier; the best score wins (ties: the higher
//                     mean token log-probability; see best_verdict); confidence = the
//                     share of all n samples that pass the verifier AND give the chosen answer;
//                     with "select": "vote" (verified vote) the answer is instead the one the
//                     most verifier score (x exp(mean log-probability) when weighted) votes for
//                     among the samples that pass; without any passing sample, the best verdict;
//   step search       beam search over reasoning steps (text up to a delimiter): each beam
//                     entry is extended by `expand` sampled steps, entries are ranked by the
//                     verifier's score of the text so far, then by mean log-probability; the
//                     best finished entry wins; confidence = its verifier score.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "reasoning/sampling.h"
#include "reasoning/scorer.h"
#include "reasoning/spec.h"

namespace rpu::reasoning {

struct ReasonedAnswer {
  DrawnSample chosen;
  double confidence = 0;
  // What the response's "rpu" field says: strategy, confidence, samples, votes, ...
  nlohmann::ordered_json extension;
};

ReasonedAnswer self_consistency(SampleSource& source, const ReasoningSpec& spec);

// Best-of-N's verified vote: among the samples that pass (verdicts[i].pass) and have an answer,
// each votes for its answer with weight verdicts[i].score (x vote_weight when `weighted`); the
// index of the winner's heaviest voter, nullopt when no sample passes with an answer.
std::optional<size_t> verified_vote_winner(const std::vector<Sample>& votes, const std::vector<Verdict>& verdicts,
                                           bool weighted);
// Best-of-N's default selection, the index of the sample that passes, then scores highest, then
// has the higher mean token log-probability. Not the answer more samples agree on: on the
// built-in model's reworded dev split that tie-break chose worse in all six settings measured
// (8 or 16 samples, temperature 0.5/0.7/1.0; bench/RESULTS.md), as the samples that agree tend
// to share one misreading of the question.
size_t best_verdict(const std::vector<DrawnSample>& drawn, const std::vector<Verdict>& verdicts);
ReasonedAnswer adaptive_consistency(SampleSource& source, const ReasoningSpec& spec);
ReasonedAnswer best_of_n(SampleSource& source, const ReasoningSpec& spec, const Scorer& scorer);
// `prompt`: the rendered chat prompt the steps continue.
ReasonedAnswer step_search(SampleSource& source, const ReasoningSpec& spec, const Scorer& scorer,
                           const std::string& prompt);

// Runs the strategy `spec` names. `question` is what a judge verifier is shown, `cancelled` the
// caller's (its calls stop when the client goes away); `step_prompt` the rendered prompt step
// search continues (nullopt: step search is refused with a 400).
ReasonedAnswer reason(SampleSource& source, const ReasoningSpec& spec, Backend* judge, const std::string& question,
                      const std::function<bool()>& cancelled, const std::optional<std::string>& step_prompt);

}  // namespace rpu::reasoning
