// Verifiers on crafted candidates: the arithmetic verifier (right chains, a wrong step, a
// wrong final answer, chained sums, products, decimals, prose without steps), regex, JSON
// schema, and the command verifier's process handling (exit codes, stdin, time limit,
// SIGPIPE, missing programs, concurrent use).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "decode/arithmetic.h"
#include "reasoning/verifiers.h"

namespace rpu::reasoning {
namespace {

using nlohmann::json;

Verdict arithmetic(std::string_view text) { return ArithmeticVerifier().check(text); }

TEST(ReasoningArithmetic, AllCorrect) {
  const Verdict v = arithmetic("45 - 18 = 27. 27 + 26 = 53. The answer is 53.");
  EXPECT_TRUE(v.pass) << v.reason;
  EXPECT_EQ(v.score, 1.0);
  EXPECT_EQ(v.reason, "3 checks correct");  // two steps and the final answer
}

TEST(ReasoningArithmetic, OneWrongStep) {
  const Verdict v = arithmetic("First 12 + 7 = 29.\nThen 29 * 2 = 58.");
  EXPECT_FALSE(v.pass);
  EXPECT_DOUBLE_EQ(v.score, 0.5);
  EXPECT_EQ(v.reason, "12 + 7 = 29: expected 19");
}

TEST(ReasoningArithmetic, WrongFinalAnswer) {
  const Verdict v = arithmetic("45 - 18 = 27. 27 + 26 = 53. The answer is 52.");
  EXPECT_FALSE(v.pass);
  EXPECT_NEAR(v.score, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(v.reason, "final answer 52 does not match the last step (27 + 26 = 53)");
  // The comparison is with the last step *before* the answer sentence.
  EXPECT_TRUE(arithmetic("2 + 2 = 4. Answer: 4. Check: 1 + 1 = 2").pass);
}

TEST(ReasoningArithmetic, ChainsAndPrecedence) {
  EXPECT_TRUE(arithmetic("3 + 4 + 5 = 12").pass);
  EXPECT_TRUE(arithmetic("2 + 3 * 4 = 14").pass);
  EXPECT_TRUE(arithmetic("(2 + 3) * 4 = 20").pass);
  EXPECT_TRUE(arithmetic("10 - 3 - 2 = 5").pass);
  EXPECT_TRUE(arithmetic("12 / 3 x 2 = 8").pass);
  const Verdict run_on = arithmetic("5 + 3 = 8 + 2 = 10");  // read as 5 + 3 = 8 and 8 + 2 = 10
  EXPECT_TRUE(run_on.pass) << run_on.reason;
  EXPECT_EQ(run_on.reason, "2 checks correct");
  const Verdict wrong = arithmetic("3 + 4 + 5 = 13");
  EXPECT_FALSE(wrong.pass);
  EXPECT_EQ(wrong.reason, "3 + 4 + 5 = 13: expected 12");
}

TEST(ReasoningArithmetic, MultiplicationSymbolsAndSeparators) {
  EXPECT_TRUE(arithmetic("6 x 7 = 42").pass);
  EXPECT_TRUE(arithmetic("6 \xC3\x97 7 = 42").pass);   // ×
  EXPECT_TRUE(arithmetic("84 \xC3\xB7 2 = 42").pass);  // ÷
  EXPECT_TRUE(arithmetic("6*7=42").pass);
  EXPECT_TRUE(arithmetic("1,200 + 34 = 1,234").pass);
  EXPECT_TRUE(arithmetic("$1,200 / 4 = $300").pass);
  EXPECT_TRUE(arithmetic("5 - 8 = -3").pass);
  EXPECT_TRUE(arithmetic("-3 * -2 = 6").pass);
  EXPECT_TRUE(arithmetic("7 \xE2\x88\x92 2 = 5").pass);  // U+2212 minus
  const Verdict v = arithmetic("6 x 7 = 48");
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.reason, "6 x 7 = 48: expected 42");
}

TEST(ReasoningArithmetic, Decimals) {
  EXPECT_TRUE(arithmetic("0.1 + 0.2 = 0.3").pass);
  EXPECT_TRUE(arithmetic("3 * 1.5 = 4.50").pass);
  EXPECT_TRUE(arithmetic("10 / 3 = 3.33").pass);   // rounded
  EXPECT_TRUE(arithmetic("2 / 3 = 0.66").pass);    // truncated
  EXPECT_TRUE(arithmetic("2 / 3 = 0.67").pass);    // rounded
  EXPECT_FALSE(arithmetic("10 / 3 = 3.34").pass);
  EXPECT_FALSE(arithmetic("7 / 2 = 3").pass);      // an integer result must be exact
  EXPECT_FALSE(arithmetic("1.5 + 1.5 = 3.1").pass);
  EXPECT_TRUE(arithmetic("1/2 + 1/4 = 3/4").pass);  // a fraction as the result
  const Verdict zero = arithmetic("5 / 0 = 0");
  EXPECT_FALSE(zero.pass);
  EXPECT_EQ(zero.reason, "5 / 0 = 0: expected undefined");
}

TEST(ReasoningArithmetic, NoStepsAndProse) {
  const Verdict v = arithmetic("Leo has 45 coins and finds some more. The answer is 53.");
  EXPECT_TRUE(v.pass);
  EXPECT_EQ(v.score, 0.5);
  EXPECT_EQ(v.reason, "no steps to check");
  // Things that look like arithmetic but are not steps.
  EXPECT_EQ(find_arithmetic_steps("x = 5, 2x + 3 = 13, a == 3 + 4, 3 apples + 4 = 7").size(), 0u);
  EXPECT_EQ(find_arithmetic_steps("2(3 + 4) = 14").size(), 0u);
  EXPECT_EQ(find_arithmetic_steps("3 + 4 <= 9").size(), 0u);
  EXPECT_EQ(find_arithmetic_steps("3 +\n4 = 7").size(), 0u);
  // A bullet dash is not a sign; numbered steps are fine.
  EXPECT_TRUE(arithmetic("- 5 + 3 = 8\n- 8 * 2 = 16").pass);
  EXPECT_TRUE(arithmetic("1. 5 + 3 = 8\n2) 8 * 2 = 16").pass);
}

TEST(ReasoningArithmetic, StepsAndFinalAnswer) {
  const auto steps = find_arithmetic_steps("So 45 - 18 = 27 coins, then 27 + 26 = 53!");
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].text, "45 - 18 = 27");
  EXPECT_EQ(steps[1].text, "27 + 26 = 53");
  EXPECT_TRUE(steps[0].correct && steps[1].correct);
  const auto final = find_final_answer("The answer is: **$1,234**.");
  ASSERT_TRUE(final.has_value());
  EXPECT_EQ(final->spelled, "1234");
  EXPECT_EQ(find_final_answer("Answer = -3")->spelled, "-3");
  EXPECT_FALSE(find_final_answer("no final answer 5").has_value());
}

