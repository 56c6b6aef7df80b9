// Answer extraction: turns one sampled text into the short answer that votes ("53", "B",
// "{\"id\":3}"), or nothing when the text holds no answer of the requested kind.
//
// Kinds (the "type" of a request's "extract" object):
// - last_number (default): the last integer or decimal in the text, thousands separators
//   and a sign allowed (numbers.h), normalised so "53", "53.0", "053" and "+53" vote together.
// - regex: the last non-overlapping match of `pattern`; the answer is capture `group`
//   (0 = whole match), trimmed of whitespace. The last match in which the group took part
//   counts; an empty (after trimming) capture is no answer. The pattern runs under a
//   matching budget (pattern.h); a text on which the budget runs out yields no answer.
// - json_path: the text parsed as JSON, or else the first complete {...} / [...] value
//   embedded in it (```json fences, prose around it); then `path` is followed and the
//   value's compact JSON is the answer (a string value unquoted). A missing path, or a
//   JSON null there, is no answer. Path syntax: optional "$", then ".name", "name" (first
//   segment), "[N]" (N < 0 counts from the end) or ["name"] / ['name'].
//   "$.answer", "answer.value", "items[0].id", "$['a b'][-1]".
// - choice: a standalone letter from `choices` written as an answer. The last one after an
//   answer phrase wins: "answer is B", "Answer: B", "answer is (B)", "answer: **B**",
//   "the correct option is B", "choice B". Without such a phrase, the last "(B)", "B)" or
//   line holding only the letter ("B", "B.", "**B**") counts. Letters are upper case and
//   case-sensitive (the "a" in "a dog" is never an answer, nor an "A" opening a sentence).
// - text: the whole text trimmed, ASCII letters lowercased, runs of whitespace collapsed
//   to one space, one trailing period removed; empty -> no answer.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace rpu::reasoning {

class Pattern;

struct ExtractSpec {
  enum class Kind { kLastNumber, kRegex, kJsonPath, kChoice, kText };
  Kind kind = Kind::kLastNumber;
  std::string pattern;  // kRegex
  int group = 1;        // kRegex
  std::string path;     // kJsonPath
  std::string choices = "ABCDE";  // kChoice
  // kRegex: `pattern` compiled by parse_extract_spec. A spec built by hand may leave it
  // null; extract_answer then compiles the pattern on each call (and throws if invalid).
  std::shared_ptr<const Pattern> regex;
};

// null -> last number. Otherwise an object {"type": "last_number" | "regex" | "json_path" |
// "choice" | "text", "pattern": "...", "group": 1, "path": "$.answer", "choices": "ABCD"}.
// Throws rpu::Error naming the field ("reasoning.extract.type: ...", ".pattern", ".group",
// ".path", ".choices") for a wrong type, a missing required field, an invalid regex, a group
// the pattern does not have, a malformed path, or choices that are not distinct A-Z letters.
// Fields that do not belong to the kind are ignored.
ExtractSpec parse_extract_spec(const nlohmann::json& j);

// The answer in `text`, or nullopt when there is none.
std::optional<std::string> extract_answer(const ExtractSpec& spec, std::string_view text);

// Used by the json_path kind; exposed for tests.
// The JSON value of the whole text, else the first complete embedded {...} / [...] value.
std::optional<nlohmann::json> find_json_value(std::string_view text);
// Follows a path (syntax above) in a value; nullptr when a step does not exist. Throws
// rpu::Error "reasoning.extract.path: ..." when the path is malformed.
const nlohmann::json* follow_json_path(const nlohmann::json& value, std::string_view path);

}  // namespace rpu::reasoning
