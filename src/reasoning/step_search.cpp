// Beam search over reasoning steps (strategies.h). A step is the text a continuation writes up
// to and including spec.step_delimiter; a continuation that ends without the delimiter (the
// model's end of text, or max tokens) finishes its entry.
#include <algorithm>
#include <set>

#include "reasoning/strategies.h"

namespace rpu::reasoning {
namespace {

struct Entry {
  DrawnSample text;  // the answer so far, with its summed log-probability and token count
  Verdict verdict;
  bool finished = false;
};

bool ranks_before(const Entry& a, const Entry& b) {
  if (a.verdict.pass != b.verdict.pass) return a.verdict.pass;
  if (a.verdict.score != b.verdict.score) return a.verdict.score > b.verdict.score;
  return a.text.mean_logprob() > b.text.mean_logprob();
}

// Keeps the best `width` entries with distinct texts.
void prune(std::vector<Entry>& entries, int width) {
  std::stable_sort(entries.begin(), entries.end(), ranks_before);
  std::set<std::string> seen;
  std::vector<Entry> kept;
  for (Entry& e : entries) {
    if (static_cast<int>(kept.size()) >= width) break;
    if (seen.insert(e.text.text).second) kept.push_back(std::move(e));
  }
  entries = std::move(kept);
}

}  // namespace

ReasonedAnswer step_search(SampleSource& source, const ReasoningSpec& spec, const Scorer& scorer,
                           const std::string& prompt) {
  constexpr int kStepTokens = 96;  // most tokens one step may take
  std::vector<Entry> beam(1);
  beam[0].verdict = scorer.score(beam[0].text);
  std::vector<Entry> finished;
  int steps = 0;
  for (; steps < spec.max_steps && !beam.empty(); ++steps) {
    const int budget_left = spec.token_budget - source.completion_tokens();
    if (budget_left <= 0) break;
    std::vector<Entry> next;
    for (const Entry& entry : beam) {
      const int max_tokens = std::min(kStepTokens, std::max(1, budget_left / static_cast<int>(beam.size())));
      for (DrawnSample& step :
           source.continue_text(prompt + entry.text.text, spec.expand, spec.step_delimiter, max_tokens)) {
        Entry e;
        e.text.text = entry.text.text + step.text + (step.stopped_by_string ? spec.step_delimiter : "");
        e.text.logprob_sum = entry.text.logprob_sum + step.logprob_sum;
        e.text.tokens = entry.text.tokens + step.tokens;
        e.text.scored_tokens = entry.text.scored_tokens + step.scored_tokens;
        e.finished = !step.stopped_by_string;
        e.verdict = scorer.score(e.text);
        (e.finished ? finished : next).push_back(std::move(e));
      }
    }
    prune(next, spec.n);
    beam = std::move(next);
    prune(finished, spec.n);
    // Stop once a finished answer ranks at least as well as every open entry.
    if (!finished.empty() && (beam.empty() || !ranks_before(beam.front(), finished.front()))) break;
  }
  // Out of steps or tokens: the open entries compete as they stand.
  for (Entry& e : beam) finished.push_back(std::move(e));
  prune(finished, 1);
  ReasonedAnswer a;
  if (finished.empty()) return a;
  Entry& best = finished.front();
  // Trailing delimiters are formatting, not content.
  while (best.text.text.size() >= spec.step_delimiter.size() &&
         best.text.text.compare(best.text.text.size() - spec.step_delimiter.size(), spec.step_delimiter.size(),
                                spec.step_delimiter) == 0 &&
         !best.finished) {
    best.text.text.resize(best.text.text.size() - spec.step_delimiter.size());
  }
  a.chosen = best.text;
  a.chosen.finish_reason = best.finished ? "stop" : "length";
  a.confidence = best.verdict.score;
  a.extension = {{"strategy", "step_search"},
                 {"confidence", a.confidence},
                 {"samples", source.drawn()},
                 {"steps", steps},
                 {"verifier", scorer.name()},
                 {"reason", best.verdict.reason}};
  const std::optional<std::string> answer = extract_answer(spec.extract, a.chosen.text);
  if (answer) a.extension["answer"] = *answer;
  return a;
}

}  // namespace rpu::reasoning
