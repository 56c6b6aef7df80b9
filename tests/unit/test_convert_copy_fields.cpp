// What S4 learns from the teacher's answers: keys whose values it copies from the request
// (src/convert/copy_fields.h; content JSON and tool-call arguments alike), with the shapes that
// recur (a key it normalises is left free; a rare shape, a teacher's slip, is not kept); and
// whether it always calls a tool on a user's turn (answer_form.h), which the route then forces
// the way require_tool_call_on_user_turn says.
#include <gtest/gtest.h>

#include "convert/answer_form.h"
#include "convert/copy_fields.h"
#include "convert/training_file.h"
#include "convert/working.h"
#include "gateway/gateway_backend.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

const char* kProducts[] = {"Kestrel camera drone", "Polar 2 kettle", "Atlas standing desk"};

LoggedCall extract_call(int i, bool slip) {
  LoggedCall c;
  c.id = i;
  const std::string id = std::string(1, static_cast<char>('A' + i % 26)) + "Q-" + std::to_string(100000 + i);
  const std::string product = kProducts[i % 3];
  c.messages = json::array({{{"role", "system"}, {"content", "Extract name, order_id, product, date."}},
                            {{"role", "user"}, {"content", "My " + product + " (order " + id + ") broke on March 5."}}});
  const json answer = {{"order_id", slip ? id.substr(3) : id}, {"product", product}, {"date", "2026-03-05"}, {"name", nullptr}};
  c.answer = {{"role", "assistant"}, {"content", answer.dump()}};
  c.from_teacher = true;
  return c;
}

LoggedCall tool_call(int i) {
  LoggedCall c;
  c.id = 1000 + i;
  const std::string city = i % 2 ? "New York" : "Berlin";
  c.messages = json::array({{{"role", "user"}, {"content", "weather " + city + " please"}}});
  c.tools = json::array({{{"type", "function"}, {"function", {{"name", "get_weather"}}}}});
  c.answer = {{"role", "assistant"},
              {"content", nullptr},
              {"tool_calls", json::array({{{"id", "c1"},
                                           {"type", "function"},
                                           {"function", {{"name", "get_weather"},
                                                         {"arguments", json{{"city", city}, {"unit", "celsius"}}.dump()}}}}})}};
  c.from_teacher = true;
  return c;
}

TEST(ConvertCopyFields, CopiedKeysAndTheirRecurringShapesAreLearned) {
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 200; ++i) calls.push_back(extract_call(i, i % 100 == 7));  // 2 slips: "100007"
  for (int i = 0; i < 40; ++i) calls.push_back(tool_call(i));
  std::vector<const LoggedCall*> ptrs;
  for (const auto& c : calls) ptrs.push_back(&c);

  const auto stats = copy_field_stats(ptrs);
  ASSERT_EQ(stats.size(), 5u);  // order_id, product, date, city, unit (name is always null)
  EXPECT_EQ(stats[0].key, "order_id");
  EXPECT_EQ(stats[0].values, 200);
  EXPECT_EQ(stats[0].copied, 200);  // "100007" is a word of the request too
  EXPECT_EQ(stats[2].key, "date");
  EXPECT_EQ(stats[2].copied, 0);

  const auto fields = copied_fields(ptrs);
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[0].key, "order_id");
  EXPECT_EQ(fields[0].shapes, std::vector<std::string>({"A-#"}));  // the slips' "#" is too rare to keep
  EXPECT_EQ(fields[1].key, "product");
  EXPECT_EQ(fields[1].shapes, std::vector<std::string>({"Aa a a", "Aa # a"}));
  EXPECT_EQ(fields[2].key, "city");  // from tool-call arguments
  EXPECT_EQ(fields[2].shapes, std::vector<std::string>({"Aa", "Aa Aa"}));

  // Every value is in the last user message: held to copying from it.
  EXPECT_TRUE(fields[0].last_user_only);
  EXPECT_TRUE(fields[2].last_user_only);
  EXPECT_EQ(stats[0].copied_last_user, 200);

  // Too few values to judge: nothing is held.
  std::vector<const LoggedCall*> few(ptrs.begin(), ptrs.begin() + 10);
  EXPECT_TRUE(copied_fields(few).empty());
}

