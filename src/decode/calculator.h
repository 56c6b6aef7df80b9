// Calculator decoding: the results of the arithmetic a model writes are computed, not guessed.
// A small model sets a word problem up right far more often than it adds right: the eleventh
// conversion run's word-problem generalist wrote "17 - 10 = 9", "68 + 31 = 109", "754 + 256 =
// 1000" with the right operands. Like the calculator GSM8K's solvers were sampled with, once the
// output ends with a step's '=' ("27 + 26 ="), the result is written for the model: the next
// bytes must be an optional blank, an optional '$' and the value (53), and the number must end
// there (no digit right after it, nor after a '.' or ',' that follows it). The model goes on
// from a right result, so later steps start from it too.
//
// What a step is, is the arithmetic verifier's reading (decode/arithmetic.h): a step the
// calculator completes is one the verifier checks, and finds right. Results are written as
// format_number spells them ("53", "-6", "2.25"); a value that needs more than 6 decimals
// (10 / 3), more than 15 digits, or decimals past 1e9 is left to the model, as is division by zero.
//
// How: the matcher keeps the output's current line (a step never crosses a line break). With
// no result due, only tokens with a '=' (GrammarVocab::equals_tokens) can make one due, so
// only they are checked, and all tokens' first two bytes just after a result; with a result
// due, masks walk the vocabulary's byte trie along the few prefixes that write it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rpu {

class GrammarVocab;

// The spelling the calculator writes for a step's value, or nullopt when it leaves it to the
// model (see above). With `decimals` >= 0 (a route whose teacher writes every result with that
// many, "100.74", "37.00": unit conversions) every value is written so, rounded half away from
// zero, which the verifier reads as right: a long fraction is then written too, not left.
std::optional<std::string> calculator_spelling(long double value, int decimals = -1);
inline constexpr int kMaxCalculatorDecimals = 6;  // the most decimals the calculator writes

// Where the scan of the output stands.
struct CalculatorScan {
  std::string line;    // the output since the last line break (or a cut at a letter)
  bool cut = false;    // the line was cut mid-expression (too long): no result until a break
  std::string result;  // the result due, as written; empty: none
  uint8_t written = 0; // bytes of `result` written so far
  bool spaced = false; // a blank was written before the result (at most one)
  bool dollar = false; // a '$' was written before the result (at most one, after the blank)
  enum class Guard : uint8_t { kNone, kAfterNumber, kAfterMark } guard = Guard::kNone;
  int decimals = -1;   // calculator_spelling's
};

class CalculatorMatcher {
 public:
  explicit CalculatorMatcher(std::shared_ptr<const GrammarVocab> vocab, int decimals = -1);

  void mask_logits(std::span<float> logits) const;  // forbidden tokens -> -inf
  bool accept(int32_t token);                        // false: the token writes a wrong result
  // Bytes the scan accepts from `scan` (false: they write a wrong result), for tests and accept().
  static bool advance(CalculatorScan& scan, std::string_view bytes);
  const CalculatorScan& scan() const { return scan_; }

 private:
  static bool step(CalculatorScan& scan, uint8_t byte);

  std::shared_ptr<const GrammarVocab> vocab_;
  CalculatorScan scan_;
};

}  // namespace rpu
