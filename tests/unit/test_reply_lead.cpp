// A template's reply lead (chat/chat_template.h template_reply_lead): the whitespace between its
// generation prompt and an assistant message's content, which LocalBackend drops from replies.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "builtin_backend.h"
#include "pipeline/local_backend.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

TEST(ReplyLead, IsTheWhitespaceBetweenTheGenerationPromptAndTheContent) {
  const ChatTemplate specialist =
      ChatTemplate::parse(test::read_file(std::string(RPU_SOURCE_DIR) + "/specialist/chat_template.jinja"));
  EXPECT_EQ(template_reply_lead(specialist, "<s>", "</s>"), " ");  // "Answer:" then "Answer: X</s>"
  const ChatTemplate chatml = ChatTemplate::parse(test::read_file(test::fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja")));
  EXPECT_EQ(template_reply_lead(chatml, "", "<|im_end|>"), "");
  // Anything but blanks there is the template's own text, not a lead.
  const ChatTemplate thinking = ChatTemplate::parse(
      "{% for m in messages %}{{ m.role }}: {% if m.role == 'assistant' %}<think></think>{% endif %}{{ m.content }}\n"
      "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}");
  EXPECT_EQ(template_reply_lead(thinking, "", ""), "");
  // A template that refuses the probe conversation has none.
  const ChatTemplate strict = ChatTemplate::parse("{{ raise_exception('a system message is required') }}");
  EXPECT_EQ(template_reply_lead(strict, "", ""), "");
}

// The built-in model's replies, against the same prompt completed without a template: the chat
// reply is the completion without the template's " " (it was "  303 + 85 ..." before).
TEST(ReplyLead, LocalBackendDropsItFromTheReply) {
  BuiltinBackend b;
  LocalBackend& backend = b.backend;
  const auto& tokenizer = b.tokenizer;
  ChatRequest chat = BuiltinBackend::greedy(24);
  // As an agent sends it: a system prompt and an earlier turn.
  chat.messages = json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}},
                               {{"role", "user"}, {"content", "Leo has 5 shells. He finds 3 more. How many shells does he have now?"}},
                               {{"role", "assistant"}, {"content", "5 + 3 = 8. The answer is 8."}},
                               {{"role", "user"}, {"content", "Mia has 12 apples. She buys 7 more. How many apples does she have now?"}}});
  const std::string reply = run_chat(backend, chat).choices.at(0).text;

  CompletionRequest completion;
  completion.model = "builtin";
  completion.max_tokens = 24;
  completion.sampling.temperature = 0;
  completion.has_seed = true;
  completion.prompts.push_back({"", tokenizer->encode(backend.render_prompt(chat), false, true), true});
  const std::string generated = run_completion(backend, completion).choices.at(0).text;
  ASSERT_FALSE(generated.empty());
  ASSERT_EQ(generated[0], ' ') << generated;
  EXPECT_EQ(reply, generated.substr(1));
}

// A grammar the model's own reply already follows leaves the reply as it was, token for token:
// the grammar is written for the reply (a blank at most, then a digit), and the template's
// lead before it is allowed and dropped. Without that, the grammar refused the model's first
// token (with the lead's blank in it) and forced another split of the same text. (The built-in
// model writes a blank of its own after the template's: it was trained before assistant turns
// were tokenized as continuations, chat_example in train/training_data.cpp.)
TEST(ReplyLead, AGrammarTheReplyFollowsLeavesItsTokensAsTheyWere) {
  BuiltinBackend b;
  LocalBackend& backend = b.backend;
  ChatRequest chat = BuiltinBackend::greedy(40);
  chat.logprobs = true;
  chat.messages = json::array({{{"role", "user"}, {"content", "Mia has 12 apples. She buys 7 more. How many apples does she have now?"}}});
  const ChoiceResult free = run_chat(backend, chat).choices.at(0);
  ASSERT_FALSE(free.text.empty());
  const size_t first = free.text.find_first_not_of(' ');
  ASSERT_TRUE(first <= 1 && first < free.text.size() && free.text[first] >= '0' && free.text[first] <= '9') << free.text;
  chat.grammar = R"(root ::= " "? [0-9] [0-9 +=.a-zA-Z-]*)";
  const ChoiceResult held = run_chat(backend, chat).choices.at(0);
  EXPECT_EQ(held.text, free.text);
  ASSERT_EQ(held.logprobs.size(), free.logprobs.size());
  for (size_t i = 0; i < free.logprobs.size(); ++i) {
    EXPECT_EQ(held.logprobs[i].chosen.token, free.logprobs[i].chosen.token) << "token " << i;
  }
}

}  // namespace
}  // namespace rpu
