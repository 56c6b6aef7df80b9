// Chat templates: the Jinja templates models ship in tokenizer_config.json / GGUF metadata to turn
// a conversation into a prompt. ChatTemplate renders them byte for byte like @huggingface/jinja,
// the renderer transformers.js uses (see src/text/jinja_*.h for the engine and its limits).
//
//   auto tmpl = rpu::ChatTemplate::parse(source);          // throws rpu::Error on syntax errors
//   auto ctx = rpu::make_chat_context(messages, tools, {.add_generation_prompt = true,
//                                     .bos_token = "<s>"}, extra);
//   std::string prompt = tmpl.render(ctx);                   // throws rpu::Error on failure
//
// Every failure, including the template's own raise_exception(msg), is an rpu::Error with one
// clear line (syntax and runtime errors name the template line; raise_exception passes msg as is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json_fwd.hpp>

#include "core/error.h"

namespace rpu {

struct ChatRenderOptions {
  // The clock strftime_now() reads (broken-down local time). Empty: the current local time.
  // Tests inject a fixed date so renders are deterministic.
  std::function<std::tm()> now;
  // Guards against runaway templates; exceeding one is an error, never a truncated prompt.
  std::size_t max_output_bytes = std::size_t{64} << 20;
  std::uint64_t max_steps = 50'000'000;
  int max_call_depth = 400;
  // Work budget: bytes built or scanned, list items copied, steps (jinja_eval.h), plus 16 units
  // per byte of the context's strings. Counting steps alone let a loop copying a 32 MB string
  // per step run for hours.
  std::uint64_t max_cost = 128'000'000;
  // When set, polled while rendering; once it returns true (the caller went away), rendering
  // stops with a ChatTemplateBudgetError.
  std::function<bool()> cancelled;
};

// A render stopped because it exhausted its work budget or was cancelled (not because the
// template is wrong for this conversation): the template cannot be rendered in time, whatever
// the messages, so a caller probing a template at load treats it as unusable.
class ChatTemplateBudgetError : public Error {
 public:
  using Error::Error;
};

class ChatTemplate {
 public:
  // Tokenizes and parses; throws rpu::Error naming the line of the first syntax error, including
  // constructs the reference renderer does not support ({% raw %}, {% include %}, ...).
  static ChatTemplate parse(std::string source);

  // Renders with `context` (a JSON object whose keys become template variables). Object key order
  // is kept (ordered_json), as JavaScript keeps it, because tojson output depends on it.
  std::string render(const nlohmann::ordered_json& context) const;
  std::string render(const nlohmann::ordered_json& context, const ChatRenderOptions& options) const;

  const std::string& source() const;

 private:
  struct Compiled;
  explicit ChatTemplate(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}
  std::shared_ptr<const Compiled> compiled_;
};

struct ChatContextOptions {
  bool add_generation_prompt = true;
  std::string bos_token;  // omitted from the context when empty, as transformers.js does
  std::string eos_token;
  // OpenAI clients send tool-call arguments as JSON strings; many templates expect an object
  // (e.g. `arguments | tojson`). When set, string arguments that parse as a JSON object are
  // replaced by that object.
  bool tool_call_arguments_as_objects = false;
};

// The template variables make_chat_context fills from the request itself. `extra` may not set
// them: that would skip the checks of messages and tools, and the BOS/EOS handling.
inline bool is_request_template_variable(std::string_view name) {
  return name == "messages" || name == "tools" || name == "bos_token" || name == "eos_token" ||
         name == "add_generation_prompt";
}

// Builds the context transformers.js' apply_chat_template passes: messages, add_generation_prompt,
// tools (null when `tools` is null or empty), documents (null), bos_token, eos_token, then every
// key of `extra` (an object, e.g. {"enable_thinking": false}; null for none). Validates the
// OpenAI-style shape: an array of objects with a string "role"; content a string, null, an object
// (structured tool results) or an array of parts; tool_calls an array of {function: {name,
// arguments: string|object}}. Throws rpu::Error on a malformed request.
nlohmann::ordered_json make_chat_context(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                         const ChatContextOptions& options, const nlohmann::ordered_json& extra);

// The whitespace a template writes between its generation prompt and an assistant message's
// content: " " for "...Answer:" then "Answer: {content}", "" for ChatML. A model generates it
// as part of its first token (SentencePiece's "▁billing"), so a reply starts with it unless it is
// dropped (LocalBackend does). Empty when the template writes anything else there (a thinking
// block), renders the two differently, or fails on the probe conversation.
std::string template_reply_lead(const ChatTemplate& tmpl, const std::string& bos_token, const std::string& eos_token);

}  // namespace rpu