TEST(ReasoningRegexVerifier, MatchesAnywhere) {
  RegexVerifier v("answer is \\d+");
  EXPECT_TRUE(v.check("... so the answer is 12.").pass);
  EXPECT_EQ(v.check("... so the answer is 12.").score, 1.0);
  const Verdict no = v.check("no answer");
  EXPECT_FALSE(no.pass);
  EXPECT_EQ(no.score, 0.0);
  EXPECT_THROW(RegexVerifier("[unclosed"), Error);
  const Verdict slow = RegexVerifier("(a+)+$").check(std::string(5000, 'a') + "b");
  EXPECT_FALSE(slow.pass);
  EXPECT_NE(slow.reason.find("budget"), std::string::npos);
}

TEST(ReasoningJsonSchemaVerifier, Verdicts) {
  const json schema = {{"type", "object"},
                       {"properties", {{"name", {{"type", "string"}}}, {"age", {{"type", "integer"}}}}},
                       {"required", {"name", "age"}}};
  JsonSchemaVerifier v(schema);
  EXPECT_TRUE(v.check(R"({"name": "Ann", "age": 31})").pass);
  // Key order and whitespace do not matter.
  const Verdict spaced = v.check("\n  {\n      \"age\":31,\n\n\n      \"name\":   \"Ann\"}\n");
  EXPECT_TRUE(spaced.pass) << spaced.reason;
  EXPECT_EQ(spaced.score, 1.0);
  EXPECT_FALSE(v.check(R"({"name": "Ann", "age": "31"})").pass);  // wrong type
  EXPECT_FALSE(v.check(R"({"name": "Ann"})").pass);               // missing required
  const Verdict garbage = v.check(R"({"name": "Ann", "age": 31} and more)");
  EXPECT_FALSE(garbage.pass);
  EXPECT_EQ(garbage.reason, "not valid JSON");
  // Model output nested 100,000 deep is refused before parsing (printing it overflowed the stack).
  EXPECT_EQ(JsonSchemaVerifier(json(true)).check(std::string(100000, '[') + std::string(100000, ']')).reason,
            "JSON nested too deep");
  EXPECT_FALSE(v.check("").pass);
  EXPECT_FALSE(v.check("[1, 2]").pass);
  EXPECT_THROW(JsonSchemaVerifier(json{{"type", "string"}, {"pattern", "a+"}}), Error);  // unsupported keyword
  EXPECT_TRUE(JsonSchemaVerifier(json(true)).check("[1, {\"a\": null}]").pass);  // schema true: any JSON
  const json items = {{"type", "array"}, {"items", {{"enum", {"x", "y"}}}}, {"minItems", 1}};
  EXPECT_FALSE(JsonSchemaVerifier(items).check("```\n[\"x\", \"y\"]").pass);  // fences are not JSON
  EXPECT_TRUE(JsonSchemaVerifier(items).check(" [\"x\",\n \"y\"] ").pass);
  EXPECT_FALSE(JsonSchemaVerifier(items).check("[]").pass);
  EXPECT_FALSE(JsonSchemaVerifier(items).check("[\"z\"]").pass);
}

