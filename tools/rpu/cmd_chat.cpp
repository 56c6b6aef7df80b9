// rpu chat: an interactive conversation rendered with the model's own chat template. Each
// turn re-renders the whole conversation (templates may rewrite earlier turns), keeps the
// KV cache for the longest common token prefix, and streams the reply.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "model/forward.h"
#include "model/model.h"
#include "options.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace rpu::cli {
namespace {

struct ChatOptions {
  std::string model_path;
  std::string system;
  std::string template_path;
  int max_reply = 512;
  RuntimeOptions runtime;
  bool think = false;
  bool show_prompt = false;
  SamplingParams sampling;
};

std::string token_text(const Tokenizer& tokenizer, int32_t id) {
  return id >= 0 ? tokenizer.vocab().pieces[static_cast<size_t>(id)] : "";
}

int chat(const ChatOptions& o) {
  o.sampling.validate();
  auto [model, tokenizer] = load_model_with_tokenizer(o.model_path);
  const std::string source = o.template_path.empty() ? tokenizer->vocab().chat_template : read_text_file(o.template_path);
  if (source.empty()) fail("{}: the model has no chat template (tokenizer.chat_template); pass --template FILE", o.model_path);
  const ChatTemplate chat_template = ChatTemplate::parse(source);
  ThreadPool pool(o.runtime.thread_count());
  ForwardPass forward(*model, o.runtime.context_size(*model), &pool);
  Sampler sampler(o.sampling);

  ChatContextOptions context_options;
  context_options.add_generation_prompt = true;
  context_options.bos_token = token_text(*tokenizer, tokenizer->vocab().bos);
  context_options.eos_token = token_text(*tokenizer, tokenizer->vocab().eos);
  const nlohmann::ordered_json extra = {{"enable_thinking", o.think}};

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
  std::vector<int32_t> cached;  // tokens whose keys and values are in the cache
  const bool interactive = isatty(STDIN_FILENO);
  std::string line;
  for (;;) {
    if (interactive) std::fputs("> ", stdout), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    const std::string prompt = chat_template.render(make_chat_context(messages, nullptr, context_options, extra));
    if (o.show_prompt) std::fprintf(stderr, "[prompt]%s[/prompt]\n", prompt.c_str());
    // Templates write BOS themselves, so nothing is added; their special tokens are parsed.
    const std::vector<int32_t> tokens = tokenizer->encode(prompt, /*add_special=*/false, /*parse_special=*/true);
    if (static_cast<int>(tokens.size()) >= forward.n_ctx()) {
      fail("the conversation ({} tokens) no longer fits the context of {}; start again with a larger --ctx",
           tokens.size(), forward.n_ctx());
    }
    size_t common = 0;
    while (common < cached.size() && common < tokens.size() && cached[common] == tokens[common]) ++common;
    if (common == tokens.size()) --common;  // at least one token must run to get logits
    forward.rewind(static_cast<int>(common));
    cached.assign(tokens.begin(), tokens.end());
    std::span<const float> logits = forward.eval(std::span(tokens).subspan(common));
    for (int32_t t : tokens) sampler.accept(t);

    TextStream stream(*tokenizer);
    std::string reply;
    for (int i = 0; i < o.max_reply && forward.n_past() < forward.n_ctx(); ++i) {
      const int32_t next = sampler.sample(logits);
      if (tokenizer->is_end_of_generation(next)) break;
      sampler.accept(next);
      const std::string text = stream.push(next);
      reply += text;
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      cached.push_back(next);
      const int32_t one[1] = {next};
      logits = forward.eval(one);
    }
    const std::string tail = stream.flush();
    reply += tail;
    std::fputs((tail + "\n").c_str(), stdout);
    std::fflush(stdout);
    messages.push_back({{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

}  // namespace

Action add_chat_command(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "chat with a model using its chat template (one message per line)");
  cmd->add_option("model", o->model_path, "model file (GGUF); default: the built-in arithmetic specialist")
      ->check(CLI::ExistingFile);
  cmd->add_option("--system", o->system, "system message");
  cmd->add_option("--template", o->template_path, "Jinja chat template file (default: the model's)")
      ->check(CLI::ExistingFile);
  cmd->add_option("-n,--max-reply", o->max_reply, "most tokens per reply")->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--think", o->think, "set enable_thinking for templates that support it");
  cmd->add_flag("--show-prompt", o->show_prompt, "print each rendered prompt to stderr");
  add_sampling_options(cmd, o->sampling);
  add_runtime_options(cmd, o->runtime);
  return [o] { return chat(*o); };
}

}  // namespace rpu::cli
