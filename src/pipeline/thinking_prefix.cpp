#include "pipeline/thinking_prefix.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "decode/grammar.h"

namespace rpu {
namespace {

constexpr float kBlocked = -std::numeric_limits<float>::infinity();

}  // namespace

ThinkingPrefixConstraint::ThinkingPrefixConstraint(Factory make_answer_constraint, std::shared_ptr<const GrammarVocab> vocab,
                                                   bool starts_inside)
    : make_answer_(std::move(make_answer_constraint)), vocab_(std::move(vocab)), answer_(make_answer_()) {
  if (starts_inside) scan_.phase = ThinkScan::Phase::kInside;
}

void ThinkingPrefixConstraint::mask_logits(std::span<float> logits) const {
  switch (scan_.phase) {
    case ThinkScan::Phase::kAnswer:
      if (answer_) {
        answer_->mask_logits(logits);
      } else {  // a refused token ended the output; nothing may follow it
        std::fill(logits.begin(), logits.end(), kBlocked);
      }
      return;
    case ThinkScan::Phase::kInside:
      mask_inside(logits);
      return;
    case ThinkScan::Phase::kLead:
    case ThinkScan::Phase::kAfterSpan:
      mask_either(logits);
      return;
  }
}

void ThinkingPrefixConstraint::mask_inside(std::span<float> logits) const {
  for (int32_t id : vocab_->end_of_generation_tokens()) {
    if (static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] = kBlocked;
  }
  // Only a piece with a '>' can close the span; one that closes it and goes on is refused.
  for (int32_t id : vocab_->angle_tokens()) {
    if (static_cast<size_t>(id) >= logits.size()) continue;
    ThinkScan s = scan_;
    s.advance(vocab_->piece(id));
    if (s.phase == ThinkScan::Phase::kAnswer) logits[static_cast<size_t>(id)] = kBlocked;
  }
}

void ThinkingPrefixConstraint::mask_either(std::span<float> logits) const {
  // [n_vocab] each: the span's tokens (blanks, the rest of "<think>"; after it, blanks), and
  // the answer constraint's (none once it refused a lead token).
  thread_local std::vector<float> span_view, answer_view;
  span_view.assign(logits.begin(), logits.end());
  vocab_->mask_by_scan(
      scan_,
      [](ThinkScan& s, uint8_t byte) {
        s.advance(byte);
        return s.phase != ThinkScan::Phase::kAnswer;
      },
      span_view);
  if (scan_.phase == ThinkScan::Phase::kLead && scan_.matched == 0) {
    // Blanks alone are the answer's to allow: a model that does not think would otherwise be
    // let through a blank the answer refuses, and then held to opening a span.
    for (size_t id = 0; id < span_view.size(); ++id) {
      if (span_view[id] == kBlocked) continue;
      ThinkScan s = scan_;
      s.advance(vocab_->piece(static_cast<int32_t>(id)));
      if (s.phase == ThinkScan::Phase::kLead && s.matched == 0) span_view[id] = kBlocked;
    }
  }
  answer_view.assign(logits.size(), kBlocked);
  if (answer_) {
    answer_view.assign(logits.begin(), logits.end());
    answer_->mask_logits(answer_view);
  }
  for (size_t id = 0; id < logits.size(); ++id) {
    if (span_view[id] == kBlocked && answer_view[id] == kBlocked) logits[id] = kBlocked;
  }
}

bool ThinkingPrefixConstraint::accept(int32_t token) {
  const ThinkScan::Phase before = scan_.phase;
  if (before == ThinkScan::Phase::kAnswer) return answer_ && answer_->accept(token);
  if (token < 0 || token >= vocab_->size()) return false;
  if (vocab_->is_end_of_generation(token)) return answer_ != nullptr && before != ThinkScan::Phase::kInside && answer_->accept(token);
  // In the lead the answer constraint follows the tokens it allows, in case they are its.
  if (before == ThinkScan::Phase::kLead && answer_ && !answer_->accept(token)) answer_.reset();
  scan_.advance(vocab_->piece(token));
  if (before == ThinkScan::Phase::kLead && answer_ && scan_.phase != ThinkScan::Phase::kLead) {
    // The constraint followed the lead to its end: it is the answer's (or it writes the span itself).
    scan_.phase = ThinkScan::Phase::kAnswer;
    return true;
  }
  switch (scan_.phase) {
    case ThinkScan::Phase::kLead:
      return true;
    case ThinkScan::Phase::kInside:
    case ThinkScan::Phase::kAfterSpan:
      if (before == ThinkScan::Phase::kLead) answer_ = make_answer_();  // the answer starts after the span
      return true;
    case ThinkScan::Phase::kAnswer:
      if (before == ThinkScan::Phase::kLead) return false;  // neither the span's nor the constraint's
      if (before == ThinkScan::Phase::kInside) return false;  // closed and answered in one piece
      return answer_ && answer_->accept(token);
  }
  return false;
}

bool ThinkingPrefixConstraint::can_continue() const {
  return scan_.phase != ThinkScan::Phase::kAnswer || (answer_ && answer_->can_continue());
}

}  // namespace rpu
