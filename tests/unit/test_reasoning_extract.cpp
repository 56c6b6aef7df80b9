// Answer extraction against hand-written oracles: each kind on crafted texts (several
// numbers, separators, signs, JSON in fences, nested paths, choice letter variants, no
// match), and spec errors that name the offending field.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "reasoning/extract.h"
#include "decode/numbers.h"
#include "reasoning/pattern.h"

namespace rpu::reasoning {
namespace {

using nlohmann::json;

std::optional<std::string> extract(const json& spec, std::string_view text) {
  return extract_answer(parse_extract_spec(spec), text);
}

// The rpu::Error message of parsing `spec` (empty when it parses).
std::string spec_error(const json& spec) {
  try {
    parse_extract_spec(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReasoningNumbers, Normalize) {
  EXPECT_EQ(normalize_number("53"), "53");
  EXPECT_EQ(normalize_number("53.0"), "53");
  EXPECT_EQ(normalize_number("053"), "53");
  EXPECT_EQ(normalize_number("+53"), "53");
  EXPECT_EQ(normalize_number("+1,234.50"), "1234.5");
  EXPECT_EQ(normalize_number("-0.0"), "0");
  EXPECT_EQ(normalize_number("0.250"), "0.25");
  EXPECT_EQ(normalize_number("000"), "0");
}

TEST(ReasoningNumbers, FindNumbers) {
  const auto nums = find_numbers("45-18 is 27, then (-5) and 1,234 but 1,2,3 and 12,3456 x-1 v2.");
  std::vector<std::string> got;
  for (const auto& n : nums) got.push_back(n.normalized);
  EXPECT_EQ(got, (std::vector<std::string>{"45", "18", "27", "-5", "1234", "1", "2", "3", "12", "3456", "1", "2"}));
  ASSERT_EQ(find_numbers("3.50").size(), 1u);
  EXPECT_EQ(find_numbers("3.50")[0].decimals, 2);
}

TEST(ReasoningExtract, LastNumberDefault) {
  const ExtractSpec spec = parse_extract_spec(json());
  EXPECT_EQ(spec.kind, ExtractSpec::Kind::kLastNumber);
  EXPECT_EQ(extract_answer(spec, "45 - 18 = 27. 27 + 26 = 53. The answer is 53."), "53");
  EXPECT_EQ(extract_answer(spec, "The total is 1,234 dollars"), "1234");
  EXPECT_EQ(extract_answer(spec, "about 1,234,567.80 people"), "1234567.8");
  EXPECT_EQ(extract_answer(spec, "It dropped to -7 degrees."), "-7");
  EXPECT_EQ(extract_answer(spec, "x = 053.0"), "53");
  EXPECT_EQ(extract_answer(spec, "Price: $12.50!"), "12.5");
  EXPECT_EQ(extract_answer(spec, "from 10 to +3"), "3");
  EXPECT_EQ(extract_answer(spec, "45-18"), "18");  // a hyphen after a digit is not a sign
  EXPECT_EQ(extract_answer(spec, "no digits here"), std::nullopt);
  EXPECT_EQ(extract_answer(spec, ""), std::nullopt);
  EXPECT_EQ(extract({{"type", "last_number"}}, "1, 2, 3"), "3");
}

TEST(ReasoningExtract, RegexGroupAndLastMatch) {
  const json spec = {{"type", "regex"}, {"pattern", "ANSWER: *([A-Za-z0-9]+)"}};
  EXPECT_EQ(extract(spec, "ANSWER: foo\nmore\nANSWER:  bar  \n"), "bar");
  EXPECT_EQ(extract(spec, "nothing"), std::nullopt);
  // Group 0 = whole match, trimmed.
  EXPECT_EQ(extract({{"type", "regex"}, {"pattern", "#\\s*\\w+\\s*"}, {"group", 0}}, "# a # b "), "# b");
  // A pattern without groups answers with its whole match by default.
  EXPECT_EQ(extract({{"type", "regex"}, {"pattern", "[0-9]+"}}, "a1 b22 c333"), "333");
  // The last match in which the group took part counts.
  EXPECT_EQ(extract({{"type", "regex"}, {"pattern", "x(\\d)|y"}}, "x1 x2 y"), "2");
  // An empty capture is no answer.
  EXPECT_EQ(extract({{"type", "regex"}, {"pattern", "=(\\s*)$"}}, "a =  "), std::nullopt);
}

TEST(ReasoningExtract, RegexBudgetStopsCatastrophicPattern) {
  const json spec = {{"type", "regex"}, {"pattern", "(a+)+$"}};
  const std::string text = std::string(5000, 'a') + "b";
  EXPECT_EQ(extract(spec, text), std::nullopt);
  Pattern p("(a+)+$", "test");
  Pattern::Match m;
  EXPECT_EQ(p.find_last(text, m), Pattern::Status::kBudgetExceeded);
}

// Every match of "(?:(a|aa)+y|a)" over a run of a's backtracks through the run first (about the
// step limit each), so a scan of many matches has a time budget as a whole. A zero budget stops
// a scan after its first match whatever the machine; the default lets an ordinary scan finish.
TEST(ReasoningExtract, RegexScanHasATimeBudget) {
  std::string text;
  for (int i = 0; i < 4; ++i) text += std::string(24, 'a') + "b";
  Pattern::Match m;
  PatternBudget none;
  none.scan_time = std::chrono::milliseconds(0);
  EXPECT_EQ(Pattern("(?:(a|aa)+y|a)", "test", none).find_last(text, m), Pattern::Status::kBudgetExceeded);
  EXPECT_EQ(Pattern("(?:(a|aa)+y|a)", "test", none).find(text, 0, m), Pattern::Status::kMatch);
  ASSERT_EQ(Pattern("b", "test", PatternBudget{}).find_last(text, m), Pattern::Status::kMatch);
  EXPECT_EQ(m.begin, text.size() - 1);
}

TEST(ReasoningExtract, JsonPath) {
  const std::string fenced = "Here you go:\n```json\n{\"answer\": {\"value\": 42, \"unit\": \"kg\"},"
                             " \"items\": [{\"id\": 7}, {\"id\": \"x\"}]}\n```\nDone {not json}.";
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "$.answer.value"}}, fenced), "42");
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "answer.unit"}}, fenced), "kg");  // string unquoted
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "items[0].id"}}, fenced), "7");
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "$.items[-1].id"}}, fenced), "x");
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "$.answer"}}, fenced), "{\"unit\":\"kg\",\"value\":42}");
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "$['answer'][\"unit\"]"}}, fenced), "kg");
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "$.missing"}}, fenced), std::nullopt);
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "items[5]"}}, fenced), std::nullopt);
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "$"}}, "[1, 2,  3]"), "[1,2,3]");
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "$[1]"}}, "  [1, 2, 3]  "), "2");
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "a"}}, "{\"a\": null}"), std::nullopt);
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "a"}}, "no json at all"), std::nullopt);
  // The first embedded value that parses: a broken one before it is skipped.
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "a"}}, "{a: 1} then {\"a\": [true]}"), "[true]");
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "s"}}, "{\"s\": \"br}ace\"}"), "br}ace");
  // Model output nested 100,000 deep is not JSON here (copying it overflowed the stack).
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "$"}}, deep), std::nullopt);
  EXPECT_EQ(extract({{"type", "json_path"}, {"path", "a"}}, "{\"a\": " + std::string(200, '[') + std::string(200, ']') + "}"),
            std::nullopt);
}

