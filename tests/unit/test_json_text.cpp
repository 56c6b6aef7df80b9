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

}  // namespace
}  // namespace rpu