TEST(ReasoningCommandVerifier, ExitStatus) {
  EXPECT_TRUE(CommandVerifier({"true"}, 2000).check("x").pass);
  const Verdict f = CommandVerifier({"false"}, 2000).check("x");
  EXPECT_FALSE(f.pass);
  EXPECT_EQ(f.score, 0.0);
  EXPECT_EQ(f.reason, "exit status 1");
  const Verdict out = CommandVerifier({"sh", "-c", "echo bad step >&2; exit 3"}, 2000).check("");
  EXPECT_FALSE(out.pass);
  EXPECT_EQ(out.reason, "exit status 3: bad step");
}

TEST(ReasoningCommandVerifier, ReadsCandidateOnStdin) {
  CommandVerifier grep({"grep", "-q", "53"}, 2000);
  EXPECT_TRUE(grep.check("27 + 26 = 53").pass);
  EXPECT_FALSE(grep.check("27 + 26 = 52").pass);
  // Big output is drained (the program must not block on a full pipe), and only the
  // first 4 KiB are kept for the reason.
  const std::string big(300000, 'z');
  const Verdict cat = CommandVerifier({"sh", "-c", "cat; exit 1"}, 5000).check(big);
  EXPECT_FALSE(cat.pass);
  EXPECT_EQ(cat.reason, "exit status 1: " + std::string(4096, 'z'));
}

