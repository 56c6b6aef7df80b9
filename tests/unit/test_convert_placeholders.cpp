// Scrub placeholders an answer holds that its request does not (convert/logged_call.h): in a
// scrubbed log they stand for values the teacher made (a phone number rewritten as E.164), which
// a specialist served on scrubbed input can only copy as literal text. S4 scores such an answer
// wrong, and S5 leaves such teacher answers out of training.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat_only_backend.h"
#include "convert/evaluate.h"
#include "convert/logged_call.h"
#include "convert/training_file.h"
#include "test_util.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

LoggedCall call_contact(const std::string& answer_phone) {
  LoggedCall c;
  c.id = 7;
  c.messages = json::array({{{"role", "user"}, {"content", "Call <PERSON_1> on <PHONE_1>."}}});
  c.tools = json::array({{{"type", "function"}, {"function", {{"name", "call_contact"}}}}});
  const json args{{"name", "<PERSON_1>"}, {"phone", answer_phone}};
  c.answer = {{"role", "assistant"}, {"content", nullptr},
              {"tool_calls", json::array({{{"type", "function"}, {"function", {{"name", "call_contact"}, {"arguments", args.dump()}}}}})}};
  c.from_teacher = true;
  return c;
}

TEST(ConvertPlaceholders, OnlyPlaceholdersTheRequestLacksAreForeign) {
  EXPECT_EQ(foreign_placeholders(call_contact("<PHONE_3>"), call_contact("<PHONE_3>").answer),
            std::vector<std::string>{"<PHONE_3>"});
  EXPECT_TRUE(foreign_placeholders(call_contact("<PHONE_1>"), call_contact("<PHONE_1>").answer).empty());
  const LoggedCall c = call_contact("<PHONE_1>");
  // In content too; not markup, not lower case, not without a number.
  EXPECT_EQ(foreign_placeholders(c, {{"role", "assistant"}, {"content", "Ask <EMAIL_12> or <URL_CREDENTIALS_2>."}}),
            (std::vector<std::string>{"<EMAIL_12>", "<URL_CREDENTIALS_2>"}));
  EXPECT_TRUE(foreign_placeholders(c, {{"role", "assistant"}, {"content", "<tool_call> <PHONE> <_1> <A_x> <PHONE_1"}}).empty());
  EXPECT_TRUE(foreign_placeholders(c, {{"role", "assistant"}, {"content", nullptr}}).empty());
  // The request's phone in E.164 is the request's; another phone's is not.
  EXPECT_TRUE(foreign_placeholders(call_contact("<PHONE_E164_1>"), call_contact("<PHONE_E164_1>").answer).empty());
  EXPECT_EQ(foreign_placeholders(call_contact("<PHONE_E164_3>"), call_contact("<PHONE_E164_3>").answer),
            std::vector<std::string>{"<PHONE_E164_3>"});
}

TEST(ConvertPlaceholders, TrainingLeavesOutAnswersWithForeignPlaceholders) {
  const LoggedCall copied = call_contact("<PHONE_1>"), made_up = call_contact("<PHONE_3>");
  const std::string path = test::temp_path("placeholders_train.jsonl");
  const TrainingFileReport r = write_training_file({&copied, &made_up}, SplitOptions{0.0, 0}, path);
  EXPECT_EQ(r.written, 1u);
  EXPECT_EQ(r.foreign_placeholders, 1u);
  const std::string text = test::read_file(path);
  EXPECT_NE(text.find("<PHONE_1>\\\"}"), std::string::npos) << text;
  EXPECT_EQ(text.find("<PHONE_3>"), std::string::npos) << text;
  std::filesystem::remove(path);
}

// Answers every call with the tool call whose phone is `phone`.
class ScriptedCaller : public test::ChatOnlyBackend {
 public:
  explicit ScriptedCaller(std::string phone) : ChatOnlyBackend("scripted"), phone_(std::move(phone)) {}
  std::unique_ptr<CallHandle> chat(const ChatRequest&, ChatEventSink sink) override {
    ChatEvent e;
    e.tool_calls = json::array({{{"id", "c"}, {"type", "function"},
                                 {"function", {{"name", "call_contact"},
                                               {"arguments", json{{"name", "<PERSON_1>"}, {"phone", phone_}}.dump()}}}}});
    e.finish_reason = "tool_calls";
    e.completion_tokens = 9;
    sink(e);
    return nullptr;
  }

 private:
  std::string phone_;
};

TEST(ConvertPlaceholders, AnAnswerWithAForeignPlaceholderScoresZeroEvenWhereTheTeachersHasIt) {
  const LoggedCall teacher_made_one_up = call_contact("<PHONE_3>"), teacher_copied = call_contact("<PHONE_1>");
  ScriptedCaller copies_made_up("<PHONE_3>"), copies_request("<PHONE_1>");
  const EvaluateOptions options;
  // The same text as the teacher's: right by the metric, wrong for the client (it gets "<PHONE_3>").
  EXPECT_EQ(evaluate(copies_made_up, {&teacher_made_one_up}, options).mean_score, 0.0);
  EXPECT_EQ(evaluate(copies_request, {&teacher_copied}, options).mean_score, 1.0);
}

}  // namespace
}  // namespace rpu::convert
