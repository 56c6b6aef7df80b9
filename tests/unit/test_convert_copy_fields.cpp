// What S4 learns from the teacher's answers: keys whose values it copies from the request
// (src/convert/copy_fields.h; content JSON and tool-call arguments alike), with the shapes that
// recur (a key it normalises is left free; a rare shape, a teacher's slip, is not kept); and
// whether it always calls a tool on a user's turn (answer_form.h), which the route then forces
// the way require_tool_call_on_user_turn says.
#include <gtest/gtest.h>

#include "convert/answer_form.h"
#include "convert/copy_fields.h"
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

  // Too few values to judge: nothing is held.
  std::vector<const LoggedCall*> few(ptrs.begin(), ptrs.begin() + 10);
  EXPECT_TRUE(copied_fields(few).empty());
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

}  // namespace
}  // namespace rpu::convert
