#include "pipeline/think_split.h"

namespace rpu {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool is_blank(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

void ThinkScan::advance(uint8_t c) {
  switch (phase) {
    case Phase::kLead:
      if (matched == 0 && is_blank(c)) return;  // blanks before the span are dropped
      if (c != static_cast<uint8_t>(kOpen[matched])) {
        phase = Phase::kAnswer;
        return;
      }
      if (++matched == kOpen.size()) phase = Phase::kInside, matched = 0;
      return;
    case Phase::kInside:
      if (c == static_cast<uint8_t>(kClose[matched])) {
        if (++matched == kClose.size()) phase = Phase::kAfterSpan, matched = 0;
      } else {
        matched = c == '<' ? 1 : 0;  // '<' appears in "</think>" only at its start
      }
      return;
    case Phase::kAfterSpan:
      if (!is_blank(c)) phase = Phase::kAnswer;
      return;
    case Phase::kAnswer:
      return;
  }
}

void ThinkScan::advance(std::string_view bytes) {
  for (char c : bytes) {
    if (phase == Phase::kAnswer) return;
    advance(static_cast<uint8_t>(c));
  }
}

ThinkSplitter::ThinkSplitter(bool starts_inside) {
  if (starts_inside) scan_.phase = ThinkScan::Phase::kInside;
}

ThinkSplitter::Parts ThinkSplitter::feed(std::string_view text) {
  using Phase = ThinkScan::Phase;
  Parts out;
  for (char c : text) {
    const Phase before = scan_.phase;
    if (before == Phase::kAnswer) {
      out.content.push_back(c);
      continue;
    }
    scan_.advance(static_cast<uint8_t>(c));
    switch (scan_.phase) {
      case Phase::kLead:  // blanks, or a prefix of "<think>": undecided
        held_.push_back(c);
        break;
      case Phase::kInside:
        if (before == Phase::kLead) {
          held_.clear();  // the span opened: the blanks before it are dropped
        } else if (scan_.matched == 0) {
          out.reasoning += held_;  // not the closing marker after all
          out.reasoning.push_back(c);
          held_.clear();
        } else {
          if (static_cast<size_t>(scan_.matched) <= held_.size()) {  // a '<' restarted the marker
            out.reasoning += held_;
            held_.clear();
          }
          held_.push_back(c);
        }
        break;
      case Phase::kAfterSpan:  // the marker closed, or a blank after it: dropped
        held_.clear();
        break;
      case Phase::kAnswer:
        if (before == Phase::kLead) out.content += held_;  // "  <thx": never a span
        held_.clear();
        out.content.push_back(c);
        break;
    }
  }
  return out;
}

ThinkSplitter::Parts ThinkSplitter::finish() {
  Parts out;
  if (scan_.phase == ThinkScan::Phase::kInside) {
    out.reasoning = std::move(held_);  // a partial "</think>" at the very end is the reasoning's
  } else if (scan_.phase == ThinkScan::Phase::kLead) {
    out.content = std::move(held_);  // "  <thi": never a span
  }
  held_.clear();
  return out;
}

bool prompt_opens_reasoning(std::string_view prompt) {
  size_t end = prompt.size();
  while (end > 0 && is_blank(prompt[end - 1])) --end;
  const std::string_view body = prompt.substr(0, end);
  return body.size() >= kOpen.size() && body.substr(body.size() - kOpen.size()) == kOpen;
}

ThinkSplitter::Parts split_reasoning(std::string_view output, bool starts_inside) {
  ThinkSplitter splitter(starts_inside);
  ThinkSplitter::Parts parts = splitter.feed(output);
  ThinkSplitter::Parts tail = splitter.finish();
  parts.reasoning += tail.reasoning;
  parts.content += tail.content;
  return parts;
}

}  // namespace rpu