// A key the teacher also copies from earlier turns is copied from every message.
TEST(ConvertCopyFields, AKeyCopiedFromEarlierTurnsIsNotHeldToTheLastUserMessage) {
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 40; ++i) {
    LoggedCall c = tool_call(i);
    if (i % 4 == 0) {  // "and the same for tomorrow": the city is in the first turn
      const std::string city = c.messages[0]["content"].get<std::string>().substr(8);
      c.messages = json::array({{{"role", "user"}, {"content", "weather " + city}},
                                {{"role", "assistant"}, {"content", "Sunny."}},
                                {{"role", "user"}, {"content", "and the same for tomorrow"}}});
    }
    calls.push_back(c);
  }
  std::vector<const LoggedCall*> ptrs;
  for (const auto& c : calls) ptrs.push_back(&c);
  const auto fields = copied_fields(ptrs);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].key, "city");
  EXPECT_FALSE(fields[0].last_user_only);
  EXPECT_EQ(copy_field_stats(ptrs)[0].copied_last_user, 30);
}

TEST(ConvertAnswerForm, AToolCallIsForcedOnlyWhereTheTeacherAlwaysMadeOne) {
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 40; ++i) calls.push_back(tool_call(i));
  LoggedCall after_result = tool_call(99);  // the tool's result came back: the teacher says it in words
  after_result.messages.push_back({{"role", "tool"}, {"content", "{\"temperature\": 3}"}});
  after_result.answer = {{"role", "assistant"}, {"content", "It is 3 degrees."}};
  calls.push_back(after_result);
  calls.push_back(extract_call(1, false));  // offers no tools: not counted
  std::vector<const LoggedCall*> ptrs;
  for (const auto& c : calls) ptrs.push_back(&c);
  ToolCallForm form = tool_call_form(ptrs);
  EXPECT_EQ(form.user_turns, 40);
  EXPECT_EQ(form.tool_calls, 40);
  EXPECT_TRUE(always_calls_a_tool(form));

  LoggedCall words = tool_call(100);  // a user's turn answered in words
  words.answer = {{"role", "assistant"}, {"content", "Which city?"}};
  for (int i = 0; i < 2; ++i) ptrs.push_back(&words);
  form = tool_call_form(ptrs);
  EXPECT_EQ(form.user_turns, 42);
  EXPECT_FALSE(always_calls_a_tool(form)) << "2 of 42 in words is more than 2%";
  EXPECT_FALSE(always_calls_a_tool(ToolCallForm{10, 10})) << "too few turns to judge";
}

TEST(ConvertAnswerForm, TheForcedToolChoiceLeavesOtherCallsAndTheCallersChoiceAlone) {
  ChatRequest r;
  r.messages = json::array({{{"role", "user"}, {"content", "weather Berlin"}}});
  r.tools = json::array({{{"type", "function"}, {"function", {{"name", "get_weather"}}}}});
  ChatRequest forced = r;
  gateway::require_tool_call_on_user_turn(forced);
  EXPECT_TRUE(forced.tool_call_required);
  EXPECT_TRUE(forced.tool_choice.is_null()) << "the prompt stays as sent";
  ChatRequest automatic = r;
  automatic.tool_choice = "auto";
  gateway::require_tool_call_on_user_turn(automatic);
  EXPECT_TRUE(automatic.tool_call_required);
  ChatRequest none = r;
  none.tool_choice = "none";
  gateway::require_tool_call_on_user_turn(none);
  EXPECT_FALSE(none.tool_call_required) << "the caller's choice stands";
  ChatRequest result = r;
  result.messages.push_back({{"role", "tool"}, {"content", "3 degrees"}});
  gateway::require_tool_call_on_user_turn(result);
  EXPECT_FALSE(result.tool_call_required) << "after a tool's result the answer may be words";
  ChatRequest no_tools = r;
  no_tools.tools = nullptr;
  gateway::require_tool_call_on_user_turn(no_tools);
  EXPECT_FALSE(no_tools.tool_call_required);
}

