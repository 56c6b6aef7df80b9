// rpu gateway end to end, hot reload of the routes file (`routes_file:`, S6): a gateway with one
// local model ("general", the default route) and an empty routes file; `rpu convert`'s library
// (src/convert/routing_table.h) deploys a specialist route (alias "specialist", a second local
// model) and the gateway serves it within seconds, without a restart; calls in flight during
// each swap complete; a broken routes file, or one whose model does not load, keeps the
// previous table (and is counted in /metrics); the rollback takes the route out again.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "convert/routing_table.h"
#include "gateway_util.h"
#include "test_util.h"

namespace rpu {
namespace {

// The route that answers a call for `model` ("" when the call failed).
std::string route_for(const std::string& url, const std::string& model) {
  const auto r = test::http_post(url, "/v1/chat/completions", test::chat_body(model, "What is 2 + 3?", 8));
  if (r.status != 200) return "";
  return r.gateway().value("route", "");
}

// Polls until calls for `model` are answered by `route` (at most `seconds`).
bool wait_for_route(const std::string& url, const std::string& model, const std::string& route, double seconds = 8) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (route_for(url, model) == route) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

double reloads(const std::string& url, const std::string& outcome) {
  return test::metric_value(test::http_get(url, "/metrics").body, "rpu_gateway_reloads_total", {{"outcome", outcome}});
}

// Calls for "specialist" on a few threads until stopped: each must succeed, answered by the
// route of whichever table it started with.
class CallsInFlight {
 public:
  explicit CallsInFlight(const std::string& url) {
    for (int t = 0; t < 3; ++t) {
      threads_.emplace_back([this, url] {
        while (!stop_) {
          const auto r = test::http_post(url, "/v1/chat/completions", test::chat_body("specialist", "What is 7 * 6?", 24));
          ++calls_;
          const std::string route = r.status == 200 ? r.gateway().value("route", "") : "";
          if (route != "spec-route" && route != "general") ++failures_;
        }
      });
    }
  }
  // Stops and joins; (calls made, calls that failed).
  std::pair<int, int> finish() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    return {calls_.load(), failures_.load()};
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> calls_{0}, failures_{0};
  std::vector<std::thread> threads_;
};

TEST(GatewayReloadTest, DeployBrokenFileAndRollbackWithoutARestart) {
  const std::string dir = test::temp_path("gateway-reload");
  std::filesystem::create_directories(dir);
  const std::string routes = dir + "/routes.yaml";
  auto gateway = test::start_gateway_with_routes_file(dir);
  const std::string url = gateway->url();
  ASSERT_EQ(route_for(url, "general"), "general") << gateway->log();
  ASSERT_EQ(route_for(url, "specialist"), "general") << "the default route, before any deploy";

  convert::SpecialistRoute spec;
  spec.name = "spec-route";
  spec.aliases = {"specialist"};
  spec.model_name = "spec";
  spec.model_path = "builtin";
  spec.parallel = 2;
  CallsInFlight deploying(url);
  convert::deploy_route(routes, spec, dir + "/gateway.yaml");
  EXPECT_TRUE(wait_for_route(url, "specialist", "spec-route")) << gateway->log();
  auto [calls, failures] = deploying.finish();
  EXPECT_GT(calls, 0);
  EXPECT_EQ(failures, 0) << "of " << calls << " calls during the swap\n" << gateway->log();
  EXPECT_EQ(route_for(url, "general"), "general");
  EXPECT_NE(test::http_get(url, "/v1/models").body.find("\"specialist\""), std::string::npos);
  EXPECT_EQ(reloads(url, "ok"), 1);

  // A broken file (written whole, as the loop writes): the previous table stays.
  convert::write_routes_file(routes, "routes:\n  - name: [broken\n");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (reloads(url, "error") < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(reloads(url, "error"), 1) << gateway->log();
  EXPECT_EQ(route_for(url, "specialist"), "spec-route") << "the previous table still serves";
  EXPECT_NE(gateway->log().find(routes + ":"), std::string::npos) << gateway->log();
  EXPECT_NE(gateway->log().find("not reloaded"), std::string::npos) << gateway->log();

  // A model file that exists but does not load: the same.
  test::write_file(dir + "/not-a-model.gguf", "this is not a GGUF file");
  convert::write_file_atomically(routes, "models:\n  bad: {local: not-a-model.gguf}\n"
                                         "routes:\n  - {name: bad-route, aliases: [bad], target: bad}\n");
  const auto load_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (reloads(url, "error") < 2 && std::chrono::steady_clock::now() < load_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(reloads(url, "error"), 2) << gateway->log();
  EXPECT_NE(gateway->log().find(routes + ":2: models.bad.local: the model did not load"), std::string::npos)
      << gateway->log();
  EXPECT_EQ(route_for(url, "specialist"), "spec-route");

  // Back to the deployed version, then the rollback of the route, with calls in flight.
  ASSERT_TRUE(convert::restore_previous_routes(routes));
  CallsInFlight rolling_back(url);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_TRUE(convert::remove_route(routes, "spec-route", dir + "/gateway.yaml"));
  EXPECT_TRUE(wait_for_route(url, "specialist", "general")) << gateway->log();
  std::tie(calls, failures) = rolling_back.finish();
  EXPECT_GT(calls, 0);
  EXPECT_EQ(failures, 0) << "of " << calls << " calls during the rollback\n" << gateway->log();
  EXPECT_EQ(test::http_get(url, "/v1/models").body.find("\"specialist\""), std::string::npos);
  // The specialist's model is freed once no table holds it (by the poll thread, within a second).
  const auto release_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (gateway->log().find("\"spec\" released") == std::string::npos &&
         std::chrono::steady_clock::now() < release_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(gateway->log().find("\"spec\" released"), std::string::npos) << gateway->log();
  EXPECT_GE(reloads(url, "ok"), 2);
  EXPECT_EQ(reloads(url, "error"), 2);
  EXPECT_TRUE(gateway->running()) << gateway->log();
}

}  // namespace
}  // namespace rpu
