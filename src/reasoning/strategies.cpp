#include "reasoning/strategies.h"

#include <algorithm>

#include "pipeline/call.h"

namespace rpu::reasoning {
namespace {

std::vector<Sample> to_votes(const std::vector<DrawnSample>& drawn, const ExtractSpec& extract) {
  std::vector<Sample> samples;
  for (const DrawnSample& d : drawn) {
    // A tool call votes with its calls (name + arguments), text answers with the extractor.
    std::optional<std::string> answer =
        d.tool_calls.is_array() && !d.tool_calls.empty() ? std::optional<std::string>(d.tool_calls.dump())
                                                          : extract_answer(extract, d.text);
    samples.push_back({d.text, std::move(answer), d.mean_logprob()});
  }
  return samples;
}

[[noreturn]] void nothing_extracted(int n) {
  throw ApiError(400,
                 "reasoning.extract: no answer could be extracted from any of the " + std::to_string(n) +
                     " samples; give an extractor that matches the model's answers",
                 "invalid_request_error", "reasoning.extract", "no_answer");
}

ReasonedAnswer from_vote(const std::vector<DrawnSample>& drawn, const VoteResult& vote, Strategy strategy) {
  if (!vote.answer) nothing_extracted(static_cast<int>(drawn.size()));
  ReasonedAnswer a;
  a.chosen = drawn[static_cast<size_t>(vote.chosen)];
  a.confidence = vote.confidence;
  a.extension = {{"strategy", strategy_name(strategy)},
                 {"confidence", vote.confidence},
                 {"answer", *vote.answer},
                 {"samples", static_cast<int>(drawn.size())},
                 {"votes", votes_json(vote)}};
  return a;
}

}  // namespace

std::optional<size_t> verified_vote_winner(const std::vector<Sample>& votes, const std::vector<Verdict>& verdicts,
                                           bool weighted) {
  std::vector<Sample> passing;
  std::vector<size_t> origin;  // passing[k] is votes[origin[k]]
  std::vector<double> weights;
  for (size_t i = 0; i < votes.size(); ++i) {
    if (!verdicts[i].pass || !votes[i].answer) continue;
    passing.push_back(votes[i]);
    origin.push_back(i);
    weights.push_back(std::max(0.0, verdicts[i].score) * vote_weight(votes[i], weighted));
  }
  const VoteResult vote = weighted_vote(passing, weights, static_cast<double>(votes.size()));
  if (vote.chosen < 0) return std::nullopt;
  return origin[static_cast<size_t>(vote.chosen)];
}

ReasonedAnswer self_consistency(SampleSource& source, const ReasoningSpec& spec) {
  const std::vector<DrawnSample> drawn = source.draw(spec.n);
  return from_vote(drawn, majority_vote(to_votes(drawn, spec.extract), spec.weighted), Strategy::kSelfConsistency);
}

ReasonedAnswer adaptive_consistency(SampleSource& source, const ReasoningSpec& spec) {
  std::vector<DrawnSample> drawn;
  VoteResult vote;
  while (static_cast<int>(drawn.size()) < spec.n) {
    const int k = std::min(spec.round, spec.n - static_cast<int>(drawn.size()));
    std::vector<DrawnSample> more = source.draw(k);
    drawn.insert(drawn.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    vote = majority_vote(to_votes(drawn, spec.extract), spec.weighted);
    if (adaptive_can_stop(vote, static_cast<int>(drawn.size()), spec.n, spec.threshold)) break;
  }
  ReasonedAnswer a = from_vote(drawn, vote, Strategy::kAdaptive);
  a.extension["max_samples"] = spec.n;
  return a;
}

size_t best_verdict(const std::vector<DrawnSample>& drawn, const std::vector<Verdict>& verdicts) {
  auto better = [&](size_t a, size_t b) {
    if (verdicts[a].pass != verdicts[b].pass) return verdicts[a].pass;
    if (verdicts[a].score != verdicts[b].score) return verdicts[a].score > verdicts[b].score;
    return drawn[a].mean_logprob() > drawn[b].mean_logprob();
  };
  size_t best = 0;
  for (size_t i = 1; i < drawn.size(); ++i) {
    if (better(i, best)) best = i;
  }
  return best;
}

ReasonedAnswer best_of_n(SampleSource& source, const ReasoningSpec& spec, const Scorer& scorer) {
  const std::vector<DrawnSample> drawn = source.draw(spec.n);
  const std::vector<Sample> votes = to_votes(drawn, spec.extract);
  const VoteResult vote = majority_vote(votes, false);
  std::vector<Verdict> verdicts;
  for (const DrawnSample& d : drawn) verdicts.push_back(scorer.score(d));
  size_t best = best_verdict(drawn, verdicts);
  if (spec.verified_vote) {
    if (const std::optional<size_t> voted = verified_vote_winner(votes, verdicts, spec.weighted)) best = *voted;
  }
  int passed = 0, agreeing = 0;
  for (size_t i = 0; i < drawn.size(); ++i) {
    if (!verdicts[i].pass) continue;
    ++passed;
    if (votes[i].answer && votes[best].answer ? *votes[i].answer == *votes[best].answer : i == best) ++agreeing;
  }
  ReasonedAnswer a;
  a.chosen = drawn[best];
  a.confidence = drawn.empty() ? 0.0 : static_cast<double>(agreeing) / static_cast<double>(drawn.size());
  a.extension = {{"strategy", "best_of_n"},
                 {"select", spec.verified_vote ? "vote" : "best"},
                 {"confidence", a.confidence},
                 {"samples", static_cast<int>(drawn.size())},
                 {"verifier", scorer.name()},
                 {"passed", passed},
                 {"score", verdicts[best].score},
                 {"reason", verdicts[best].reason},
                 {"votes", votes_json(vote)}};
  if (votes[best].answer) a.extension["answer"] = *votes[best].answer;
  return a;
}

ReasonedAnswer reason(SampleSource& source, const ReasoningSpec& spec, Backend* judge, const std::string& question,
                      const std::function<bool()>& cancelled, const std::optional<std::string>& step_prompt) {
  switch (spec.strategy) {
    case Strategy::kSelfConsistency: return self_consistency(source, spec);
    case Strategy::kAdaptive: return adaptive_consistency(source, spec);
    case Strategy::kBestOfN: return best_of_n(source, spec, *make_scorer(spec.verifier, judge, question, cancelled));
    case Strategy::kStepSearch:
      if (!step_prompt) {
        throw ApiError(400, "reasoning.strategy: step_search needs a local model (this backend cannot continue text)",
                       "invalid_request_error", "reasoning.strategy", "");
      }
      return step_search(source, spec, *make_scorer(spec.verifier, judge, question, cancelled), *step_prompt);
  }
  return {};
}

}  // namespace rpu::reasoning
