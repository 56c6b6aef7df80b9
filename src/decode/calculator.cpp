#include "decode/calculator.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "decode/arithmetic.h"
#include "decode/grammar.h"
#include "decode/numbers.h"

namespace rpu {
namespace {

constexpr size_t kMaxLine = 256;  // bytes of the current line kept; a step is far shorter
constexpr int kMaxDecimals = kMaxCalculatorDecimals;
constexpr long double kMaxMagnitude = 1e15L;  // beyond: a long double no longer holds every digit
constexpr long double kMaxFractionMagnitude = 1e9L;

bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

// A byte the arithmetic reader always takes as the end of an expression: a letter other than
// 'x' (which may be "times"). Cutting the line right after one reads the rest as before.
bool always_breaks(uint8_t b) { return ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')) && b != 'x'; }

// Appends `b` to the scan's line; a line break starts a new one, and a line past kMaxLine is
// cut after its last letter (or, with none, marked cut until the next one).
void append(CalculatorScan& s, uint8_t b) {
  if (b == '\n') {
    s.line.clear();
    s.cut = false;
    return;
  }
  s.line.push_back(static_cast<char>(b));
  if (s.cut && always_breaks(b)) {
    s.line.clear();
    s.cut = false;
  }
  if (s.line.size() <= kMaxLine) return;
  size_t at = s.line.size();
  while (at > 0 && !always_breaks(static_cast<uint8_t>(s.line[at - 1]))) --at;
  if (at > 0) {
    s.line.erase(0, at);
  } else {
    s.line.clear();
    s.cut = true;
  }
}

// Whether the first bytes of `piece` keep the number just written whole (Guard).
bool guard_allows(CalculatorScan::Guard guard, std::string_view piece) {
  for (const char ch : piece) {
    const auto b = static_cast<uint8_t>(ch);
    if (guard == CalculatorScan::Guard::kNone) return true;
    if (is_digit(b)) return false;
    guard = guard == CalculatorScan::Guard::kAfterNumber && (b == '.' || b == ',') ? CalculatorScan::Guard::kAfterMark
                                                                                  : CalculatorScan::Guard::kNone;
  }
  return true;
}

}  // namespace

std::optional<std::string> calculator_spelling(long double value, int decimals) {
  if (!std::isfinite(value) || std::fabs(value) >= kMaxMagnitude) return std::nullopt;
  if (decimals >= 0) {
    if (decimals > kMaxDecimals || std::fabs(value) >= kMaxFractionMagnitude) return std::nullopt;
    const long double scale = std::pow(10.0L, decimals);
    // The relative nudge keeps a value a binary fraction puts just below a half (2.675) rounding
    // as its decimal spelling does.
    long double units = std::round(std::fabs(value) * scale * (1 + 1e-12L));
    if (units == 0) value = 0;  // no "-0.00"
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.0Lf", units);
    std::string digits = buffer;
    if (decimals > 0) {
      if (digits.size() <= static_cast<size_t>(decimals)) digits.insert(0, static_cast<size_t>(decimals) + 1 - digits.size(), '0');
      digits.insert(digits.size() - static_cast<size_t>(decimals), ".");
    }
    return (value < 0 ? "-" : "") + digits;
  }
  if (std::fabs(value - std::round(value)) <= 1e-9L * std::max<long double>(1, std::fabs(value))) return format_number(value);
  // A fraction: only where a long double still holds 6 decimals exactly enough to tell (below
  // 1e9), and only when they end it (10 / 3 does not end).
  if (std::fabs(value) >= kMaxFractionMagnitude) return std::nullopt;
  const long double scaled = value * std::pow(10.0L, kMaxDecimals);
  if (std::fabs(scaled - std::round(scaled)) > 1e-3L) return std::nullopt;
  return format_number(value);
}

CalculatorMatcher::CalculatorMatcher(std::shared_ptr<const GrammarVocab> vocab, int decimals) : vocab_(std::move(vocab)) {
  scan_.decimals = decimals;
}

bool CalculatorMatcher::step(CalculatorScan& s, uint8_t b) {
  if (!s.result.empty()) {
    if (s.written == 0 && b == ' ' && !s.spaced && !s.dollar) {
      s.spaced = true;
    } else if (s.written == 0 && b == '$' && !s.dollar) {
      s.dollar = true;
    } else {
      if (static_cast<char>(b) != s.result[s.written]) return false;
      if (++s.written == s.result.size()) {
        s.result.clear();
        s.guard = CalculatorScan::Guard::kAfterNumber;
      }
    }
    append(s, b);
    return true;
  }
  if (s.guard != CalculatorScan::Guard::kNone) {
    if (is_digit(b)) return false;
    const bool mark = s.guard == CalculatorScan::Guard::kAfterNumber && (b == '.' || b == ',');
    s.guard = mark ? CalculatorScan::Guard::kAfterMark : CalculatorScan::Guard::kNone;
  }
  append(s, b);
  if (b != '=' || s.cut) return true;
  if (const auto value = value_before_equals(s.line)) {
    if (auto spelled = calculator_spelling(*value, s.decimals)) {
      s.result = std::move(*spelled);
      s.written = 0;
      s.spaced = s.dollar = false;
    }
  }
  return true;
}

bool CalculatorMatcher::advance(CalculatorScan& scan, std::string_view bytes) {
  for (const char ch : bytes) {
    if (!step(scan, static_cast<uint8_t>(ch))) return false;
  }
  return true;
}

void CalculatorMatcher::mask_logits(std::span<float> logits) const {
  constexpr float kBlocked = -std::numeric_limits<float>::infinity();
  const auto n = static_cast<size_t>(vocab_->size());
  if (scan_.result.empty()) {
    // Nothing due: a token is refused only when its own '=' makes a result due that it then
    // writes wrong, or when it glues a digit to the number just written.
    if (scan_.guard != CalculatorScan::Guard::kNone) {
      for (size_t id = 0; id < n; ++id)
        if (!guard_allows(scan_.guard, vocab_->piece(static_cast<int32_t>(id)))) logits[id] = kBlocked;
    }
    for (int32_t id : vocab_->equals_tokens()) {
      CalculatorScan s = scan_;
      if (!advance(s, vocab_->piece(id))) logits[static_cast<size_t>(id)] = kBlocked;
    }
    return;
  }
  // A result is due: walk the byte trie along the prefixes that write it; everything not
  // reached (control tokens, the end of generation) is blocked.
  vocab_->mask_by_scan(scan_, &CalculatorMatcher::step, logits);
}

bool CalculatorMatcher::accept(int32_t token) {
  if (token < 0 || token >= vocab_->size()) return false;
  const std::string& piece = vocab_->piece(token);
  if (piece.empty()) return scan_.result.empty();  // a control token: not while a result is due
  CalculatorScan s = scan_;
  if (!advance(s, piece)) return false;
  scan_ = std::move(s);
  return true;
}

}  // namespace rpu
