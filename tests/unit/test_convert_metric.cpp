// The conversion loop's metric (src/convert/metric.h) on the cases bench/convert/score.mjs
// decides: the same answer shapes, the same edge cases (numbers as strings, code fences,
// "The answer is" after other numbers), with the teacher's answer in place of the label.
#include <gtest/gtest.h>

#include "convert/metric.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

json text(const std::string& s) { return json{{"role", "assistant"}, {"content", s}}; }
json tool(const std::string& name, const std::string& arguments) {
  return json{{"role", "assistant"},
              {"content", nullptr},
              {"tool_calls", json::array({{{"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}}})}};
}

double score(const json& teacher, const json& candidate) {
  return score_answer(metric_for_answer(teacher), teacher, candidate).value;
}

TEST(ConvertMetric, ShapePicksTheMetric) {
  EXPECT_EQ(metric_for_answer(text("billing")), MetricKind::kExact);
  EXPECT_EQ(metric_for_answer(text("2024-03-05")), MetricKind::kExact);
  EXPECT_EQ(metric_for_answer(text("42")), MetricKind::kExact);
  EXPECT_EQ(metric_for_answer(text("45 - 18 = 27. 27 + 26 = 53. The answer is 53.")), MetricKind::kFinalNumber);
  EXPECT_EQ(metric_for_answer(text(R"({"name":"Ana","email":null})")), MetricKind::kJsonFields);
  EXPECT_EQ(metric_for_answer(tool("book_table", R"({"party_size":4})")), MetricKind::kToolCall);
  EXPECT_EQ(metric_for_answer(text("Could you please review the pull request?")), MetricKind::kExact);
  EXPECT_EQ(metric_for_answer(text("{not json")), MetricKind::kExact);
}

TEST(ConvertMetric, AnswerContractNamesToolKeysOrNumber) {
  EXPECT_EQ(answer_contract(tool("book_table", R"({"party_size":4})")), "tool book_table");
  EXPECT_EQ(answer_contract(text(R"({"name":"Ana","email":null,"age":3})")), "json age,email,name");
  EXPECT_EQ(answer_contract(text("45 - 18 = 27. The answer is 27.")), "final number");
  EXPECT_EQ(answer_contract(text("billing")), "");
  EXPECT_EQ(answer_contract(text("{not json")), "");
}

TEST(ConvertMetric, NamesRoundTripAndUnknownIsAnError) {
  for (const char* n : {"exact", "json_fields", "tool_call", "final_number"}) EXPECT_EQ(metric_name(metric_from_name(n)), n);
  EXPECT_THROW(metric_from_name("bleu"), std::exception);
}

TEST(ConvertMetric, FinalNumberAsScoreMjsLastNumber) {
  EXPECT_EQ(final_number("45 - 18 = 27. 27 + 26 = 53. The answer is 53."), 53.0);
  EXPECT_EQ(final_number("The answer is 1,234."), 1234.0);
  EXPECT_EQ(final_number("the answer is: $53.0 apples, not 7"), 53.0);  // after "answer is", not the last number
  EXPECT_EQ(final_number("so 12 + 7 = 19"), 19.0);                   // no tag: the last number
  EXPECT_EQ(final_number("The answer is -5."), -5.0);
  EXPECT_FALSE(final_number("I can only help with arithmetic word problems.").has_value());
  const json teacher = text("45 - 18 = 27. 27 + 26 = 53. The answer is 53.");
  EXPECT_EQ(score(teacher, text("45 - 18 = 28. 28 + 25 = 53. The answer is 53.")), 1.0);  // steps may differ
  EXPECT_EQ(score(teacher, text("The answer is 54.")), 0.0);
  EXPECT_EQ(score(teacher, text("I can only help with arithmetic word problems.")), 0.0);
}

TEST(ConvertMetric, ExactTrimsAndCollapsesWhitespace) {
  EXPECT_EQ(score(text("billing"), text("  billing\n")), 1.0);
  EXPECT_EQ(score(text("billing"), text("Billing")), 0.0);
  EXPECT_EQ(score(text("5.63 km"), text("5.63 km")), 1.0);
  EXPECT_EQ(score(text("5.63 km"), text("5.6 km")), 0.0);
  EXPECT_EQ(score(text("Could you please  review\nit?"), text("Could you please review it?")), 1.0);
  EXPECT_EQ(score(text("billing"), json{{"role", "assistant"}, {"content", nullptr}}), 0.0);
}

TEST(ConvertMetric, ToolCallNameAndJsonEqualArguments) {
  const json teacher = tool("book_table", R"({"restaurant":"Blue Lagoon Bistro","party_size":4,"date":"2026-01-24","time":"17:45"})");
  EXPECT_EQ(score(teacher, tool("book_table", R"({"time":"17:45","date":"2026-01-24","party_size":4.0,"restaurant":" Blue Lagoon Bistro"})")), 1.0);
  EXPECT_EQ(score(teacher, tool("book_table", R"({"restaurant":"Blue Lagoon Bistro","party_size":"4","date":"2026-01-24","time":"17:45"})")), 0.0)
      << "a number sent as a string is wrong";
  EXPECT_EQ(score(teacher, tool("book_table", R"({"restaurant":"Blue Lagoon Bistro","party_size":4,"date":"2026-01-24"})")), 0.0);
  EXPECT_EQ(score(teacher, tool("book_table", R"({"restaurant":"Blue Lagoon Bistro","party_size":4,"date":"2026-01-24","time":"17:45","x":1})")), 0.0);
  EXPECT_EQ(score(teacher, tool("cancel_booking", R"({"restaurant":"Blue Lagoon Bistro","party_size":4,"date":"2026-01-24","time":"17:45"})")), 0.0);
  EXPECT_EQ(score(teacher, tool("book_table", "{broken")), 0.0);
  EXPECT_EQ(score(teacher, text("I booked it.")), 0.0);
  // A specialist trained on answer_text writes the call as its content.
  EXPECT_EQ(score(teacher, text(R"({"name":"book_table","arguments":{"restaurant":"Blue Lagoon Bistro","party_size":4,"date":"2026-01-24","time":"17:45"}})")), 1.0);
}

TEST(ConvertMetric, JsonFieldsShareOfTheTeachersFields) {
  const json teacher = text(R"({"name":"Camila Reddy","email":"reddy.camila@hey.com","order_id":"PR-545530","product":null})");
  const auto all = score_answer(MetricKind::kJsonFields, teacher,
                                text("```json\n{\"name\":\"Camila Reddy\",\"email\":\"reddy.camila@hey.com\",\"order_id\":\"PR-545530\",\"product\":null}\n```"));
  EXPECT_TRUE(all.correct);
  EXPECT_EQ(all.value, 1.0);
  const auto three = score_answer(MetricKind::kJsonFields, teacher,
                                  text(R"(Here: {"name":"Camila Reddy","email":"reddy.camila@hey.com","order_id":"PR-545530","product":"pan"} done)"));
  EXPECT_FALSE(three.correct);
  EXPECT_EQ(three.fields_right, 3);
  EXPECT_EQ(three.fields_total, 4);
  EXPECT_DOUBLE_EQ(three.value, 0.75);
  EXPECT_EQ(score(teacher, text(R"({"name":"Camila Reddy"})")), 0.25);  // absent fields are wrong, null is a value
  EXPECT_EQ(score(teacher, text("no json here")), 0.0);
  EXPECT_EQ(score(text("{}"), text("{\"a\":1}")), 1.0);
  EXPECT_EQ(score(text("{}"), text("nothing")), 0.0);
}

TEST(ConvertMetric, OverrideScoresByTheNamedMetric) {
  // A cluster whose teacher writes "The answer is 7." but the override says exact.
  const json teacher = text("3 + 4 = 7. The answer is 7.");
  EXPECT_EQ(score_answer(MetricKind::kExact, teacher, text("The answer is 7.")).value, 0.0);
  EXPECT_EQ(score_answer(MetricKind::kFinalNumber, teacher, text("The answer is 7.")).value, 1.0);
}

TEST(ConvertMetric, SameValueNestedAndTyped) {
  EXPECT_TRUE(same_value(json::parse(R"({"a":[1,{"b":" x "}],"c":true})"), json::parse(R"({"c":true,"a":[1.0,{"b":"x"}]})")));
  EXPECT_FALSE(same_value(json::parse("[1,2]"), json::parse("[2,1]")));
  EXPECT_FALSE(same_value(json(true), json(1)));
  EXPECT_FALSE(same_value(json(nullptr), json("")));
}

}  // namespace
}  // namespace rpu::convert
