// scrub_input routes (src/gateway/unscrub.h): the specialist gets the call scrubbed exactly as
// the usage log stores it (same placeholders, same numbering), and its answer, however the
// stream cuts it, gets the original values back; what is not a placeholder of this call passes.
#include <gtest/gtest.h>

#include "gateway/call_logger.h"
#include "gateway/unscrub.h"

namespace rpu::gateway {
namespace {

const Scrubber& scrubber() {
  static const Scrubber s;
  return s;
}

ChatRequest agent_call() {
  ChatRequest r;
  r.messages = nlohmann::ordered_json::array({
      {{"role", "system"}, {"content", "Extract name, email and order_id as JSON."}},
      {{"role", "user"}, {"content", "Hi, this is Maria Garcia. Order AB-123456 is late. Reply to maria.garcia@example.com."}},
  });
  return r;
}

TEST(Unscrub, TheSpecialistSeesTheCallAsTheLogStoresIt) {
  const ChatRequest request = agent_call();
  const ScrubbedCall call = scrub_call(scrubber(), request);
  const std::string user = call.request.messages[1]["content"].get<std::string>();
  EXPECT_EQ(user.find("Maria Garcia"), std::string::npos) << user;
  EXPECT_EQ(user.find("maria.garcia@example.com"), std::string::npos) << user;
  EXPECT_NE(user.find("<PERSON_1>"), std::string::npos) << user;
  EXPECT_NE(user.find("<EMAIL_1>"), std::string::npos) << user;
  // The oracle: the usage log's own scrubbing of the same call.
  UsageRecord record;
  record.request_json = nlohmann::ordered_json{{"messages", request.messages}}.dump();
  const UsageRecord logged = scrub_record(scrubber(), record, nullptr);
  const auto logged_messages = nlohmann::json::parse(logged.request_json)["messages"];
  EXPECT_EQ(logged_messages[1]["content"].get<std::string>(), user);
}

TEST(Unscrub, AnswersGetTheValuesBackWhereverTheStreamCutsThem) {
  const ScrubbedCall base = scrub_call(scrubber(), agent_call());
  const std::string answer = R"({"name":"<PERSON_1>","email":"<EMAIL_1>","order_id":"AB-123456"} a<b <PERSON_9> <)";
  const std::string expected =
      R"({"name":"Maria Garcia","email":"maria.garcia@example.com","order_id":"AB-123456"} a<b <PERSON_9> <)";
  for (size_t cut1 = 0; cut1 <= answer.size(); ++cut1) {
    for (size_t cut2 = cut1; cut2 <= answer.size(); cut2 += 7) {
      PlaceholderRestorer restorer = base.restorer;
      std::string out = restorer.feed(0, answer.substr(0, cut1));
      out += restorer.feed(0, answer.substr(cut1, cut2 - cut1));
      out += restorer.feed(0, answer.substr(cut2));
      out += restorer.flush(0);
      ASSERT_EQ(out, expected) << "cuts at " << cut1 << ", " << cut2;
    }
  }
}

TEST(Unscrub, ChoicesAreRestoredApartAndToolCallsAtTheLastEvent) {
  ScrubbedCall call = scrub_call(scrubber(), agent_call());
  auto event = [](int index, std::string text, std::string finish = "") {
    ChatEvent e;
    e.index = index;
    e.text = std::move(text);
    e.finish_reason = std::move(finish);
    return e;
  };
  ChatEvent a = event(0, "Dear <PERS"), b = event(1, "<EMA");
  ChatEvent a_end = event(0, "ON_1>", "stop"), b_end = event(1, "IL_1>", "tool_calls");
  b_end.tool_calls = nlohmann::ordered_json::array(
      {{{"type", "function"}, {"function", {{"name", "email"}, {"arguments", R"({"to":"<EMAIL_1>"})"}}}}});
  for (ChatEvent* e : {&a, &b, &a_end, &b_end}) call.restorer.restore_event(*e);
  EXPECT_EQ(a.text + a_end.text, "Dear Maria Garcia");
  EXPECT_EQ(b.text + b_end.text, "maria.garcia@example.com");
  EXPECT_EQ(b_end.tool_calls[0]["function"]["arguments"].get<std::string>(), R"({"to":"maria.garcia@example.com"})");
}

// A tool wants E.164: the specialist, trained on logs where the teacher's E.164 number is
// <PHONE_E164_1>, writes that, and the client gets the caller's number in E.164.
TEST(Unscrub, ADerivedPlaceholderIsComputedFromItsSource) {
  ChatRequest request;
  request.messages = nlohmann::ordered_json::array(
      {{{"role", "user"}, {"content", "Please ring Maria Garcia, her number is (415) 555-0134."}}});
  ScrubbedCall call = scrub_call(scrubber(), request);
  EXPECT_EQ(call.request.messages[0]["content"].get<std::string>(), "Please ring <PERSON_1>, her number is <PHONE_1>.");
  const PlaceholderRestorer& r = call.restorer;
  EXPECT_FALSE(r.has_unknown_placeholder(R"({"phone":"<PHONE_E164_1>"})"));
  EXPECT_TRUE(r.has_unknown_placeholder(R"({"phone":"<PHONE_E164_2>"})"));
  EXPECT_EQ(r.restore(R"({"name":"<PERSON_1>","phone":"<PHONE_E164_1>"})"), R"({"name":"Maria Garcia","phone":"+14155550134"})");
  // The oracle: the usage log scrubbing the teacher's answer in the call's session.
  UsageRecord record;
  record.request_json = nlohmann::ordered_json{{"messages", request.messages}}.dump();
  record.response_json = nlohmann::ordered_json{{"phone", "+14155550134"}}.dump();
  const UsageRecord logged = scrub_record(scrubber(), record, nullptr);
  EXPECT_EQ(nlohmann::json::parse(logged.response_json)["phone"], "<PHONE_E164_1>");
}

// A placeholder the call did not have cannot be restored: the cascade escalates such an answer.
TEST(Unscrub, AMadeUpPlaceholderIsFoundInTextAndToolCalls) {
  const ScrubbedCall call = scrub_call(scrubber(), agent_call());  // holds <PERSON_1>, <EMAIL_1>
  const PlaceholderRestorer& r = call.restorer;
  EXPECT_FALSE(r.has_unknown_placeholder(R"({"name":"<PERSON_1>","email":"<EMAIL_1>"})"));
  EXPECT_TRUE(r.has_unknown_placeholder(R"({"phone":"<PHONE_3>"})"));
  EXPECT_TRUE(r.has_unknown_placeholder("Ask <PERSON_2>."));
  // Not placeholders: markup, a bare type, no number, lower case, unclosed.
  EXPECT_FALSE(r.has_unknown_placeholder("<tool_call> <PHONE> <PHONE_> <_1> <phone_1> a<b <PHONE_3"));
  CallResult answer;
  answer.choices.resize(2);
  answer.choices[0].text = "Calling <PERSON_1>.";
  EXPECT_FALSE(r.has_unknown_placeholder(answer));
  answer.choices[1].tool_calls = nlohmann::ordered_json::array(
      {{{"type", "function"}, {"function", {{"name", "call_contact"}, {"arguments", R"({"phone":"<PHONE_3>"})"}}}}});
  EXPECT_TRUE(r.has_unknown_placeholder(answer));
}

}  // namespace
}  // namespace rpu::gateway
