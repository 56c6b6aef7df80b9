// The reasoning channel (pipeline/think_split.h): a "<think>" span leading a model's output is
// its reasoning_content, the rest its content; the same split whether the output comes whole or
// a byte at a time; and LocalBackend applying it to what a model writes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "builtin_backend.h"
#include "pipeline/local_backend.h"
#include "pipeline/think_split.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

ThinkSplitter::Parts split_bytewise(const std::string& output, bool starts_inside = false) {
  ThinkSplitter splitter(starts_inside);
  ThinkSplitter::Parts all;
  for (char c : output) {
    ThinkSplitter::Parts part = splitter.feed(std::string_view(&c, 1));
    all.reasoning += part.reasoning;
    all.content += part.content;
  }
  ThinkSplitter::Parts tail = splitter.finish();
  all.reasoning += tail.reasoning;
  all.content += tail.content;
  return all;
}

struct Case {
  std::string output;
  bool starts_inside;
  std::string reasoning, content;
};

TEST(ThinkSplit, ALeadingSpanIsTheReasoningWholeOrByteAtATime) {
  const std::vector<Case> cases = {
      {"The answer is 5.", false, "", "The answer is 5."},
      {"<think>\n2 + 3 = 5\n</think>\n\nThe answer is 5.", false, "\n2 + 3 = 5\n", "The answer is 5."},
      {"  \n<think>a</think>b", false, "a", "b"},                    // blanks before the span dropped
      {"<think></think>\n\nanswer", false, "", "answer"},            // Qwen3 with thinking off
      {"Sure. <think>not a span</think>", false, "", "Sure. <think>not a span</think>"},
      {"<think>cut off by max_tokens", false, "cut off by max_tokens", ""},
      {"<think>ends on half a marker</thi", false, "ends on half a marker</thi", ""},
      {"<thi", false, "", "<thi"},                                   // never became a span
      {"  ", false, "", "  "},
      {"<think>a < b and </b> </think>x </think>", false, "a < b and </b> ", "x </think>"},
      {"\nstill thinking</think>\n\n42", true, "\nstill thinking", "42"},  // the prompt opened it
      {"", false, "", ""},
  };
  for (const Case& c : cases) {
    const ThinkSplitter::Parts whole = split_reasoning(c.output, c.starts_inside);
    EXPECT_EQ(whole.reasoning, c.reasoning) << c.output;
    EXPECT_EQ(whole.content, c.content) << c.output;
    const ThinkSplitter::Parts bytes = split_bytewise(c.output, c.starts_inside);
    EXPECT_EQ(bytes.reasoning, c.reasoning) << c.output;
    EXPECT_EQ(bytes.content, c.content) << c.output;
  }
}

// No event carries part of a marker: the reasoning streamed so far never ends inside "</think>".
TEST(ThinkSplit, AMarkerSplitAcrossEventsIsHeldBack) {
  ThinkSplitter splitter;
  EXPECT_EQ(splitter.feed("<thi").reasoning, "");
  ThinkSplitter::Parts p = splitter.feed("nk>3 * 4 = 12</th");
  EXPECT_EQ(p.reasoning, "3 * 4 = 12");
  EXPECT_EQ(p.content, "");
  p = splitter.feed("ink>12");
  EXPECT_EQ(p.reasoning, "");
  EXPECT_EQ(p.content, "12");
}

TEST(ThinkSplit, APromptEndingWithAnOpenSpanStartsInside) {
  EXPECT_TRUE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n"));
  EXPECT_FALSE(prompt_opens_reasoning(""));
}

// Through LocalBackend: a grammar makes the built-in model write a span before its answer. The
// span arrives as reasoning (streamed and collected), the answer as content, and
// "reasoning_format": "none" (split_reasoning false) keeps the output as written.
TEST(ThinkSplit, LocalBackendSendsTheSpanAsReasoning) {
  BuiltinBackend b;
  ChatRequest chat = BuiltinBackend::greedy(40);
  chat.messages = json::array({{{"role", "user"}, {"content", "Mia has 12 apples. She buys 7 more. How many apples does she have now?"}}});
  chat.grammar = R"(root ::= "<think>12 + 7 = 19</think>\n\nThe answer is " [0-9]+ ".")";
  std::string streamed_reasoning, streamed_content;
  const ChoiceResult split = run_chat(b.backend, chat, [&](const ChatEvent& e) {
                               streamed_reasoning += e.reasoning;
                               streamed_content += e.text;
                             }).choices.at(0);
  EXPECT_EQ(split.reasoning, "12 + 7 = 19");
  ASSERT_EQ(split.text.rfind("The answer is ", 0), 0u) << split.text;
  EXPECT_EQ(streamed_reasoning, split.reasoning);
  EXPECT_EQ(streamed_content, split.text);
  // Reasoning tokens: those up to and including the one that completes "</think>".
  chat.logprobs = true;
  const ChoiceResult counted = run_chat(b.backend, chat).choices.at(0);
  std::string written;
  int up_to_close = 0;
  for (const TokenLogprob& lp : counted.logprobs) {
    if (written.find("</think>") != std::string::npos) break;
    written += lp.chosen.bytes;
    ++up_to_close;
  }
  EXPECT_EQ(counted.reasoning_tokens, up_to_close);
  EXPECT_LT(counted.reasoning_tokens, counted.completion_tokens);
  chat.logprobs = false;

  chat.split_reasoning = false;
  const ChoiceResult whole = run_chat(b.backend, chat).choices.at(0);
  EXPECT_EQ(whole.reasoning, "");
  EXPECT_EQ(whole.text, "<think>12 + 7 = 19</think>\n\n" + split.text);
}

}  // namespace
}  // namespace rpu