TEST(ReasoningExtract, Choice) {
  const json spec = {{"type", "choice"}};
  EXPECT_EQ(extract(spec, "I think (B) is right."), "B");
  EXPECT_EQ(extract(spec, "Option C) looks best"), "C");
  EXPECT_EQ(extract(spec, "A dog... so the answer is D."), "D");
  EXPECT_EQ(extract(spec, "Answer: E"), "E");
  EXPECT_EQ(extract(spec, "The correct answer is (A), not (B)? No: the answer is **C**."), "C");
  EXPECT_EQ(extract(spec, "Let me think.\nB\n"), "B");
  EXPECT_EQ(extract(spec, "Reasoning...\n  C.\n"), "C");
  EXPECT_EQ(extract(spec, "The answer is A\n(b) is lower case"), "A");
  // An answer phrase beats later restated options.
  EXPECT_EQ(extract(spec, "The answer is B.\nWhy not the others: (A) 5, (C) 7, D) 8."), "B");
  EXPECT_EQ(extract(spec, "Options: (A) 5 (B) 6 (C) 7"), "C");  // no phrase: the last one
  EXPECT_EQ(extract(spec, "A cat sat on a mat."), std::nullopt);  // an article is not an answer
  EXPECT_EQ(extract(spec, "answer is F"), std::nullopt);         // not among the choices
  EXPECT_EQ(extract(spec, "The answer is BA"), std::nullopt);
  EXPECT_EQ(extract({{"type", "choice"}, {"choices", "ABCDEF"}}, "answer is F"), "F");
  EXPECT_EQ(extract({{"type", "choice"}, {"choices", "XY"}}, "(A) or (Y)"), "Y");
}

