// The way back from scrub.h's placeholders, for routes that serve a specialist on scrubbed
// input (`scrub_input: true`): the conversion loop trains specialists on the usage log, whose
// personal data the scrubber replaced (<PERSON_1>, <EMAIL_1>, ...), so such a specialist is
// given the call scrubbed the same way (same scrubber, messages first, so the same numbering)
// and its answer gets the original values back before the client (and the log) sees it. The
// small model then never sees personal data, and reads what it was trained on.
//
// Answers arrive as streamed deltas, and a placeholder may be cut between two of them
// ("...<PERS" + "ON_1>..."): the restorer holds back a tail that could still become one, per
// choice, and lets it go at the choice's last event. Derived placeholders (scrub.h:
// "<PHONE_E164_1>", <PHONE_1>'s value in E.164) are computed from their source's value.
// Placeholders the call did not have (the
// model made one up) stay as they are; a cascade escalates such an answer instead
// (gateway_backend.cpp, reason "placeholder").
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/scrub.h"
#include "pipeline/backend.h"

namespace rpu::gateway {

class PlaceholderRestorer {
 public:
  // placeholder -> original value (ScrubSession::mapping() inverted).
  explicit PlaceholderRestorer(std::map<std::string, std::string> originals) : originals_(std::move(originals)) {}

  // Text of choice `index` since its previous delta -> the part that can be released, restored.
  std::string feed(int index, std::string_view text);
  // What choice `index` still holds back, restored.
  std::string flush(int index);
  // Every string in a JSON value (tool-call arguments), restored.
  void restore_json(nlohmann::ordered_json& value) const;
  // A whole text.
  std::string restore(std::string_view text) const;
  // Whether `text` holds a placeholder ("<NAME_N>") this call did not have: one the model
  // made up, which would reach the client as it is.
  bool has_unknown_placeholder(std::string_view text) const;
  bool has_unknown_placeholder(const CallResult& answer) const;  // any choice's text or tool calls
  // A placeholder's original value: this call's own, or a derived one computed from its
  // source's (scrub.h: "<PHONE_E164_1>" from <PHONE_1>'s); nullopt for one the call lacks.
  std::optional<std::string> value_of(std::string_view placeholder) const;
  // An event of the answer, in place: its text, and at the choice's last event the held-back
  // tail and the tool calls.
  void restore_event(ChatEvent& event);

 private:
  std::map<std::string, std::string> originals_;
  std::map<int, std::string> pending_;
};

// The request as a scrub_input route's model sees it (messages, then tools, scrubbed in one
// session as the usage log scrubs a call) and the restorer for its answer.
struct ScrubbedCall {
  ChatRequest request;
  PlaceholderRestorer restorer;
};
ScrubbedCall scrub_call(const Scrubber& scrubber, const ChatRequest& request);

}  // namespace rpu::gateway
