// The conversion loop's input: the gateway's logged calls (S1, already scrubbed: S2), read back
// from its usage log (SQLite file or PostgreSQL), as (request, teacher answer) pairs.
//
// A call is a teacher example when it succeeded and a teacher answered it: its `model` (the
// target that answered) is one of the teachers named in the convert config, either as the
// primary answer (routed or escalated to the upstream) or as a shadow answer. Calls answered
// by a local specialist are not examples (training on them would teach a model its own
// mistakes), but they count in the cluster's volume.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rpu::convert {

struct LoggedCall {
  int64_t id = 0;             // row id in the log
  int64_t source_id = 0;      // a variant's (augment.h): the id of the call it was made from; else 0
  int64_t time_ms = 0;
  std::string route, model, kind;  // as logged (model: the target that answered)
  nlohmann::ordered_json messages;  // the request's messages (scrubbed)
  nlohmann::ordered_json tools;     // the request's tools, or null
  nlohmann::ordered_json answer;    // the first choice's assistant message {"role", "content", "tool_calls"?}
  double latency_ms = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  int max_tokens = 0;         // the client's max_tokens as logged; 0: none
  bool escalated = false;
  bool from_teacher = false;  // answered by one of the teachers: usable as a training/eval example
};

struct LoadOptions {
  std::vector<std::string> teachers;  // target names whose answers are teacher answers
  int64_t after_id = 0;               // only rows after this id (re-runs on newer logs)
  int64_t max_calls = 0;              // 0: all
};

// Every successful call (primary and shadow). Throws rpu::Error naming the log.
std::vector<LoggedCall> load_logged_calls(const std::string& location, const LoadOptions& options);

// What a call is about, as one text for clustering: the system prompt(s), the tool names and
// the last user message ("system: ... | tools: a b | user: ..."). Placeholders stay as they
// are (<EMAIL_1>): every call of a type has them in the same places.
std::string task_signature(const LoggedCall& call);

// The answer as text for scoring: its content, or for a tool call
// {"name": ..., "arguments": {...}} of the first call, serialised compactly.
std::string answer_text(const nlohmann::ordered_json& assistant_message);

// Scrub placeholders (<PHONE_3>, <PERSON_1>: gateway/scrub.h) in an assistant message's text and
// tool calls that the call's request (messages, tools) does not hold. In a scrubbed log such a
// placeholder stands for a value the teacher made from the request's data that the scrubber
// could not relate to it (a date rewritten, a name re-spelled: a new string, numbered anew), which
// no specialist can produce: served on scrubbed input, the gateway puts back only the request's
// own placeholders, so a copied "<PHONE_3>" reaches the client as it is. A derived placeholder
// ("<PHONE_E164_1>", a phone rewritten as E.164: gateway/scrub.h) is not foreign when its source
// is in the request. Empty: none.
std::vector<std::string> foreign_placeholders(const LoggedCall& call, const nlohmann::ordered_json& assistant_message);

}  // namespace rpu::convert
