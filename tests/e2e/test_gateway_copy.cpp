// rpu gateway end to end, a route's copy_fields (what the conversion loop learned its teacher
// copies): the gateway hands them to the route's local model, whose answer's value is then the
// request's one span of the field's shape; another route's answer is free. Over HTTP, with
// the client's own grammar giving the JSON frame (the built-in model writes no JSON).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "gateway_util.h"
#include "test_util.h"

namespace rpu {
namespace {

TEST(GatewayCopyTest, ARoutesCopyFieldsHoldItsModelToTheRequestsSpans) {
  const std::string dir = test::temp_path("gateway-copy");
  std::filesystem::create_directories(dir);
  test::write_file(dir + "/gateway.yaml", R"(models:
  small: {local: builtin, parallel: 2, threads: 1}
routes:
  - name: extract
    aliases: [extract]
    target: small
    copy_fields: {order_id: [A-#]}
  - name: free
    aliases: [free]
    target: small
)");
  auto gateway = test::start_gateway(dir + "/gateway.yaml");
  const auto ask = [&](const std::string& model) {
    nlohmann::json body = test::chat_body(model, "Where is my order JN-251997? It was due on the 3rd.", 40);
    body["grammar"] = R"(root ::= "{\"order_id\": \"" [A-Za-z0-9-]+ "\"}")";
    return test::http_post(gateway->url(), "/v1/chat/completions", body);
  };
  const auto held = ask("extract");
  ASSERT_EQ(held.status, 200) << held.body << gateway->log();
  EXPECT_EQ(held.content(), "{\"order_id\": \"JN-251997\"}");
  const auto free = ask("free");
  ASSERT_EQ(free.status, 200) << free.body;
  EXPECT_NE(free.content(), "{\"order_id\": \"JN-251997\"}") << "the built-in model does not copy by itself";
}

// A route's answer_schema (the conversion loop's JSON form of a cluster's answers): the route's
// local model answers as it does when the caller sends that schema as its response_format,
// with the properties in the order of `required` (the YAML map below lists them the other way
// round); without it the model writes no JSON. (The built-in model never learned JSON: held to
// the form it spends its 40 tokens on the whitespace the grammar allows, so the answers are
// compared, not parsed.)
TEST(GatewayCopyTest, ARoutesAnswerSchemaHoldsItsModelToTheForm) {
  const std::string dir = test::temp_path("gateway-answer-schema");
  std::filesystem::create_directories(dir);
  test::write_file(dir + "/gateway.yaml", R"(models:
  small: {local: builtin, parallel: 2, threads: 1}
routes:
  - name: form
    aliases: [form]
    target: small
    answer_schema:
      type: object
      properties: {done: {type: [boolean]}, answer: {type: [integer, "null"]}}
      required: [answer, done]
      additionalProperties: false
  - name: free
    aliases: [free]
    target: small
)");
  auto gateway = test::start_gateway(dir + "/gateway.yaml");
  const auto ask = [&](const std::string& model, const nlohmann::json& response_format) {
    nlohmann::json body = test::chat_body(model, "Leo has 5 shells. He finds 3 more. How many shells does he have now?", 40);
    if (!response_format.is_null()) body["response_format"] = response_format;
    return test::http_post(gateway->url(), "/v1/chat/completions", body);
  };
  const nlohmann::json schema = nlohmann::json::parse(R"({"type": "json_schema", "json_schema": {"name": "answer",
      "schema": {"type": "object", "properties": {"answer": {"type": ["integer", "null"]}, "done": {"type": ["boolean"]}},
      "required": ["answer", "done"], "additionalProperties": false}}})");
  const auto held = ask("form", nullptr);
  ASSERT_EQ(held.status, 200) << held.body << gateway->log();
  const auto asked = ask("free", schema);
  ASSERT_EQ(asked.status, 200) << asked.body;
  EXPECT_EQ(held.content(), asked.content());
  ASSERT_FALSE(held.content().empty());
  EXPECT_EQ(held.content()[0], '{') << held.content();
  const auto plain = ask("free", nullptr);
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_FALSE(plain.content().starts_with("{")) << "the built-in model writes no JSON by itself: " << plain.content();
  // The caller's own format stands.
  const nlohmann::json object = {{"type", "json_object"}};
  EXPECT_EQ(ask("form", object).content(), ask("free", object).content());
}

// A route for a specialist trained on its teacher's working (convert/working.h): its steps'
// results are computed with the teacher's decimals (`calculator: {decimals: 2}`), the working
// arrives as reasoning_content, and `thinking_tokens` lets it run past the caller's max_tokens,
// which the answer alone fits in. Without those keys the same output is cut at max_tokens and
// its step's result is the model's own. (A grammar writes the span: the built-in model never
// learned one.)
TEST(GatewayCopyTest, ARoutesWorkingIsComputedAndFitsBesideTheCallersBudget) {
  const std::string dir = test::temp_path("gateway-working");
  std::filesystem::create_directories(dir);
  test::write_file(dir + "/gateway.yaml", R"(models:
  small: {local: builtin, parallel: 2, threads: 1}
routes:
  - name: units
    aliases: [units]
    target: small
    calculator: {decimals: 2}
    thinking_tokens: 80
  - name: free
    aliases: [free]
    target: small
)");
  auto gateway = test::start_gateway(dir + "/gateway.yaml");
  const auto ask = [&](const std::string& model) {
    nlohmann::json body = test::chat_body(model, "Distance: 62.6 mi", 8);
    body["grammar"] = R"(root ::= "<think>\n62.6 * 1.609344 = " [0-9]+ "." [0-9]+ "\n</think>\n\n" [0-9] [0-9]? [0-9]? "." [0-9] [0-9] " km")";
    return test::http_post(gateway->url(), "/v1/chat/completions", body);
  };
  const auto units = ask("units");
  ASSERT_EQ(units.status, 200) << units.body << gateway->log();
  const nlohmann::json& choice = units.json["choices"][0];
  EXPECT_EQ(choice["message"]["reasoning_content"], "\n62.6 * 1.609344 = 100.74\n") << units.body;
  EXPECT_EQ(choice["finish_reason"], "stop") << units.body;
  EXPECT_GT(units.json["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int>(), 0) << units.body;
  const auto free = ask("free");
  ASSERT_EQ(free.status, 200) << free.body;
  EXPECT_EQ(free.json["choices"][0]["finish_reason"], "length") << free.body;
}

}  // namespace
}  // namespace rpu
