// Budgets of JSON Schema -> grammar and of GBNF parsing (issue 11, findings 3, 8, 10): a
// schema a client sends must convert in time linear in its size or be refused with
// GrammarTooLarge before the work grows, and a cancelled caller stops the build.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "decode/grammar.h"
#include "decode/json_schema.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

json object_with_required_properties(int n) {
  json props = json::object(), required = json::array();
  for (int i = 0; i < n; ++i) {
    const std::string name = "p" + std::to_string(i);
    props[name] = {{"type", "integer"}};
    required.push_back(name);
  }
  return {{"type", "object"}, {"properties", props}, {"required", required}};
}

bool matches(const std::string& grammar, const std::string& text) {
  GrammarMatcher m(Grammar::parse(grammar), nullptr);
  return m.accept_bytes(text) && m.is_complete();
}


// Finding 3: rule names were found by trying "rest", "rest2", ... one by one (quadratic:
// 4,000 properties took seconds, 20,000 minutes). Within the budget a large object converts;
// past it the schema is refused, quickly.
TEST(SchemaBudgetTest, ThousandsOfPropertiesConvertAndMatch) {
  const std::string grammar = json_schema_to_grammar(object_with_required_properties(3000));
  std::string doc = "{";
  for (int i = 0; i < 3000; ++i) doc += (i ? ",\"p" : "\"p") + std::to_string(i) + "\":" + std::to_string(i);
  doc += "}";
  EXPECT_TRUE(matches(grammar, doc));
  EXPECT_FALSE(matches(grammar, "{\"p0\":0}"));  // every property is required
}

TEST(SchemaBudgetTest, TwentyThousandPropertiesAreRefusedQuickly) {
  const json schema = object_with_required_properties(20000);
  try {
    json_schema_to_grammar(schema);
    FAIL() << "a 20,000-property schema was accepted";
  } catch (const GrammarTooLarge& e) {
    EXPECT_NE(std::string(e.what()).find("would exceed"), std::string::npos) << e.what();
  }
}

// Names from different hints can collide ("ref-x" twice gives "ref-x2", which a $def named
// "x2" also wants): every name must still be defined once.
TEST(SchemaBudgetTest, RuleNamesStayUniqueWhenHintsCollide) {
  const json schema = json::parse(R"({
    "$defs": {"x": {"type": "integer"}, "x2": {"type": "string"}, "x3": {"type": "boolean"}},
    "definitions": {"x": {"type": "null"}},
    "type": "array",
    "prefixItems": [{"$ref": "#/$defs/x"}, {"$ref": "#/definitions/x"}, {"$ref": "#/$defs/x2"},
                    {"$ref": "#/$defs/x3"}],
    "items": false
  })");
  const std::string grammar = json_schema_to_grammar(schema);
  EXPECT_TRUE(matches(grammar, R"([1,null,"s",true])")) << grammar;
  EXPECT_FALSE(matches(grammar, R"([1,null,"s",1])")) << grammar;
}

// Finding 8: a 1.2M-value enum took 31 s and 1 GB; it is refused before any grammar is built.
TEST(SchemaBudgetTest, HugeEnumIsRefusedBeforeItIsBuilt) {
  json values = json::array();
  for (int i = 0; i < 1'200'000; ++i) values.push_back("v" + std::to_string(i));
  const json schema = {{"enum", values}};
  EXPECT_THROW(json_schema_to_grammar(schema), GrammarTooLarge);
  // A few thousand values are fine.
  json some = json::array();
  for (int i = 0; i < 5000; ++i) some.push_back("v" + std::to_string(i));
  const std::string grammar = json_schema_to_grammar({{"enum", some}});
  EXPECT_TRUE(matches(grammar, "\"v4999\""));
  EXPECT_FALSE(matches(grammar, "\"v5000\""));
  // The largest enums the default limits admit stay within the matcher's bounds on parse
  // stacks, which refuse only ambiguous grammars (a state holds one stack per value here).
  json many = json::array();
  for (int i = 0; i < 30000; ++i) many.push_back("value" + std::to_string(i));
  const std::string large = json_schema_to_grammar({{"enum", many}});
  EXPECT_TRUE(matches(large, "\"value29999\""));
  EXPECT_TRUE(matches(large, "\"value7\""));
  EXPECT_FALSE(matches(large, "\"value30000\""));
}

