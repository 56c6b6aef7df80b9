// The nesting bound applied to every JSON text rpu reads from outside (core/json_text.h):
// brackets inside strings do not count, the scan stops at the limit, and parsing errors and deep
// nesting are rpu::Errors naming the source.
#include <gtest/gtest.h>

#include <string>

#include "core/json_text.h"

namespace rpu {
namespace {

TEST(JsonText, NestingDepthIgnoresStrings) {
  EXPECT_EQ(json_nesting_depth("1"), 0u);
  EXPECT_EQ(json_nesting_depth(R"({"a": [1, {"b": []}]})"), 4u);
  EXPECT_EQ(json_nesting_depth(R"(["[[[{{{", "\"[[[", "\\", [1]])"), 2u);
  EXPECT_EQ(json_nesting_depth("]]]][[]"), 2u);  // stray closers are the parser's to report
}

TEST(JsonText, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(json_nesting_depth(deep), kMaxJsonNesting + 1);  // the scan stops at the limit
  try {
    parse_json_text(deep, "deep.json");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "deep.json: JSON nested deeper than 128 levels (at byte 128)");
  }
  const std::string ok = std::string(128, '[') + std::string(128, ']');
  EXPECT_EQ(parse_json_text(ok, "ok.json").size(), 1u);
  EXPECT_THROW(parse_json_text(ok, "ok.json", 10), Error);
}

TEST(JsonText, SyntaxErrorsNameTheSource) {
  try {
    parse_json_text<nlohmann::ordered_json>("{\"a\": ", "config.json");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("config.json: not valid JSON (", 0), 0u) << e.what();
  }
}

// Whole numbers in range come back; anything nlohmann's get<int> would truncate or overflow on
// (undefined behaviour for 1e300) is an error naming the field.
TEST(JsonText, IntegersAreWholeAndInRange) {
  const auto j = nlohmann::json::parse(R"({"a": 7, "b": 7.0, "c": -3, "d": 18446744073709551615, "e": 2.5,
                                           "f": 1e300, "g": "7", "h": null, "i": -1e300})");
  EXPECT_EQ(json_integer(j, "a", 0, 0, 10), 7);
  EXPECT_EQ(json_integer(j, "b", 0, 0, 10), 7);
  EXPECT_EQ(json_integer(j, "c", 0, -5, 10), -3);
  EXPECT_EQ(json_integer(j, "h", 4, 0, 10), 4);        // null: the fallback
  EXPECT_EQ(json_integer(j, "missing", 4, 0, 10), 4);  // absent: the fallback
  EXPECT_EQ(json_integer(nlohmann::json(5), "n", 0, 10), 5);
  for (const char* key : {"c", "d", "e", "f", "g", "i"}) {
    try {
      json_integer(j, key, 0, 0, 10);
      ADD_FAILURE() << key << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), std::string(key) + " must be an integer between 0 and 10");
    }
  }
  EXPECT_THROW(json_integer(j, "a", 0, 0, 6), Error);
}

}  // namespace
}  // namespace rpu
