#include "reasoning/scorer.h"

#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "decode/arithmetic.h"
#include "decode/numbers.h"

namespace rpu::reasoning {
namespace {

class RuleScorer : public Scorer {
 public:
  explicit RuleScorer(std::unique_ptr<Verifier> verifier) : verifier_(std::move(verifier)) {}
  Verdict score(const DrawnSample& c) const override { return verifier_->check(c.text); }
  std::string name() const override { return verifier_->name(); }

 private:
  std::unique_ptr<Verifier> verifier_;
};

// "arithmetic" with "grounded": true: besides every step being right, every operand must be a
// number of the question or the result of an earlier step, so a chain that is internally
// consistent but starts from a misread number fails. Score: the arithmetic score times the
// share of grounded operands.
// With "complete": true as well, the score is also multiplied by the share of the question's
// numbers (counted with repeats) that the steps use as operands: a word problem states the
// quantities it needs, so a chain that leaves one unused has most likely dropped a step. It
// lowers the score without failing the check (a question may carry an unused number), so among
// passing chains best-of-N prefers the one that uses everything.
class GroundedArithmeticScorer : public Scorer {
 public:
  GroundedArithmeticScorer(const std::string& question, bool complete) : complete_(complete) {
    for (const NumberToken& n : find_numbers(question)) question_numbers_.push_back(n.normalized);
    question_set_.insert(question_numbers_.begin(), question_numbers_.end());
  }
  Verdict score(const DrawnSample& c) const override {
    Verdict v = arithmetic_.check(c.text);
    std::set<std::string> known = question_set_;  // grows by each step's result
    std::multiset<std::string> unused(question_numbers_.begin(), question_numbers_.end());
    int operands = 0, grounded = 0;
    std::string first_stray;
    for (const ArithmeticStep& step : find_arithmetic_steps(c.text)) {
      std::vector<NumberToken> numbers = find_numbers(step.text);
      if (numbers.empty()) continue;
      for (size_t i = 0; i + 1 < numbers.size(); ++i) {  // the last number is the result
        ++operands;
        const std::string& value = numbers[i].normalized;
        const std::string magnitude = normalize_number(value.substr(value[0] == '-' ? 1 : 0));
        if (known.count(value) || known.count(magnitude)) {
          ++grounded;
        } else if (first_stray.empty()) {
          first_stray = value;
        }
        if (auto it = unused.find(value); it != unused.end()) {
          unused.erase(it);
        } else if (auto abs_it = unused.find(magnitude); abs_it != unused.end()) {
          unused.erase(abs_it);
        }
      }
      known.insert(numbers.back().normalized);
    }
    if (operands > 0) {
      v.score *= static_cast<double>(grounded) / operands;
      if (grounded < operands) {
        v.pass = false;
        v.reason += "; operand " + first_stray + " is neither in the question nor an earlier result";
      }
    }
    if (complete_ && !question_numbers_.empty() && !unused.empty()) {
      const size_t total = question_numbers_.size();
      v.score *= static_cast<double>(total - unused.size()) / static_cast<double>(total);
      v.reason += "; the question's " + *unused.begin() + " is not used";
    }
    return v;
  }
  std::string name() const override { return complete_ ? "arithmetic (grounded, complete)" : "arithmetic (grounded)"; }

