// S4's metric: how a candidate's answer is scored against the teacher's answer to the same
// logged call. The metric is chosen from the teacher answer's shape (bench/convert/score.mjs
// uses the same rules on the workload's labels) and can be overridden per cluster by name.
//
//   tool_call     the teacher called a tool: the first tool call's name and its arguments
//                 (JSON-equal: same keys, strings after trimming, numbers by value, a number
//                 sent as a string is wrong). A candidate without native tool calls may write
//                 {"name": ..., "arguments": {...}} as its content (what a specialist trained
//                 on answer_text learns); that counts as its tool call.
//   json_fields   the teacher's content is a JSON object: score = share of its fields the
//                 candidate's object (code fences / prose around it tolerated) has with equal
//                 values; correct only when all are. An empty teacher object needs any object.
//   final_number  the teacher's content ends "The answer is N." (the built-in model's format):
//                 the number after the last "answer is", else the text's last number, compared
//                 by value ("1,234" = 1234).
//   exact         anything else (labels, dates, rewrites, free text): equal after trimming and
//                 collapsing every whitespace run to one space (score.mjs trims only; collapsing
//                 is the same for one-line answers and forgiving of re-wrapped longer text).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace rpu::convert {

enum class MetricKind { kExact, kJsonFields, kToolCall, kFinalNumber };

std::string metric_name(MetricKind kind);
// "exact", "json_fields", "tool_call", "final_number"; throws rpu::Error naming the others.
MetricKind metric_from_name(std::string_view name);

// The metric for a teacher's assistant message ({"content", "tool_calls"?}).
MetricKind metric_for_answer(const nlohmann::ordered_json& teacher_message);

// What an answer commits to, for S3's merge of clusters (cluster.h): "tool NAME" for a tool call,
// "json KEY,KEY" (keys sorted) for a JSON object, "final number"; "" for exact-match text,
// whose clusters are not merged (two label sets are two tasks).
std::string answer_contract(const nlohmann::ordered_json& teacher_message);

struct AnswerScore {
  double value = 0;      // 0..1 (json_fields: the share of fields; others 0 or 1)
  bool correct = false;  // value == 1
  int fields_right = 0, fields_total = 0;  // json_fields only
};

// Both arguments are assistant messages ({"content": string|null, "tool_calls": [...]?}).
AnswerScore score_answer(MetricKind kind, const nlohmann::ordered_json& teacher_message,
                         const nlohmann::ordered_json& candidate_message);

// score.mjs's helpers, exposed for tests.
std::optional<double> final_number(std::string_view text);
std::optional<nlohmann::ordered_json> parse_json_object(std::string_view text);
bool same_value(const nlohmann::ordered_json& want, const nlohmann::ordered_json& got);

}  // namespace rpu::convert
