// The held-out split (src/convert/split.h) and the training file (training_file.h): the side
// is a function of the request's content, the fraction holds, and no held-out request is ever
// written to a training file (checked by held_out_in_training_file, which also finds a leak).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "convert/evaluate.h"
#include "convert/split.h"
#include "convert/training_file.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

LoggedCall arithmetic_call(int64_t id, int a, int b) {
  LoggedCall c;
  c.id = id;
  c.messages = json::array({{{"role", "system"}, {"content", "You solve arithmetic word problems."}},
                            {{"role", "user"}, {"content", "Leo has " + std::to_string(a) + " shells. He finds " +
                                                               std::to_string(b) + " more. How many shells does he have now?"}}});
  c.answer = {{"role", "assistant"},
              {"content", std::to_string(a) + " + " + std::to_string(b) + " = " + std::to_string(a + b) +
                              ". The answer is " + std::to_string(a + b) + "."}};
  c.from_teacher = true;
  return c;
}

std::vector<LoggedCall> workload() {
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 1000; ++i) calls.push_back(arithmetic_call(i + 1, i % 97, i % 13));  // repeats: i and i+1261...
  for (int i = 0; i < 200; ++i) calls.push_back(arithmetic_call(2000 + i, i % 97, i % 13));  // exact duplicates of the first 200
  return calls;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("rpu_convert_split_" + std::to_string(::getpid()) + "_" + name)).string();
}

TEST(ConvertSplit, IdenticalRequestsLandOnTheSameSide) {
  const auto calls = workload();
  const SplitOptions options;
  for (int i = 0; i < 200; ++i) EXPECT_EQ(is_held_out(calls[static_cast<size_t>(i)], options), is_held_out(calls[1000 + static_cast<size_t>(i)], options));
  LoggedCall renumbered = calls[5];
  renumbered.id = 99999;
  renumbered.answer = {{"role", "assistant"}, {"content", "a different teacher answer"}};
  EXPECT_EQ(is_held_out(renumbered, options), is_held_out(calls[5], options)) << "only the request decides";
}

TEST(ConvertSplit, FractionAndSeedAndTeacherOnly) {
  auto calls = workload();
  calls[0].from_teacher = false;
  const Split split = split_calls(calls, SplitOptions{0.2, 0});
  EXPECT_EQ(split.train.size() + split.held_out.size(), calls.size() - 1);
  const double share = static_cast<double>(split.held_out.size()) / static_cast<double>(calls.size() - 1);
  EXPECT_NEAR(share, 0.2, 0.05);
  const Split other = split_calls(calls, SplitOptions{0.2, 7});
  EXPECT_NE(split.held_out, other.held_out) << "another seed, another split";
  EXPECT_TRUE(split_calls(calls, SplitOptions{0.0, 0}).held_out.empty());
  EXPECT_TRUE(split_calls(calls, SplitOptions{1.0, 0}).train.empty());
}

// A small cluster holds out at least about min_held_out calls (at most half of it), and every
// call held out at the base share stays held out: the larger share's held-out set contains it,
// so what the generalist trains on at the base share never includes a cluster's held-out call.
TEST(ConvertSplit, ASmallClusterHoldsOutAtLeastTheMinimum) {
  auto all = workload();
  std::vector<const LoggedCall*> small;
  for (size_t i = 0; i < 200; ++i) small.push_back(&all[i]);
  SplitOptions base{0.1, 0};
  base.min_held_out = 50;
  const SplitOptions raised = cluster_split(base, small);
  EXPECT_DOUBLE_EQ(raised.held_out_fraction, 0.25);
  const Split split = split_calls(small, raised);
  EXPECT_NEAR(static_cast<double>(split.held_out.size()), 50, 15);
  for (const LoggedCall* c : small) {
    if (is_held_out(*c, base)) {
      EXPECT_TRUE(is_held_out(*c, raised)) << "call " << c->id;
    }
  }
  EXPECT_DOUBLE_EQ(cluster_split(base, 60).held_out_fraction, 0.5);   // at most half
  EXPECT_DOUBLE_EQ(cluster_split(base, 900).held_out_fraction, 0.1);  // 10% is already 90
  base.min_held_out = 0;
  EXPECT_DOUBLE_EQ(cluster_split(base, 60).held_out_fraction, 0.1);
}