TEST(ConvertAnswerForm, AJsonFormIsHeldWhereTheTeacherAlwaysWroteIt) {
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 60; ++i) calls.push_back(extract_call(i, false));
  calls.push_back(tool_call(1));  // a tool call is not a text answer: not counted
  std::vector<const LoggedCall*> ptrs;
  for (const auto& c : calls) ptrs.push_back(&c);
  const json schema = json_answer_schema(ptrs);
  const json want = json::parse(R"({"type": "object", "properties": {"order_id": {"type": ["string"]},
      "product": {"type": ["string"]}, "date": {"type": ["string"]}, "name": {"type": ["null"]}},
      "required": ["order_id", "product", "date", "name"], "additionalProperties": false})");
  EXPECT_EQ(schema.dump(), want.dump()) << "the teacher's key order, and the types it used";
  EXPECT_EQ(learn_output_constraints(ptrs).answer_schema, schema);

  // Numbers: "number" covers "integer"; an object value leaves its key free.
  LoggedCall odd = extract_call(70, false);
  odd.answer["content"] = R"({"order_id": 12, "product": {"sku": 1}, "date": 1.5, "name": "Ana"})";
  ptrs.push_back(&odd);
  const json mixed = json_answer_schema(ptrs);
  EXPECT_EQ(mixed["properties"]["order_id"].dump(), R"({"type":["integer","string"]})");
  EXPECT_EQ(mixed["properties"]["product"].dump(), "{}");
  EXPECT_EQ(mixed["properties"]["date"].dump(), R"({"type":["number","string"]})");
  EXPECT_EQ(mixed["properties"]["name"].dump(), R"({"type":["null","string"]})");

  LoggedCall words = extract_call(80, false);  // an answer in words
  words.answer["content"] = "I could not find an order number.";
  ptrs.push_back(&words);
  EXPECT_FALSE(json_answer_schema(ptrs).is_null()) << "1 of 62 is within 2%";
  ptrs.push_back(&words);
  EXPECT_TRUE(json_answer_schema(ptrs).is_null()) << "2 of 63 is more than 2%";
  std::vector<const LoggedCall*> few(ptrs.begin(), ptrs.begin() + 10);
  EXPECT_TRUE(json_answer_schema(few).is_null()) << "too few answers to judge";

  // A key YAML would not read back as written.
  std::vector<LoggedCall> yes_calls;
  for (int i = 0; i < 30; ++i) {
    LoggedCall c = extract_call(i, false);
    c.answer["content"] = R"({"yes": "a", "no": null})";
    yes_calls.push_back(c);
  }
  std::vector<const LoggedCall*> yes_ptrs;
  for (const auto& c : yes_calls) yes_ptrs.push_back(&c);
  EXPECT_TRUE(json_answer_schema(yes_ptrs).is_null());
}

LoggedCall word_problem(int i, bool wrong_step) {
  LoggedCall c;
  c.id = 2000 + i;
  const int a = 100 + i, b = 7 + i % 13, sum = a + b;
  c.messages = json::array({{{"role", "user"}, {"content", "Mia has " + std::to_string(a) + " books. She buys " +
                                                             std::to_string(b) + " more. How many now?"}}});
  const std::string step = std::to_string(a) + " + " + std::to_string(b) + " = " + std::to_string(sum + (wrong_step ? 1 : 0));
  c.answer = {{"role", "assistant"}, {"content", step + ". The answer is " + std::to_string(sum) + "."}};
  c.from_teacher = true;
  return c;
}

// The calculator is for a teacher that writes its arithmetic out, and right: the route then
// computes what the specialist would guess.
TEST(ConvertAnswerForm, TheCalculatorIsForATeacherThatWritesItsArithmeticOutRight) {
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 60; ++i) calls.push_back(word_problem(i, i % 20 == 5));
  std::vector<const LoggedCall*> ptrs;
  for (const auto& c : calls) ptrs.push_back(&c);
  EXPECT_TRUE(writes_arithmetic_out(arithmetic_form(ptrs))) << "3 wrong steps of 60 are within 5%";
  EXPECT_TRUE(learn_output_constraints(ptrs).calculator);
  LoggedCall wrong = word_problem(70, true);
  ptrs.push_back(&wrong);
  EXPECT_FALSE(writes_arithmetic_out(arithmetic_form(ptrs))) << "4 of 61 are more than 5%: what it writes is not arithmetic to trust";
  ptrs.pop_back();
  std::vector<LoggedCall> extractions;
  for (int i = 0; i < 200; ++i) extractions.push_back(extract_call(i, false));
  for (const auto& c : extractions) ptrs.push_back(&c);
  EXPECT_FALSE(writes_arithmetic_out(arithmetic_form(ptrs))) << "under a quarter of the answers write a step";
  std::vector<const LoggedCall*> few(ptrs.begin(), ptrs.begin() + 10);
  EXPECT_FALSE(writes_arithmetic_out(arithmetic_form(few))) << "too few answers to judge";
  std::vector<const LoggedCall*> json_only;
  for (const auto& c : extractions) json_only.push_back(&c);
  EXPECT_FALSE(learn_output_constraints(json_only).calculator);
}

LoggedCall unit_conversion(int i, const std::string& reasoning) {
  LoggedCall c;
  c.id = 3000 + i;
  c.messages = json::array({{{"role", "system"}, {"content", "Normalize the value."}}, {{"role", "user"}, {"content", "Distance: 62.6 mi"}}});
  c.answer = {{"role", "assistant"}, {"content", "100.74 km"}, {"reasoning_content", reasoning}};
  c.from_teacher = true;
  return c;
}