TEST(ReasoningExtract, Text) {
  const json spec = {{"type", "text"}};
  EXPECT_EQ(extract(spec, "  Paris.  "), "paris");
  EXPECT_EQ(extract(spec, "The  Eiffel\n\tTower."), "the eiffel tower");
  EXPECT_EQ(extract(spec, "ok ."), "ok");
  EXPECT_EQ(extract(spec, " \n "), std::nullopt);
  EXPECT_EQ(extract("text", "YES"), "yes");  // string shorthand for {"type": ...}
}

TEST(ReasoningExtract, SpecErrorsNameTheField) {
  EXPECT_NE(spec_error(json::array()).find("reasoning.extract"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "magic"}}).find("reasoning.extract.type"), std::string::npos);
  EXPECT_NE(spec_error({{"type", 3}}).find("reasoning.extract.type"), std::string::npos);
  EXPECT_NE(spec_error({{"pattern", "x"}}).find("reasoning.extract.type"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "regex"}}).find("reasoning.extract.pattern"), std::string::npos);
  const std::string bad_regex = spec_error({{"type", "regex"}, {"pattern", "(unclosed"}});
  EXPECT_NE(bad_regex.find("reasoning.extract.pattern"), std::string::npos);
  EXPECT_NE(bad_regex.find("(unclosed"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "regex"}, {"pattern", "(a)"}, {"group", 2}}).find("reasoning.extract.group"),
            std::string::npos);
  EXPECT_NE(spec_error({{"type", "regex"}, {"pattern", "(a)"}, {"group", "1"}}).find("reasoning.extract.group"),
            std::string::npos);
  EXPECT_NE(spec_error({{"type", "regex"}, {"pattern", "(a)"}, {"group", -1}}).find("reasoning.extract.group"),
            std::string::npos);
  EXPECT_NE(spec_error({{"type", "json_path"}}).find("reasoning.extract.path"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "json_path"}, {"path", "a[x]"}}).find("reasoning.extract.path"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "json_path"}, {"path", "a..b"}}).find("reasoning.extract.path"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "json_path"}, {"path", "$['a"}}).find("reasoning.extract.path"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "choice"}, {"choices", "abc"}}).find("reasoning.extract.choices"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "choice"}, {"choices", "AA"}}).find("reasoning.extract.choices"), std::string::npos);
  EXPECT_NE(spec_error({{"type", "choice"}, {"choices", ""}}).find("reasoning.extract.choices"), std::string::npos);
  EXPECT_EQ(spec_error({{"type", "regex"}, {"pattern", "(a)(b)"}, {"group", 2}}), "");
  EXPECT_EQ(spec_error({{"type", "regex"}, {"pattern", "(a)(b)"}, {"group", 2.0}}), "");
  EXPECT_NE(spec_error({{"type", "regex"}, {"pattern", "(a)(b)"}, {"group", 1.5}}).find("reasoning.extract.group"),
            std::string::npos);
  EXPECT_EQ(spec_error({{"type", "json_path"}, {"path", "items[0].id"}}), "");
}

TEST(ReasoningExtract, HandBuiltRegexSpecCompilesOnUse) {
  ExtractSpec spec;
  spec.kind = ExtractSpec::Kind::kRegex;
  spec.pattern = "is (\\d+)";
  EXPECT_EQ(extract_answer(spec, "it is 4, no it is 5"), "5");
  spec.pattern = "(";
  EXPECT_THROW(extract_answer(spec, "x"), Error);
}

}  // namespace
}  // namespace rpu::reasoning
