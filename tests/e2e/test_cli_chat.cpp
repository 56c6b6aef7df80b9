// rpu chat: the conversation is rendered with the model's template each turn, and the reply
// reusing the cached prefix equals a reply computed from scratch for the same prompt.
#include <gtest/gtest.h>

#include <chrono>

#include <nlohmann/json.hpp>

#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_util.h"
#include "chat/chat_template.h"
#include "decode/sampler.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

const char* kTemplate =
    "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

std::vector<std::string> prompts_in(const std::string& err) {
  std::vector<std::string> prompts;
  for (size_t at = err.find("[prompt]"); at != std::string::npos; at = err.find("[prompt]", at + 1)) {
    const size_t end = err.find("[/prompt]", at);
    prompts.push_back(err.substr(at + 8, end - at - 8));
  }
  return prompts;
}

TEST(CliChatTest, TurnsUseTheTemplateAndCachedRepliesEqualFreshOnes) {
  SynthSpec spec;
  spec.n_vocab = 400;
  GgufWriter writer = synth_model(spec);
  writer.set("tokenizer.chat_template", GgufValue::str(kTemplate));
  const std::string path = test::temp_path("chat.gguf");
  writer.write(path);

  const auto r = test::run_rpu({"chat", path, "--temp", "0", "-n", "6", "--show-prompt", "--system", "be brief"}, "",
                               "hello there\nand again\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto prompts = prompts_in(r.err);
  ASSERT_EQ(prompts.size(), 2u) << r.err;

  // Turn 1 is exactly the template's render of the system and user messages.
  const ChatTemplate tmpl = ChatTemplate::parse(kTemplate);
  ChatContextOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  messages.push_back({{"role", "system"}, {"content", "be brief"}});
  messages.push_back({{"role", "user"}, {"content", "hello there"}});
  const nlohmann::ordered_json extra = {{"enable_thinking", false}};
  EXPECT_EQ(prompts[0], tmpl.render(make_chat_context(messages, nullptr, options, extra)));

  // Each reply equals greedy generation from scratch on that turn's prompt.
  auto model = Model::load(path);
  auto tokenizer = Tokenizer::from_gguf(model->file());
  std::string expected_out;
  for (const std::string& prompt : prompts) {
    ForwardPass forward(*model, 512);
    const auto tokens = tokenizer->encode(prompt, false, true);
    auto logits = forward.eval(tokens);
    SamplingParams greedy;
    greedy.temperature = 0;
    Sampler sampler(greedy);
    std::vector<int32_t> reply;
    for (int i = 0; i < 6; ++i) {
      const int32_t next = sampler.sample(logits);
      if (tokenizer->is_end_of_generation(next)) break;
      reply.push_back(next);
      const int32_t one[1] = {next};
      logits = forward.eval(one);
    }
    expected_out += tokenizer->decode(reply) + "\n";
  }
  EXPECT_EQ(r.out, expected_out);
  // Turn 2 carries turn 1's reply as the assistant message.
  const std::string first_reply = r.out.substr(0, r.out.find('\n'));
  EXPECT_NE(prompts[1].find("<|assistant|>\n" + first_reply + "\n<|user|>\nand again\n"), std::string::npos) << prompts[1];
}

TEST(CliChatTest, ModelWithoutTemplateIsAClearError) {
  const auto r = test::run_rpu({"chat", test::fixture("stories260K/stories260K.gguf")}, "", "hi\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("has no chat template"), std::string::npos) << r.err;
}

TEST(CliChatTest, BrokenTemplateIsAClearError) {
  const std::string bad = test::temp_path("bad.jinja");
  test::write_file(bad, "{% for m in messages %}{{ m.content }");
  const auto r = test::run_rpu({"chat", test::fixture("stories260K/stories260K.gguf"), "--template", bad}, "", "hi\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("rpu: error:"), std::string::npos) << r.err;
}

// Issue 11 finding 4: a template that copies a 32 MB string per loop step ran for hours within
// the step limit. Its work budget now stops it, when the template is probed at load and when a
// request's conversation reaches the heavy branch. (The 10 s bound only catches a hang; the
// render itself stops in well under a second.)
const char* const kHeavy =
    "{% set ns = namespace(s='a') %}{% for i in range(25) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
    "{% for i in range(1000000) %}{% set t = ns.s ~ 'b' %}{% endfor %}";

TEST(CliChatTest, RunawayTemplateIsRefusedAtLoad) {
  const std::string heavy = test::temp_path("heavy.jinja");
  test::write_file(heavy, std::string(kHeavy) + "{% for m in messages %}{{ m.content }}{% endfor %}");
  const auto start = std::chrono::steady_clock::now();
  const auto r = test::run_rpu({"chat", test::fixture("stories260K/stories260K.gguf"), "--template", heavy}, "", "hi\n");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exceeded its work budget"), std::string::npos) << r.err;
}

TEST(CliChatTest, RunawayTemplateIsRefusedPerRequest) {
  const std::string heavy = test::temp_path("heavy_on_boom.jinja");
  test::write_file(heavy, std::string("{% for m in messages %}{% if m.content == 'boom' %}") + kHeavy +
                              "{% endif %}{{ m.role }}: {{ m.content }}\n{% endfor %}");
  const auto start = std::chrono::steady_clock::now();
  const auto r = test::run_rpu({"chat", test::fixture("stories260K/stories260K.gguf"), "--template", heavy, "-n", "4"}, "",
                               "hello\nboom\n");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exceeded its work budget"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rpu