// A reasoning teacher's working (working.h): its arithmetic steps become the span a specialist
// learns to write first; the calculator then writes results with the teacher's decimals, and the
// route lets the span take tokens beyond the caller's max_tokens.
TEST(ConvertAnswerForm, TheTeachersWorkingIsItsRightStepsThatLeadToTheAnswer) {
  const LoggedCall plain = unit_conversion(0, "Miles to km: multiply by 1.609344.\n62.6 * 1.609344 = 100.74, so 100.74 km.");
  EXPECT_EQ(teacher_working(plain.answer), "62.6 * 1.609344 = 100.74");
  EXPECT_EQ(with_working(teacher_working(plain.answer), "100.74 km"), "<think>\n62.6 * 1.609344 = 100.74\n</think>\n\n100.74 km");
  EXPECT_EQ(training_messages(plain).back()["content"], "<think>\n62.6 * 1.609344 = 100.74\n</think>\n\n100.74 km");
  EXPECT_EQ(teacher_working(unit_conversion(1, "62.6 * 1.609344 = 100.75").answer), "") << "a wrong step";
  EXPECT_EQ(teacher_working(unit_conversion(2, "62.6 * 2 = 125.2").answer), "") << "not the answer's number";
  EXPECT_EQ(teacher_working(unit_conversion(3, "Sixty-odd miles is about a hundred km.").answer), "") << "no step";
  EXPECT_EQ(with_working("", "100.74 km"), "100.74 km");
  EXPECT_EQ(training_messages(word_problem(1, false)).back()["content"], "101 + 8 = 109. The answer is 109.");

  std::vector<LoggedCall> calls;
  for (int i = 0; i < 30; ++i) calls.push_back(unit_conversion(10 + i, "62.6 * 1.609344 = 100.74"));
  std::vector<const LoggedCall*> ptrs;
  for (const auto& c : calls) ptrs.push_back(&c);
  const ArithmeticForm form = arithmetic_form(ptrs);
  EXPECT_EQ(form.with_steps, 30);
  EXPECT_EQ(form.decimals, 2);
  const OutputConstraints learned = learn_output_constraints(ptrs);
  EXPECT_TRUE(learned.calculator);
  EXPECT_EQ(learned.calculator_decimals, 2);
  EXPECT_EQ(learned.thinking_tokens, static_cast<int>(with_working("62.6 * 1.609344 = 100.74", "").size()));
  // Word problems write whole numbers: the calculator spells results as it always did.
  std::vector<LoggedCall> problems;
  for (int i = 0; i < 30; ++i) problems.push_back(word_problem(i, false));
  std::vector<const LoggedCall*> problem_ptrs;
  for (const auto& c : problems) problem_ptrs.push_back(&c);
  EXPECT_EQ(learn_output_constraints(problem_ptrs).calculator_decimals, -1);
  EXPECT_EQ(learn_output_constraints(problem_ptrs).thinking_tokens, 0);
}

TEST(ConvertAnswerForm, TheAnswerSchemaLeavesACallersFormatGrammarAndToolsAlone) {
  const json schema = json::parse(R"({"type": "object", "properties": {"a": {"type": ["string"]}}, "required": ["a"]})");
  ChatRequest r;
  r.messages = json::array({{{"role", "user"}, {"content", "extract"}}});
  ChatRequest held = r;
  gateway::require_answer_schema(held, schema);
  ASSERT_TRUE(held.response_format.is_object());
  EXPECT_EQ(held.response_format["type"], "json_schema");
  EXPECT_EQ(held.response_format["json_schema"]["schema"], schema);
  ChatRequest text = r;
  text.response_format = {{"type", "text"}};
  gateway::require_answer_schema(text, schema);
  EXPECT_EQ(text.response_format["type"], "json_schema") << "\"text\" asks for no format";
  ChatRequest own = r;
  own.response_format = {{"type", "json_object"}};
  gateway::require_answer_schema(own, schema);
  EXPECT_EQ(own.response_format["type"], "json_object") << "the caller's format stands";
  ChatRequest grammar = r;
  grammar.grammar = "root ::= \"x\"";
  gateway::require_answer_schema(grammar, schema);
  EXPECT_TRUE(grammar.response_format.is_null());
  ChatRequest tools = r;
  tools.tools = json::array({{{"type", "function"}, {"function", {{"name", "get_weather"}}}}});
  gateway::require_answer_schema(tools, schema);
  EXPECT_TRUE(tools.response_format.is_null()) << "a call offering tools may call one";
  ChatRequest none = r;
  gateway::require_answer_schema(none, nullptr);
  EXPECT_TRUE(none.response_format.is_null());
}

}  // namespace
}  // namespace rpu::convert
