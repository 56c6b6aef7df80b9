#include "pipeline/think_split.h"

namespace rpu {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool is_blank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Length of the longest suffix of `text` that is a proper prefix of `marker`.
size_t partial_marker_at_end(std::string_view text, std::string_view marker) {
  for (size_t n = std::min(text.size(), marker.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

ThinkSplitter::ThinkSplitter(bool starts_inside) : state_(starts_inside ? State::kInside : State::kLead) {}

ThinkSplitter::Parts ThinkSplitter::feed(std::string_view text) {
  Parts out;
  std::string buffer = std::move(held_);
  held_.clear();
  buffer.append(text);
  std::string_view rest = buffer;
  while (!rest.empty()) {
    switch (state_) {
      case State::kLead: {
        size_t blanks = 0;
        while (blanks < rest.size() && is_blank(rest[blanks])) ++blanks;
        const std::string_view after = rest.substr(blanks);
        if (after.size() >= kOpen.size() && after.substr(0, kOpen.size()) == kOpen) {
          state_ = State::kInside;  // the blanks before the span are dropped
          rest = after.substr(kOpen.size());
        } else if (after.empty() || kOpen.substr(0, after.size()) == after) {
          held_.assign(rest);  // still undecided: blanks, or a prefix of "<think>"
          return out;
        } else {
          state_ = State::kContent;
        }
        break;
      }
      case State::kInside: {
        const size_t close = rest.find(kClose);
        if (close == std::string_view::npos) {
          const size_t partial = partial_marker_at_end(rest, kClose);
          out.reasoning.append(rest.substr(0, rest.size() - partial));
          held_.assign(rest.substr(rest.size() - partial));
          return out;
        }
        out.reasoning.append(rest.substr(0, close));
        rest = rest.substr(close + kClose.size());
        state_ = State::kAfterSpan;
        break;
      }
      case State::kAfterSpan: {
        size_t blanks = 0;
        while (blanks < rest.size() && is_blank(rest[blanks])) ++blanks;
        rest = rest.substr(blanks);
        if (!rest.empty()) state_ = State::kContent;
        break;
      }
      case State::kContent:
        out.content.append(rest);
        rest = {};
        break;
    }
  }
  return out;
}

ThinkSplitter::Parts ThinkSplitter::finish() {
  Parts out;
  if (state_ == State::kInside) {
    out.reasoning = std::move(held_);  // a partial "</think>" at the very end is the reasoning's
  } else if (state_ == State::kLead) {
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
