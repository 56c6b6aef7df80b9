// Request bodies whose objects hold very many keys (issue 11, huge schemas): the JSON library
// finds each new key of an ordered object by a linear scan, so 100,000 keys took 27 s to
// parse. The body is refused before parsing when that cost is too high.
#include <gtest/gtest.h>

#include <string>

#include "server/openai_protocol.h"

namespace rpu {
namespace {

std::string chat_with_schema_properties(int n) {
  std::string props;
  for (int i = 0; i < n; ++i) props += (i ? ",\"p" : "\"p") + std::to_string(i) + "\":{\"type\":\"string\"}";
  return R"({"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema",)"
         R"("json_schema":{"name":"s","schema":{"type":"object","properties":{)" + props + "}}}}}";
}

TEST(RequestKeyBudgetTest, ObjectsWithHundredsOfThousandsOfKeysAreRefusedBeforeParsing) {
  try {
    parse_chat_request(chat_with_schema_properties(200000));
    FAIL() << "a body with an object of 200,000 keys was parsed";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "response_format");
    EXPECT_NE(std::string(e.what()).find("too many keys"), std::string::npos) << e.what();
  }
}

TEST(RequestKeyBudgetTest, SchemasOfOpenAIsSizeStillParse) {
  const ChatRequest r = parse_chat_request(chat_with_schema_properties(5000));
  EXPECT_EQ(r.response_format["json_schema"]["schema"]["properties"].size(), 5000u);
  // Keys in strings and arrays do not count.
  std::string many_strings = R"({"model":"m","messages":[{"role":"user","content":")";
  for (int i = 0; i < 50000; ++i) many_strings += "k:v,";
  EXPECT_NO_THROW(parse_chat_request(many_strings + "\"}]}"));
}

}  // namespace
}  // namespace rpu