TEST(ConvertSplit, NoHeldOutCallInTheTrainingFile) {
  const auto calls = workload();
  std::vector<const LoggedCall*> all;
  for (const auto& c : calls) all.push_back(&c);
  const SplitOptions options{0.2, 3};
  const std::string path = temp_path("train.jsonl");
  const TrainingFileReport report = write_training_file(all, options, path);
  const Split split = split_calls(calls, options);
  EXPECT_EQ(report.written, split.train.size());
  EXPECT_EQ(report.held_out_skipped, split.held_out.size());
  ASSERT_GT(split.held_out.size(), 100u);
  EXPECT_TRUE(held_out_in_training_file(split.held_out, path).empty());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  // The check finds a leak: append one held-out call as a training line.
  {
    std::ofstream out(path, std::ios::app);
    out << json{{"messages", training_messages(*split.held_out[3])}}.dump() << '\n';
  }
  const auto leaks = held_out_in_training_file(split.held_out, path);
  ASSERT_EQ(leaks.size(), 1u);
  EXPECT_NE(leaks[0].find("call " + std::to_string(split.held_out[3]->id)), std::string::npos);
  std::filesystem::remove(path);
}

LoggedCall tool_call_with_history() {
  LoggedCall c;
  c.messages = json::array({{{"role", "system"}, {"content", "Book things."}},
                            {{"role", "user"}, {"content", "Table for 4"}},
                            {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "lookup"}, {"arguments", "{\"q\":1}"}}}}})}},
                            {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "ok"}},
                            {{"role", "user"}, {"content", "Now book it."}}});
  c.tools = json::array({{{"type", "function"}, {"function", {{"name", "book_table"}, {"parameters", {{"type", "object"}}}}}},
                         {{"type", "function"}, {"function", {{"name", "lookup"}, {"description", "Find a table."}}}}});
  c.answer = {{"role", "assistant"}, {"content", nullptr},
              {"tool_calls", json::array({{{"function", {{"name", "book_table"}, {"arguments", "{\"party_size\":4}"}}}}})}};
  c.from_teacher = true;
  return c;
}

// The oracle: LocalBackend, the pipeline that serves a specialist, renders the logged request
// (its tools, its tool-call history) to the same prompt as the training messages without
// tools, which is how the trainer renders them. Before, the tools went in as a "Tools: [...]"
// line and results as "Tool result: ...", a prompt the served model never saw.
TEST(ConvertSplit, TrainingPromptIsThePromptTheSpecialistIsServed) {
  auto builtin = open_local_model(Model::load(std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf"), "builtin", 1, 1);
  const LoggedCall with_tools = tool_call_with_history();
  LoggedCall plain;
  plain.messages = json::array({{{"role", "system"}, {"content", "Extract."}}, {{"role", "user"}, {"content", "Ada, 3 kettles"}}});
  for (const LoggedCall* c : std::vector<const LoggedCall*>{&with_tools, &plain}) {
    const std::string served = builtin->backend->render_prompt(greedy_request(*c, "builtin", 16));
    ChatRequest trained;
    trained.model = "builtin";
    trained.messages = training_prompt(*c);
    EXPECT_EQ(builtin->backend->render_prompt(trained), served);
  }
  const json m = training_messages(with_tools);
  ASSERT_EQ(m.size(), 5u) << m.dump(2);
  EXPECT_NE(m[0]["content"].get<std::string>().find("\"name\":\"book_table\""), std::string::npos) << m[0];
  EXPECT_EQ(m[1]["content"], "Table for 4");
  EXPECT_NE(m[2]["content"].get<std::string>().find("<tool_call>"), std::string::npos) << m[2];
  EXPECT_EQ(m[3]["role"], "user");
  EXPECT_NE(m[3]["content"].get<std::string>().find("<tool_response>\nok\n</tool_response>"), std::string::npos) << m[3];
  EXPECT_NE(m[3]["content"].get<std::string>().find("Now book it."), std::string::npos) << m[3];
  EXPECT_EQ(m[4]["content"], "{\"name\":\"book_table\",\"arguments\":{\"party_size\":4}}");
  for (const json& message : m) EXPECT_TRUE(message["content"].is_string()) << "the trainer needs text: " << message;
}

TEST(ConvertSplit, AHistoryTheChatLayerRefusesIsWrittenAsPlainText) {
  LoggedCall c = tool_call_with_history();
  c.messages[2]["tool_calls"][0].erase("function");  // a malformed call in the log
  const json m = training_prompt(c);
  ASSERT_EQ(m.size(), 5u) << m.dump(2);
  for (const json& message : m) {
    EXPECT_TRUE(message["content"].is_string()) << message;
    EXPECT_FALSE(message.contains("tool_calls")) << message;
    EXPECT_NE(message["role"], "tool");
  }
}

}  // namespace
}  // namespace rpu::convert
