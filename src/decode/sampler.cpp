#include "decode/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/error.h"

namespace rpu {

bool Sampler::better(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

void SamplingParams::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) fail("temperature must be >= 0, got {}", temperature);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("top-p must be in (0, 1], got {}", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) fail("min-p must be in [0, 1], got {}", min_p);
  if (!(repeat_penalty > 0.0f) || !std::isfinite(repeat_penalty)) fail("repeat penalty must be > 0, got {}", repeat_penalty);
  if (repeat_last_n < 0) fail("repeat-last-n must be >= 0, got {}", repeat_last_n);
  if (!std::isfinite(frequency_penalty) || std::fabs(frequency_penalty) > 2.0f) {
    fail("frequency penalty must be in [-2, 2], got {}", frequency_penalty);
  }
  if (!std::isfinite(presence_penalty) || std::fabs(presence_penalty) > 2.0f) {
    fail("presence penalty must be in [-2, 2], got {}", presence_penalty);
  }
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0 || !std::isfinite(bias) || std::fabs(bias) > 100.0f) fail("logit bias {} for token {} is invalid", bias, id);
  }
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) { params_.validate(); }

void Sampler::accept(int32_t token) {
  if (params_.repeat_last_n == 0) return;
  recent_.push_back(token);
  while (recent_.size() > static_cast<size_t>(params_.repeat_last_n)) recent_.pop_front();
}

void Sampler::apply_penalties(std::vector<Candidate>& candidates) const {
  if (recent_.empty()) return;
  if (params_.repeat_penalty == 1.0f && params_.frequency_penalty == 0.0f && params_.presence_penalty == 0.0f) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : recent_) ++counts[t];
  for (const auto& [id, count] : counts) {
    if (id < 0 || static_cast<size_t>(id) >= candidates.size()) continue;
    float& logit = candidates[static_cast<size_t>(id)].logit;
    // Repetition penalty shrinks a logit toward "less likely" whatever its sign.
    logit = logit > 0 ? logit / params_.repeat_penalty : logit * params_.repeat_penalty;
    logit -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
  }
}

int32_t Sampler::sample(std::span<const float> logits) {
  const int32_t greedy = prepare(logits);
  if (greedy >= 0) return greedy;
  const auto& c = candidates_;
  double r = rng_.uniform();
  for (const auto& cand : c) {
    r -= cand.prob;
    if (r < 0.0) return cand.id;
  }
  return c.back().id;
}

void Sampler::distribution(std::span<const float> logits, std::vector<TokenProb>& out) {
  out.clear();
  const int32_t greedy = prepare(logits);
  if (greedy >= 0) {
    out.push_back({greedy, 1.0f});
    return;
  }
  for (const auto& cand : candidates_) out.push_back({cand.id, cand.prob});
}

int32_t Sampler::prepare(std::span<const float> logits) {
  if (logits.empty()) fail("cannot sample from an empty set of logits");
  const bool adjusted = ((params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                           params_.presence_penalty != 0.0f) && !recent_.empty()) || !params_.logit_bias.empty();
  if (params_.temperature <= 0.0f && !adjusted) {
    // Greedy without penalties needs no candidate list: a plain scan (ties to the lowest id).
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  auto& c = candidates_;
  const bool top_k = params_.top_k > 0 && static_cast<size_t>(params_.top_k) < logits.size();
  if (top_k && !adjusted) {  // (greedy without adjustments returned above)
    top_k_of(logits, static_cast<size_t>(params_.top_k));
    return finish_truncation(1.0);
  }
  c.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c[i] = Candidate{static_cast<int32_t>(i), logits[i], 0.0f};
  apply_penalties(c);
  for (const auto& [id, bias] : params_.logit_bias) {
    if (static_cast<size_t>(id) < c.size()) c[static_cast<size_t>(id)].logit += bias;
  }

  if (params_.temperature <= 0.0f) {
    // Greedy; ties go to the lowest id, as a plain argmax scan does.
    const auto best = std::max_element(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.logit < b.logit; });
    return best->id;
  }

  // Sort by logit (stable on id), truncating to top-k first when it is on. Without top-k,
  // top-p and min-p only ever keep a head of the sorted list, so a partial sort of the most
  // likely tokens usually suffices (a full sort of a 150k vocabulary costs ~10 ms a token):
  // the head is long enough once it holds top_p of the total mass and reaches below the
  // min-p threshold; otherwise it grows, up to everything. With no truncation at all the
  // candidates stay in id order: a draw by scan needs no order.
  const bool truncates = params_.top_p < 1.0f || params_.min_p > 0.0f;
  double head_share = 1.0;  // the kept candidates' share of the probability mass at temperature 1
  if (top_k) {
    const size_t keep = static_cast<size_t>(params_.top_k);
    // Top-k renormalises: top-p and min-p then see the k tokens as the whole distribution.
    std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(keep), c.end(), better);
    c.resize(keep);
  } else if (truncates) {
    const float top = std::max_element(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
                        return a.logit < b.logit;
                      })->logit;
    double total = 0.0;
    for (const auto& cand : c) total += std::exp(static_cast<double>(cand.logit - top));
    size_t head = std::min<size_t>(c.size(), 512);
    for (;;) {
      std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(head), c.end(), better);
      double mass = 0.0;
      for (size_t i = 0; i < head; ++i) mass += std::exp(static_cast<double>(c[i].logit - top));
      head_share = mass / total;
      const bool enough_mass = params_.top_p >= 1.0f || head_share >= params_.top_p;
      const bool past_min_p =
          params_.min_p <= 0.0f || std::exp(static_cast<double>(c[head - 1].logit - top)) < params_.min_p;
      if ((enough_mass && past_min_p) || head == c.size()) break;
      head = std::min(c.size(), head * 4);
    }
    c.resize(head);
  }
  return finish_truncation(head_share);
}

