// Calculator decoding (src/decode/calculator.h). Oracles: the arithmetic verifier's reading
// (find_arithmetic_steps: every step a random walk under the mask completes must check out),
// results worked out by hand, and the matcher's own byte-level advance(): its mask must agree
// with advance() on every token of a real vocabulary.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "decode/arithmetic.h"
#include "decode/calculator.h"
#include "grammar_test_util.h"

namespace rpu {
namespace {

TEST(CalculatorTest, ValueBeforeEqualsReadsTheStepTheVerifierWouldCheck) {
  EXPECT_EQ(value_before_equals("Then 27 + 26 ="), 53);
  EXPECT_EQ(value_before_equals("Then 27 + 26 = "), 53);
  EXPECT_EQ(value_before_equals("2 + 3 * 4 ="), 14);
  EXPECT_EQ(value_before_equals("(3 + 4) x 2 ="), 14);
  EXPECT_EQ(value_before_equals("$1,200 / 4 ="), 300);
  EXPECT_EQ(value_before_equals("45 - 18 = 27 + 26 ="), 53);  // a run-on chain: the second step
  EXPECT_EQ(value_before_equals("5 - 8 ="), -3);
  EXPECT_FALSE(value_before_equals("45 - 18 = 27 ="));    // "27" alone is no step
  EXPECT_FALSE(value_before_equals("3 apples + 4 ="));   // a word ends an expression
  EXPECT_FALSE(value_before_equals("2(3 + 4) ="));       // not right after a number
  EXPECT_FALSE(value_before_equals("x = 5, 2x + 3 ="));
  EXPECT_FALSE(value_before_equals("3 + 4 = 7"));        // the result is already written
  EXPECT_FALSE(value_before_equals("10 / 0 ="));         // no finite value
  EXPECT_FALSE(value_before_equals(""));
}

TEST(CalculatorTest, SpellingIsExactOrLeftToTheModel) {
  EXPECT_EQ(calculator_spelling(53), "53");
  EXPECT_EQ(calculator_spelling(-6), "-6");
  EXPECT_EQ(calculator_spelling(2.25L), "2.25");
  EXPECT_EQ(calculator_spelling(9.0L / 4), "2.25");
  EXPECT_FALSE(calculator_spelling(10.0L / 3));  // needs more than 6 decimals
  EXPECT_FALSE(calculator_spelling(1e16L));      // more digits than a long double keeps exact
  EXPECT_FALSE(calculator_spelling(std::numeric_limits<long double>::quiet_NaN()));
}

// A fixed number of decimals (a unit conversion's route): every value written with them,
// rounded half away from zero, and each spelling one the verifier finds right.
TEST(CalculatorTest, FixedDecimalsRoundHalfAwayFromZero) {
  EXPECT_EQ(calculator_spelling(62.6L * 1.609344L, 2), "100.74");  // 100.7449344
  EXPECT_EQ(calculator_spelling((50.6L - 32) * 5 / 9, 2), "10.33");
  EXPECT_EQ(calculator_spelling((-19.5L - 32) * 5 / 9, 2), "-28.61");
  EXPECT_EQ(calculator_spelling((98.6L - 32) * 5 / 9, 2), "37.00");
  EXPECT_EQ(calculator_spelling(2.675L, 2), "2.68");   // the binary value is just below the half
  EXPECT_EQ(calculator_spelling(-2.675L, 2), "-2.68");
  EXPECT_EQ(calculator_spelling(0.004L, 2), "0.00");
  EXPECT_EQ(calculator_spelling(-0.004L, 2), "0.00");  // no "-0.00"
  EXPECT_EQ(calculator_spelling(0.5L, 0), "1");
  EXPECT_EQ(calculator_spelling(10.0L / 3, 3), "3.333");
  EXPECT_FALSE(calculator_spelling(1e10L, 2));  // decimals past 1e9 are not held exactly
  EXPECT_FALSE(calculator_spelling(1.5L, 7));   // more decimals than the calculator writes
  for (const char* step : {"62.6 * 1.609344 = 100.74", "(50.6 - 32) * 5 / 9 = 10.33", "(98.6 - 32) * 5 / 9 = 37.00",
                           "(-19.5 - 32) * 5 / 9 = -28.61"}) {
    const std::vector<ArithmeticStep> steps = find_arithmetic_steps(step);
    ASSERT_EQ(steps.size(), 1u) << step;
    EXPECT_TRUE(steps[0].correct) << step;
    CalculatorScan s;
    s.decimals = 2;
    EXPECT_TRUE(CalculatorMatcher::advance(s, step)) << step;
  }
  CalculatorScan s;
  s.decimals = 2;
  EXPECT_FALSE(CalculatorMatcher::advance(s, "62.6 * 1.609344 = 100.75"));
}

bool advances(std::string_view text) {
  CalculatorScan s;
  return CalculatorMatcher::advance(s, text);
}

TEST(CalculatorTest, RightResultsPassAndWrongOnesAreRefused) {
  EXPECT_TRUE(advances("Leo has 17. 17 - 10 = 7. The answer is 7."));
  EXPECT_TRUE(advances("303 + 85 = 388. 388 - 20 = 368.\n12 * 3 =36"));
  EXPECT_TRUE(advances("1,200 / 4 = $300 each"));
  EXPECT_TRUE(advances("5 - 8 = -3"));
  EXPECT_TRUE(advances("3 apples + 4 = 9 pears"));  // not a step: nothing is due
  EXPECT_TRUE(advances("10 / 3 = 3.33"));            // left to the model
  EXPECT_FALSE(advances("17 - 10 = 9"));
  EXPECT_FALSE(advances("17 - 10 = 70"));   // the number must end with the result
  EXPECT_FALSE(advances("17 - 10 = 7.5"));
  EXPECT_FALSE(advances("17 - 10 = 7,5"));
  EXPECT_FALSE(advances("17 - 10 =  7"));   // one blank at most
  EXPECT_FALSE(advances("17 - 10 = seven"));
  EXPECT_FALSE(advances("17 - 10 =\n7"));
}

TEST(CalculatorTest, ALongLineIsCutWhereTheReadingStaysTheSame) {
  std::string prose;
  while (prose.size() < 1000) prose += "Some words without numbers, ";
  EXPECT_TRUE(advances(prose + "2 + 2 = 4"));
  EXPECT_FALSE(advances(prose + "2 + 2 = 5"));
  std::string digits;
  while (digits.size() < 1000) digits += "1 + ";
  // Cut mid-expression: the calculator stays out of it until a letter or a line break.
  EXPECT_TRUE(advances(digits + "1 = 5"));
  EXPECT_FALSE(advances(digits + "1 = 5 and 2 + 2 = 5"));
  EXPECT_FALSE(advances(digits + "1 = 5\n2 + 2 = 5"));
}

struct Fixture {
  test::LoadedVocab loaded = test::load_fixture_vocab("gpt-2");
  std::vector<int32_t> tokens(const std::string& text) const { return loaded.tokenizer->encode(text, false, false); }
  bool accept_text(CalculatorMatcher& m, const std::string& text) const {
    for (int32_t t : tokens(text))
      if (!m.accept(t)) return false;
    return true;
  }
};

// The mask allows exactly the tokens advance() accepts (a control token or the end of
// generation: only when no result is due).
void expect_mask_matches_advance(const Fixture& f, const CalculatorMatcher& m) {
  const GrammarVocab& vocab = *f.loaded.vocab;
  std::vector<float> logits(static_cast<size_t>(vocab.size()), 0.0f);
  m.mask_logits(logits);
  for (int32_t id = 0; id < vocab.size(); ++id) {
    CalculatorScan s = m.scan();
    const std::string& piece = vocab.piece(id);
    const bool ok = piece.empty() ? s.result.empty() : CalculatorMatcher::advance(s, piece);
    const bool allowed = logits[static_cast<size_t>(id)] != -std::numeric_limits<float>::infinity();
    ASSERT_EQ(allowed, ok) << "token " << id << " '" << piece << "'";
  }
}

TEST(CalculatorTest, MaskAgreesWithAdvanceOnEveryToken) {
  Fixture f;
  for (const std::string prefix : {"", "Leo has 17 cards. 17 - 10", "Leo has 17 cards. 17 - 10 =",
                                   "17 - 10 = ", "17 - 10 = $", "17 - 10 = 7", "17 - 10 = 7.", "So 2 * 21 = 4"}) {
    CalculatorMatcher m(f.loaded.vocab);
    ASSERT_TRUE(advances(prefix)) << prefix;
    ASSERT_TRUE(f.accept_text(m, prefix)) << prefix;
    SCOPED_TRACE(prefix);
    expect_mask_matches_advance(f, m);
  }
}

// Whatever a sampler picks under the mask after "a op b =", the verifier finds the step right.
TEST(CalculatorTest, EveryStepARandomWalkUnderTheMaskCompletesChecksOut) {
  Fixture f;
  std::mt19937 rng(11);
  const GrammarVocab& vocab = *f.loaded.vocab;
  std::vector<float> logits(static_cast<size_t>(vocab.size()));
  const char* ops[] = {"+", "-", "*", "/", "x"};
  for (int walk = 0; walk < 60; ++walk) {
    const int a = std::uniform_int_distribution<int>(0, 999)(rng);
    const int b = std::uniform_int_distribution<int>(1, 99)(rng);
    const std::string prompt = std::to_string(a) + " " + ops[walk % 5] + " " + std::to_string(b) + " =";
    CalculatorMatcher m(f.loaded.vocab);
    ASSERT_TRUE(f.accept_text(m, prompt));
    const bool due = !m.scan().result.empty();
    std::string text = prompt;
    for (int step = 0; step < 6; ++step) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      m.mask_logits(logits);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < vocab.size(); ++id)
        if (logits[static_cast<size_t>(id)] == 0.0f && !vocab.piece(id).empty()) allowed.push_back(id);
      ASSERT_FALSE(allowed.empty()) << text;
      const int32_t t = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
      ASSERT_TRUE(m.accept(t));
      text += vocab.piece(t);
    }
    ASSERT_TRUE(m.scan().result.empty()) << "six tokens and the result is still due: " << text;
    const auto steps = find_arithmetic_steps(text);
    if (!due) continue;  // 7 / 3: left to the model
    ASSERT_FALSE(steps.empty()) << text;
    EXPECT_TRUE(steps.front().correct) << text;
  }
}

TEST(CalculatorTest, NoControlTokenWhileAResultIsDue) {
  Fixture f;
  CalculatorMatcher m(f.loaded.vocab);
  ASSERT_TRUE(f.accept_text(m, "2 + 2 ="));
  for (int32_t eog : f.loaded.vocab->end_of_generation_tokens()) {
    CalculatorMatcher copy = m;
    EXPECT_FALSE(copy.accept(eog));
  }
  ASSERT_TRUE(f.accept_text(m, " 4"));
  for (int32_t eog : f.loaded.vocab->end_of_generation_tokens()) {
    CalculatorMatcher copy = m;
    EXPECT_TRUE(copy.accept(eog));
  }
}

}  // namespace
}  // namespace rpu
