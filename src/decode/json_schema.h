// JSON Schema -> GBNF (text for Grammar::parse), for OpenAI-style structured output.
//
// What is enforced: type (also type arrays), properties / required / additionalProperties
// (false, true or a schema), items / prefixItems / minItems / maxItems, enum / const (any
// JSON value), string minLength / maxLength and format date, time, date-time, uuid;
// integer and number minimum / maximum / exclusiveMinimum / exclusiveMaximum; anyOf, oneOf,
// allOf (merged), $ref into the same document (#/$defs/..., #/definitions/..., recursion ok).
//
// Choices (the output is always valid, but only a subset of the valid documents is produced):
// - Properties come in declared order; optional ones may be left out. Without
//   additionalProperties (or with false) no other keys are produced; with true or a schema,
//   extra keys (no escapes, different from the declared names) may follow. A required name
//   missing from properties takes additionalProperties' schema. A bare {"type": "object"}
//   (no properties / required / additionalProperties) is any object.
// - enum / const values are written as listed; of the keywords beside them only 'type'
//   filters them. Strings never use \u escapes of surrogates (a pair would count as two
//   characters for minLength here but as one to a validator).
// - Numbers have at most 16 integer and 16 fraction digits and a 3-digit exponent, so a
//   model cannot write digits forever. Bounded numbers have no exponent and their bounds are
//   rounded inwards to integers (minimum 0.5 acts as 1).
// - Whitespace between tokens is bounded (a space, or up to two newlines with indentation).
// - OpenAI's "strict" flag changes nothing here: the output always follows the schema.
// - oneOf is treated as anyOf: a value matching two branches would be invalid; give oneOf
//   branches that cannot overlap (different types, const discriminators, ...).
// - format values other than the four above are annotations (JSON Schema 2020-12) and are
//   not enforced.
// Keywords that restrict valid values but are not supported (pattern, not, if/then/else,
// multipleOf, uniqueItems, contains, patternProperties, propertyNames, min/maxProperties,
// dependent*, unevaluated*) are rejected with an rpu::Error naming the keyword and its path,
// as are $ref cycles that never pass through an object or array and schemas nested deeper
// than 100 levels. Unknown keywords are ignored (JSON Schema treats them as annotations).
// A schema whose grammar would exceed the budget (SchemaBudget) is refused with
// GrammarTooLarge, before the work grows: conversion, parsing and matching are all linear in
// the grammar's size, so the budget bounds a request's CPU and memory.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "decode/grammar.h"

namespace rpu {

// Bounds on a conversion's work and output, for schemas a client sends. One budget may be
// shared by several conversions (all the tools of one request), which then share its limits.
// Over a limit the conversion throws GrammarTooLarge; when limits.cancelled returns true,
// GrammarCancelled. Parse the result with the same limits.
struct SchemaBudget {
  GrammarLimits limits;
  size_t max_steps = 200'000;  // schema nodes and enum values visited, allOf branches merged
  size_t steps = 0;              // used so far
  size_t text_bytes = 0;         // GBNF produced so far (limit: limits.max_text_bytes)
};

struct JsonSchemaRules {
  std::string rules;  // GBNF rules, every name starting with the prefix
  std::string root;   // the rule that matches one value of the schema
};

// Rules to embed in a larger grammar, e.g. root ::= "<tool_call>\n" <root> "\n</tool_call>".
// prefix: letters, digits, '_' or '-'.
// Throws rpu::Error naming the problem and its JSON pointer (GrammarTooLarge past the budget).
JsonSchemaRules json_schema_to_rules(const nlohmann::ordered_json& schema, std::string_view prefix,
                                     SchemaBudget* budget = nullptr);
// A whole grammar (start rule "root") for one JSON value of the schema.
std::string json_schema_to_grammar(const nlohmann::ordered_json& schema, SchemaBudget* budget = nullptr);
// response_format {"type": "json_object"}: any JSON object.
std::string json_object_grammar();

}  // namespace rpu