// The k best logits in `better` order (higher first, ties to the lower id) straight from the
// logits: a min-heap of k candidates over one scan, instead of a candidate per vocabulary entry
// and a partial sort (~0.1 ms a token for a 49k vocabulary, a twentieth of SmolLM2-135M's decode
// step). Scanning ids in increasing order, a later equal logit never displaces an earlier one,
// so the set and its order are the partial sort's.
void Sampler::top_k_of(std::span<const float> logits, size_t k) {
  auto& c = candidates_;
  c.clear();
  for (size_t i = 0; i < k; ++i) c.push_back(Candidate{static_cast<int32_t>(i), logits[i], 0.0f});
  std::make_heap(c.begin(), c.end(), better);  // front: the worst kept candidate
  for (size_t i = k; i < logits.size(); ++i) {
    if (!(logits[i] > c.front().logit)) continue;
    std::pop_heap(c.begin(), c.end(), better);
    c.back() = Candidate{static_cast<int32_t>(i), logits[i], 0.0f};
    std::push_heap(c.begin(), c.end(), better);
  }
  std::sort_heap(c.begin(), c.end(), better);  // best first
}

// top-p, min-p and the final probabilities over candidates_ (sorted best first when truncating);
// head_share: the candidates' share of the whole distribution's mass at temperature 1.
int32_t Sampler::finish_truncation(double head_share) {
  auto& c = candidates_;
  // Probabilities at temperature 1 decide top-p and min-p.
  auto softmax = [&](float temperature) {
    float max_logit = c.front().logit;
    for (const auto& cand : c) max_logit = std::max(max_logit, cand.logit);
    double total = 0.0;
    for (auto& cand : c) {
      cand.prob = static_cast<float>(std::exp((cand.logit - max_logit) / temperature));
      total += cand.prob;
    }
    for (auto& cand : c) cand.prob = static_cast<float>(cand.prob / total);
  };
  // Only top-p and min-p read these: without them the pass would cost a second exp per
  // candidate for nothing (the final probabilities below are recomputed from the logits).
  const bool truncates = params_.top_p < 1.0f || params_.min_p > 0.0f;
  if (truncates) softmax(1.0f);
  if (params_.top_p < 1.0f) {
    // Cumulative probability over the whole vocabulary (the head holds head_share of it).
    double cumulative = 0.0;
    size_t n = 0;
    while (n < c.size()) {
      cumulative += c[n++].prob * head_share;
      if (cumulative >= params_.top_p) break;
    }
    c.resize(n);
  }
  if (params_.min_p > 0.0f) {
    const float threshold = c.front().prob * params_.min_p;
    size_t n = 1;
    while (n < c.size() && c[n].prob >= threshold) ++n;
    c.resize(n);
  }
  softmax(params_.temperature);
  return -1;
}

}  // namespace rpu