 private:
  ArithmeticVerifier arithmetic_;
  std::vector<std::string> question_numbers_;  // as written in the question, repeats kept
  std::set<std::string> question_set_;         // the same, once each
  bool complete_;
};

class LogprobScorer : public Scorer {
 public:
  Verdict score(const DrawnSample& c) const override {
    const double p = c.tokens > 0 ? std::exp(c.mean_logprob()) : 0.0;
    return {true, std::min(1.0, p), "mean token probability " + std::to_string(p)};
  }
  std::string name() const override { return "logprob"; }
};

std::string lower_trimmed(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (!std::isspace(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  // SentencePiece marks a word start with U+2581; it is not part of the word.
  const std::string mark = "\xE2\x96\x81";
  if (out.rfind(mark, 0) == 0) out.erase(0, mark.size());
  return out;
}

}  // namespace

JudgeWord judge_word(const std::string& word) {
  // A small vocabulary spells "yes" as " y" + "es": a first token that can only begin one of
  // the two words counts for it (one that could begin both, like "", counts for neither).
  if (word.empty()) return JudgeWord::kNeither;
  const bool yes = std::string_view("yes").starts_with(word), no = std::string_view("no").starts_with(word);
  if (yes == no) return JudgeWord::kNeither;
  return yes ? JudgeWord::kYes : JudgeWord::kNo;
}

namespace {

class JudgeScorer : public Scorer {
 public:
  JudgeScorer(Backend& judge, std::string question, std::function<bool()> cancelled)
      : judge_(judge), question_(std::move(question)), cancelled_(std::move(cancelled)) {}

  // Samples that agree are often the same text: each distinct text is judged once per call.
  Verdict score(const DrawnSample& c) const override {
    if (const auto seen = verdicts_.find(c.text); seen != verdicts_.end()) return seen->second;
    return verdicts_[c.text] = ask(c);
  }
  std::string name() const override { return "judge"; }

 private:
  Verdict ask(const DrawnSample& c) const {
    ChatRequest r;
    r.model = judge_.model_id();
    r.messages = nlohmann::ordered_json::array();
    r.messages.push_back({{"role", "user"},
                          {"content", "Question: " + question_ + "\nProposed answer: " + c.text +
                                          "\nIs the proposed answer correct? Reply with yes or no."}});
    r.max_tokens = 1;
    r.sampling.temperature = 0;
    r.has_seed = true;
    r.logprobs = true;
    r.top_logprobs = 20;
    r.cancelled = cancelled_;
    const CallResult result = run_chat(judge_, r);
    double yes = 0, no = 0;
    if (!result.choices.empty() && !result.choices[0].logprobs.empty()) {
      for (const TokenProbability& t : result.choices[0].logprobs[0].top) {
        switch (judge_word(lower_trimmed(t.bytes))) {
          case JudgeWord::kYes: yes += std::exp(t.logprob); break;
          case JudgeWord::kNo: no += std::exp(t.logprob); break;
          case JudgeWord::kNeither: break;
        }
      }
    }
    const double p = yes + no > 0 ? yes / (yes + no) : 0.0;
    return {p >= 0.5, p, "judge P(yes) = " + std::to_string(p)};
  }

  Backend& judge_;
  std::string question_;
  std::function<bool()> cancelled_;
  mutable std::map<std::string, Verdict> verdicts_;  // by candidate text (a scorer serves one call)
};

// "judge" with "after": a rule verifier first; a candidate it fails fails with score 0 (the
// judge is not asked), one it passes gets the judge's verdict. The rule catches what it can
// check (a wrong step); the judge is left what it cannot (a misread question).
class GatedScorer : public Scorer {
 public:
  GatedScorer(std::unique_ptr<Scorer> gate, std::unique_ptr<Scorer> judge) : gate_(std::move(gate)), judge_(std::move(judge)) {}

  Verdict score(const DrawnSample& c) const override {
    Verdict first = gate_->score(c);
    if (!first.pass) return {false, 0.0, gate_->name() + ": " + first.reason};
    return judge_->score(c);
  }
  std::string name() const override { return judge_->name() + " after " + gate_->name(); }

 private:
  std::unique_ptr<Scorer> gate_, judge_;
};

}  // namespace

std::string last_user_message(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return "";
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (!it->is_object() || it->value("role", "") != "user") continue;
    const auto& content = (*it)["content"];
    if (content.is_string()) return content.get<std::string>();
    std::string text;  // content parts: the text ones
    if (content.is_array()) {
      for (const auto& part : content) {
        if (part.is_object() && part.value("type", "") == "text") text += part.value("text", "");
      }
    }
    return text;
  }
  return "";
}

std::unique_ptr<Scorer> make_scorer(const nlohmann::json& spec, Backend* judge, const std::string& question,
                                    std::function<bool()> cancelled) {
  const std::string type = spec.is_object() ? spec.value("type", "") : "";
  if (type == "logprob") return std::make_unique<LogprobScorer>();
  if (type == "arithmetic" && spec.value("grounded", false)) {
    return std::make_unique<GroundedArithmeticScorer>(question, spec.value("complete", false));
  }
  if (type == "judge") {
    if (judge == nullptr) {
      throw ApiError(400, "reasoning.verifier: the judge verifier needs a judge model (rpu serve/run --judge MODEL.gguf)",
                     "invalid_request_error", "reasoning.verifier", "");
    }
    auto scorer = std::make_unique<JudgeScorer>(*judge, question, cancelled);
    if (!spec.contains("after")) return scorer;
    return std::make_unique<GatedScorer>(make_scorer(spec.at("after"), nullptr, question), std::move(scorer));
  }
  try {
    return std::make_unique<RuleScorer>(make_verifier(spec));
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "reasoning.verifier", "");
  }
}

}  // namespace rpu::reasoning
