#include "gateway/unscrub.h"

namespace rpu::gateway {
namespace {

constexpr size_t kLongestPlaceholder = 40;  // "<URL_CREDENTIALS_12345>" and the like, with room

bool placeholder_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9'); }

// Where a trailing "<..." that could still grow into a placeholder starts; npos when none.
size_t open_tail(std::string_view text) {
  const size_t lt = text.rfind('<');
  if (lt == std::string_view::npos || text.size() - lt > kLongestPlaceholder) return std::string_view::npos;
  for (size_t i = lt + 1; i < text.size(); ++i) {
    if (!placeholder_char(text[i])) return std::string_view::npos;
  }
  return lt;
}

}  // namespace

std::optional<std::string> PlaceholderRestorer::value_of(std::string_view placeholder) const {
  if (const auto it = originals_.find(std::string(placeholder)); it != originals_.end()) return it->second;
  const std::string source = derived_source(placeholder);
  if (source.empty()) return std::nullopt;
  const auto it = originals_.find(source);
  if (it == originals_.end()) return std::nullopt;
  return derived_value(placeholder, it->second);
}

std::string PlaceholderRestorer::restore(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t lt = text.find('<', pos);
    if (lt == std::string_view::npos) break;
    const size_t gt = text.find('>', lt + 1);
    if (gt == std::string_view::npos) break;
    out.append(text.substr(pos, lt - pos));
    const std::optional<std::string> value = value_of(text.substr(lt, gt - lt + 1));
    if (value) {
      out += *value;
      pos = gt + 1;
    } else {
      out += '<';
      pos = lt + 1;
    }
  }
  out.append(text.substr(pos));
  return out;
}

bool PlaceholderRestorer::has_unknown_placeholder(std::string_view text) const {
  for (const std::string& p : placeholders_in(text)) {
    if (!value_of(p)) return true;
  }
  return false;
}

bool PlaceholderRestorer::has_unknown_placeholder(const CallResult& answer) const {
  for (const ChoiceResult& c : answer.choices) {
    if (has_unknown_placeholder(c.text)) return true;
    if (!c.tool_calls.is_null() && has_unknown_placeholder(c.tool_calls.dump())) return true;
  }
  return false;
}

std::string PlaceholderRestorer::feed(int index, std::string_view text) {
  std::string& held = pending_[index];
  held.append(text);
  const size_t tail = open_tail(held);
  if (tail == std::string::npos) {
    std::string out = restore(held);
    held.clear();
    return out;
  }
  std::string out = restore(std::string_view(held).substr(0, tail));
  held.erase(0, tail);
  return out;
}

std::string PlaceholderRestorer::flush(int index) {
  const auto it = pending_.find(index);
  if (it == pending_.end()) return "";
  std::string out = restore(it->second);
  pending_.erase(it);
  return out;
}

void PlaceholderRestorer::restore_json(nlohmann::ordered_json& value) const {
  if (value.is_string()) {
    value = restore(value.get_ref<const std::string&>());
  } else if (value.is_array() || value.is_object()) {
    for (auto& child : value) restore_json(child);
  }
}

void PlaceholderRestorer::restore_event(ChatEvent& event) {
  // The reasoning channel streams apart from the content, so it holds its own tail: under a
  // key no choice index takes.
  const int reasoning_key = -1 - event.index;
  event.text = feed(event.index, event.text);
  event.reasoning = feed(reasoning_key, event.reasoning);
  if (!event.finish_reason.empty()) {
    event.text += flush(event.index);
    event.reasoning += flush(reasoning_key);
    restore_json(event.tool_calls);
  }
}

ScrubbedCall scrub_call(const Scrubber& scrubber, const ChatRequest& request) {
  ScrubSession session(scrubber);
  ChatRequest scrubbed = request;
  session.scrub_messages(scrubbed.messages);
  // Then the tools' strings, in the order the usage log scrubs a call (messages first), so
  // the placeholders match the logged ones.
  session.scrub_strings(scrubbed.tools);
  std::map<std::string, std::string> originals;
  for (const auto& [value, placeholder] : session.mapping()) originals[placeholder] = value;
  return {std::move(scrubbed), PlaceholderRestorer(std::move(originals))};
}

}  // namespace rpu::gateway