TEST(ReasoningCommandVerifier, TimeLimitKillsTheProgram) {
  const auto t0 = std::chrono::steady_clock::now();
  const Verdict v = CommandVerifier({"sleep", "10"}, 300).check("x");
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.reason, "timed out after 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  // Its children die with it (the whole process group is killed), and nothing holding the
  // output pipe keeps the verifier waiting.
  const auto t1 = std::chrono::steady_clock::now();
  const Verdict tree = CommandVerifier({"sh", "-c", "sleep 10 & sleep 10; wait"}, 300).check("");
  EXPECT_EQ(tree.reason, "timed out after 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(5));
}

TEST(ReasoningCommandVerifier, EndlessOutputStillTimesOut) {
  const auto t0 = std::chrono::steady_clock::now();
  const Verdict v = CommandVerifier({"yes"}, 300).check("");
  EXPECT_EQ(v.reason, "timed out after 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  // A writer left behind by a program that exited does not hold the verdict up either.
  const Verdict left = CommandVerifier({"sh", "-c", "yes & exit 0"}, 5000).check("");
  EXPECT_TRUE(left.pass) << left.reason;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(ReasoningCommandVerifier, BackgroundChildDoesNotDelayTheVerdict) {
  const auto t0 = std::chrono::steady_clock::now();
  const Verdict v = CommandVerifier({"sh", "-c", "sleep 10 & exit 0"}, 5000).check("");
  EXPECT_TRUE(v.pass) << v.reason;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST(ReasoningCommandVerifier, ProgramIgnoringStdinDoesNotRaiseSigpipe) {
  const std::string megabyte(1 << 20, 'a');
  EXPECT_TRUE(CommandVerifier({"true"}, 5000).check(megabyte).pass);
  EXPECT_FALSE(CommandVerifier({"false"}, 5000).check(megabyte).pass);
  EXPECT_TRUE(CommandVerifier({"head", "-c", "1"}, 5000).check(megabyte).pass);
}

TEST(ReasoningCommandVerifier, MissingProgramThrows) {
  try {
    CommandVerifier({"rpu-no-such-program-xyz"}, 1000);
    FAIL() << "expected rpu::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reasoning.verifier.command"), std::string::npos);
  }
  EXPECT_THROW(CommandVerifier({"/nonexistent/prog"}, 1000), Error);
  EXPECT_THROW(CommandVerifier({"/etc/passwd"}, 1000), Error);  // not executable
  EXPECT_THROW(CommandVerifier({}, 1000), Error);
  EXPECT_THROW(CommandVerifier({"true"}, 0), Error);
  EXPECT_EQ(CommandVerifier({"true"}, 1000).program_path().front(), '/');
}

TEST(ReasoningCommandVerifier, ConcurrentChecks) {
  CommandVerifier grep({"grep", "-q", "53"}, 5000);
  std::vector<std::thread> threads;
  std::vector<int> passed(8, -1);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      int ok = 0;
      for (int k = 0; k < 5; ++k) ok += grep.check(i % 2 ? "is 53" : "is 52").pass;
      passed[static_cast<size_t>(i)] = ok;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(passed[static_cast<size_t>(i)], i % 2 ? 5 : 0) << i;
}

std::string make_error(const json& spec) {
  try {
    make_verifier(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReasoningMakeVerifier, TypesAndErrors) {
  EXPECT_EQ(make_verifier({{"type", "arithmetic"}})->name(), "arithmetic");
  EXPECT_EQ(make_verifier({{"type", "regex"}, {"pattern", "\\d"}})->name(), "regex");
  EXPECT_EQ(make_verifier({{"type", "json_schema"}, {"schema", {{"type", "integer"}}}})->name(), "json_schema");
  const auto cmd = make_verifier({{"type", "command"}, {"command", {"grep", "-q", "7"}}, {"timeout_ms", 1000}});
  EXPECT_EQ(cmd->name(), "command");
  EXPECT_TRUE(cmd->check("17").pass);
  EXPECT_EQ(make_verifier({{"type", "logprob"}}), nullptr);
  EXPECT_EQ(make_verifier({{"type", "judge"}, {"model", "x.gguf"}}), nullptr);
  EXPECT_NE(make_error({{"type", "oracle"}}).find("reasoning.verifier.type"), std::string::npos);
  EXPECT_NE(make_error(json::object()).find("reasoning.verifier.type"), std::string::npos);
  EXPECT_NE(make_error({{"type", "regex"}}).find("reasoning.verifier.pattern"), std::string::npos);
  EXPECT_NE(make_error({{"type", "regex"}, {"pattern", "("}}).find("reasoning.verifier.pattern"), std::string::npos);
  EXPECT_NE(make_error({{"type", "json_schema"}}).find("reasoning.verifier.schema"), std::string::npos);
  EXPECT_NE(make_error({{"type", "json_schema"}, {"schema", 3}}).find("reasoning.verifier.schema"), std::string::npos);
  EXPECT_NE(make_error({{"type", "command"}, {"command", "grep -q 7"}}).find("reasoning.verifier.command"),
            std::string::npos);
  EXPECT_NE(make_error({{"type", "command"}, {"command", json::array()}}).find("reasoning.verifier.command"),
            std::string::npos);
  EXPECT_NE(make_error({{"type", "command"}, {"command", {"no-such-prog-rpu"}}}).find("reasoning.verifier.command"),
            std::string::npos);
  EXPECT_NE(make_error({{"type", "command"}, {"command", {"true"}}, {"timeout_ms", -5}}).find("reasoning.verifier.timeout_ms"),
            std::string::npos);
  EXPECT_NE(make_error({{"type", "command"}, {"command", {"true"}}, {"timeout_ms", 1.5}}).find("reasoning.verifier.timeout_ms"),
            std::string::npos);
}

}  // namespace
}  // namespace rpu::reasoning