// Finding 10: a long prefixItems nested one group per item and was reported as a "$ref
// cycle"; it now converts (one rule per position), and past the budget says so.
TEST(SchemaBudgetTest, LongPrefixItemsConvertOrReportTheirSize) {
  json items = json::array();
  for (int i = 0; i < 2000; ++i) items.push_back({{"const", i}});
  const std::string grammar = json_schema_to_grammar({{"type", "array"}, {"prefixItems", items}, {"minItems", 2000}});
  std::string doc = "[";
  for (int i = 0; i < 2000; ++i) doc += (i ? "," : "") + std::to_string(i);
  EXPECT_TRUE(matches(grammar, doc + "]"));
  EXPECT_FALSE(matches(grammar, "[0,1]"));  // minItems 2000

  json many = json::array();
  for (int i = 0; i < 100000; ++i) many.push_back({{"type", "integer"}});
  try {
    json_schema_to_grammar({{"type", "array"}, {"prefixItems", many}});
    FAIL() << "100,000 prefixItems were accepted";
  } catch (const GrammarTooLarge& e) {
    EXPECT_EQ(std::string(e.what()).find("$ref cycle"), std::string::npos) << e.what();
  }
}

// One budget spans several conversions (the tools of a request).
TEST(SchemaBudgetTest, SharedBudgetCoversEveryConversion) {
  SchemaBudget budget;
  budget.limits.max_text_bytes = 20000;
  const json schema = object_with_required_properties(40);
  EXPECT_NO_THROW(json_schema_to_rules(schema, "a", &budget));
  EXPECT_GT(budget.text_bytes, 0u);
  EXPECT_THROW(
      for (int i = 0; i < 100; ++i) json_schema_to_rules(schema, "t" + std::to_string(i), &budget), GrammarTooLarge);
}

TEST(SchemaBudgetTest, CancelledCallerStopsTheConversion) {
  SchemaBudget budget;
  int polls = 0;
  budget.limits.cancelled = [&polls] { return ++polls > 0; };
  EXPECT_THROW(json_schema_to_grammar(object_with_required_properties(3000), &budget), GrammarCancelled);
  EXPECT_GT(polls, 0);
  GrammarLimits limits;
  limits.cancelled = [] { return true; };
  EXPECT_THROW(Grammar::parse("root ::= \"a\"{0,9000}", "root", limits), GrammarCancelled);
}

TEST(GrammarLimitsTest, ExpansionsPastTheLimitsAreRefused) {
  // Eleven {0,10000} repetitions expand to 110,000 rules.
  std::string text = "root ::=";
  for (int i = 0; i < 11; ++i) text += " \"a\"{0,10000}";
  EXPECT_THROW(Grammar::parse(text), GrammarTooLarge);
  GrammarLimits small;
  small.max_elements = 1000;
  EXPECT_THROW(Grammar::parse("root ::= \"ab\"{1200}", "root", small), GrammarTooLarge);
  EXPECT_NO_THROW(Grammar::parse("root ::= \"ab\"{400}", "root", small));
  small.max_text_bytes = 10;
  EXPECT_THROW(Grammar::parse("root ::= \"abcdefgh\"", "root", small), GrammarTooLarge);
  // Still plain rpu::Errors, for callers that do not tell them apart.
  EXPECT_THROW(Grammar::parse(text), Error);
}

// Group origins are kept as offsets and turned into line/column only for an error message:
// one scan of the source per group made large grammars quadratic. The message still names
// the place.
TEST(GrammarLimitsTest, ManyGroupsParseAndErrorsStillNameTheirPlace) {
  std::string text = "root ::=";
  for (int i = 0; i < 20000; ++i) text += " (\"a\" | \"b\")?";
  EXPECT_NO_THROW(Grammar::parse(text));
  try {
    Grammar::parse("root ::= \"x\"\n  (\"a\"?)*");
    FAIL() << "a nullable loop was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(" at line 2, column"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rpu
