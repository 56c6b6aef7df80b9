// JSONL -> tokenized examples with loss masks (see trainer.h).
#include <fstream>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"
#include "chat/chat_template.h"
#include "train/trainer.h"

namespace rpu::train {
namespace {

using json = nlohmann::ordered_json;

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string piece_text(const Tokenizer& tokenizer, int32_t id) {
  return id >= 0 ? tokenizer.vocab().pieces[static_cast<size_t>(id)] : "";
}

// The chat rendered in pieces: text outside assistant turns (no loss) and each assistant turn
// as the template writes it (content and end-of-turn markers; loss). Each piece is tokenized
// on its own, which is also how inference sees it: generation starts right after the prompt.
// A piece goes on from the text before it (Tokenizer::encode continues_text) unless that ended
// in a special token: after a generation prompt "Answer:", a SentencePiece vocabulary learns
// " billing" as "▁billing", which the model generates, not as "▁" "▁billing" (an extra token
// per answer, and a doubled space in every reply).
void chat_example(const json& messages, const ChatTemplate& tmpl, const Tokenizer& tokenizer, Example& out,
                  const std::string& where) {
  ChatContextOptions options;
  options.bos_token = piece_text(tokenizer, tokenizer.vocab().bos);
  options.eos_token = piece_text(tokenizer, tokenizer.vocab().eos);
  auto render = [&](size_t count, bool generation_prompt) {
    options.add_generation_prompt = generation_prompt;
    json head = json::array();
    for (size_t i = 0; i < count; ++i) head.push_back(messages[i]);
    return tmpl.render(make_chat_context(head, nullptr, options, nullptr));
  };
  const std::string full = render(messages.size(), false);
  size_t done = 0;  // characters of `full` already turned into tokens
  auto after_special = [&] {
    const TokenKind kind = tokenizer.vocab().kinds[static_cast<size_t>(out.tokens.back())];
    return kind == TokenKind::kControl || kind == TokenKind::kUserDefined;
  };
  auto append = [&](std::string_view text, bool target) {
    const bool continues = !out.tokens.empty() && !after_special();
    const auto ids = tokenizer.encode(text, /*add_special=*/false, /*parse_special=*/true, continues);
    for (int32_t id : ids) {
      out.tokens.push_back(id);
      out.loss_mask.push_back(target ? 1 : 0);
    }
  };
  bool any = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].value("role", "") != "assistant") continue;
    const std::string prompt = render(i, true), upto = render(i + 1, false);
    if (full.compare(0, prompt.size(), prompt) != 0 || full.compare(0, upto.size(), upto) != 0 ||
        upto.size() < prompt.size() || prompt.size() < done) {
      fail("{}: the chat template does not render this conversation turn by turn (assistant message {} changes the "
           "text before it); use plain {{\"text\": ...}} examples for this model",
           where, i);
    }
    append(std::string_view(full).substr(done, prompt.size() - done), false);
    append(std::string_view(full).substr(prompt.size(), upto.size() - prompt.size()), true);
    done = upto.size();
    any = true;
  }
  if (!any) fail("{}: the conversation has no assistant message to learn", where);
  if (done < full.size()) append(std::string_view(full).substr(done), false);
}

// Every non-blank line of the files, parsed and checked: fn(where, line, row) for a
// {"messages": [...]} or {"text": ...} object; anything else is an error naming file:line.
void for_each_line(const std::vector<std::string>& paths,
                   const std::function<void(const std::string&, const std::string&, const json&)>& fn) {
  for (const std::string& path : paths) {
    std::ifstream in(path);
    if (!in) fail("cannot open training data '{}'", path);
    std::string line;
    for (int line_no = 1; std::getline(in, line); ++line_no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = path + ":" + std::to_string(line_no);
      const json j = parse_json_text(line, where);
      if (j.is_object() && j.contains("messages")) {
        if (!j["messages"].is_array() || j["messages"].empty()) fail("{}: 'messages' must be a non-empty array", where);
        for (const json& m : j["messages"]) {
          if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content")) {
            fail("{}: every message needs a string 'role' and a 'content'", where);
          }
        }
      } else if (!(j.is_object() && j.contains("text") && j["text"].is_string())) {
        fail("{}: expected {{\"messages\": [...]}} or {{\"text\": \"...\"}}", where);
      }
      fn(where, line, j);
    }
  }
}

// The chat template, parsed on the first chat example (plain-text data needs none).
const ChatTemplate& template_for(std::optional<ChatTemplate>& tmpl, const std::string& chat_template,
                                 const std::string& where) {
  if (!tmpl) {
    if (chat_template.empty()) fail("{}: chat examples need a chat template, and the model has none", where);
    tmpl.emplace(ChatTemplate::parse(chat_template));
  }
  return *tmpl;
}

}  // namespace

TrainData load_training_data(const std::vector<std::string>& paths, const Tokenizer& tokenizer,
                             const std::string& chat_template, int seq_len, double validation_fraction) {
  if (seq_len < 2) fail("the sequence length must be at least 2, got {}", seq_len);
  std::optional<ChatTemplate> tmpl;
  TrainData data;
  for_each_line(paths, [&](const std::string& where, const std::string& line, const json& j) {
    Example ex;
    if (j.contains("messages")) {
      chat_example(j["messages"], template_for(tmpl, chat_template, where), tokenizer, ex, where);
    } else {
      ex.tokens = tokenizer.encode(j["text"].get<std::string>(), /*add_special=*/true);
      if (tokenizer.vocab().eos >= 0) ex.tokens.push_back(tokenizer.vocab().eos);
      ex.loss_mask.assign(ex.tokens.size(), 1);
    }
    if (ex.tokens.size() < 2) return;  // nothing to predict
    if (static_cast<int>(ex.tokens.size()) > seq_len) {
      ex.tokens.resize(static_cast<size_t>(seq_len));
      ex.loss_mask.resize(static_cast<size_t>(seq_len));
      ++data.truncated;
    }
    const bool held_out = static_cast<double>(fnv1a(line) % 1000000) < validation_fraction * 1000000.0;
    (held_out ? data.validation : data.train).push_back(std::move(ex));
  });
  if (data.train.empty()) fail("no training examples in {}", paths.empty() ? std::string("(no files)") : paths.front());
  return data;
}

std::vector<std::string> training_texts(const std::vector<std::string>& paths, const std::string& chat_template) {
  std::optional<ChatTemplate> tmpl;
  std::vector<std::string> texts;
  for_each_line(paths, [&](const std::string& where, const std::string&, const json& j) {
    if (!j.contains("messages")) {
      texts.push_back(j["text"].get<std::string>());
      return;
    }
    // BOS/EOS are special tokens, not text to fit: rendered as a marker no text holds (templates
    // use them in expressions such as `content + eos_token`, so they must be defined), then cut.
    static const std::string kMarker = "\x1f<special>\x1f";
    ChatContextOptions options;
    options.add_generation_prompt = false;
    options.bos_token = options.eos_token = kMarker;
    std::string text = template_for(tmpl, chat_template, where).render(make_chat_context(j["messages"], nullptr, options, nullptr));
    for (size_t at; (at = text.find(kMarker)) != std::string::npos;) text.erase(at, kMarker.size());
    texts.push_back(std::move(text));
  });
  return texts;
}

}  // namespace rpu::train
