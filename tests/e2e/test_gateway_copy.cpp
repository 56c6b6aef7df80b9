// rpu gateway end to end, a route's copy_fields (what the conversion loop learned its teacher
// copies): the gateway hands them to the route's local model, whose answer's value is then the
// request's one span of the field's shape; another route's answer is free. Over HTTP, with
// the client's own grammar giving the JSON frame (the built-in model writes no JSON).
#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace rpu
