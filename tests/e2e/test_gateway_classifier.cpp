// rpu gateway end to end, the conversion loop's task classifier: `rpu convert cluster`'s
// classifier (made here by the convert library from a clustering of two kinds of calls) is
// deployed with a specialist route (a second `local: builtin` model) for the arithmetic kind's
// cluster; calls of that kind, which name no alias and match no rule, are answered by it, the
// others by the default route; a rewritten classifier file is picked up; the rollback takes the
// mapping out again. No restart.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "convert/classifier_file.h"
#include "convert/cluster.h"
#include "convert/routing_table.h"
#include "core/rng.h"
#include "gateway/task_classifier.h"
#include "gateway/task_signature.h"
#include "gateway_util.h"
#include "test_util.h"

namespace rpu {
namespace {

const char* kMathSystem = "Solve the arithmetic word problem step by step and end with 'The answer is N.'";
const char* kRewriteSystem = "Rewrite the text more politely and concisely, keeping its meaning.";

std::string math_user(Rng& rng) {
  return "Ann has " + std::to_string(rng.next() % 90) + " apples and buys " + std::to_string(rng.next() % 90) +
         " more. How many apples does she have?";
}
std::string rewrite_user(Rng& rng) {
  return "tell the team the report is late again, version " + std::to_string(rng.next() % 9) + ", and I am annoyed";
}

std::string signature(const std::string& system, const std::string& user) {
  const nlohmann::ordered_json messages = {{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}};
  return gateway::task_signature(messages, nullptr);
}

std::string route_of(const std::string& url, const std::string& system, const std::string& user) {
  const auto r = test::http_post(url, "/v1/chat/completions", test::chat_body("gpt-4o", user, 4, system));
  return r.status == 200 ? r.gateway().value("route", "") : "";
}

bool wait_for(const std::string& url, const std::string& system, const std::string& user, const std::string& route) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (std::chrono::steady_clock::now() < deadline) {
    if (route_of(url, system, user) == route) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST(GatewayClassifierTest, ClusterOfTheSpecialistGoesToItsRouteUntilRollback) {
  const std::string dir = test::temp_path("gateway-classifier");
  std::filesystem::create_directories(dir);
  // S3: two kinds of logged calls, clustered; the classifier written beside clusters.json.
  Rng rng(5);
  std::vector<std::string> texts;
  for (int i = 0; i < 40; ++i) {
    texts.push_back(signature(kMathSystem, math_user(rng)));
    texts.push_back(signature(kRewriteSystem, rewrite_user(rng)));
  }
  convert::ClusterOptions two;
  two.k = 2;
  const convert::Clustering clustering = convert::cluster_texts(texts, two);
  const int math_cluster = clustering.labels[0];
  ASSERT_NE(clustering.labels[1], math_cluster);
  const std::string classifier = convert::classifier_path_for(dir + "/clusters.json");
  convert::write_classifier_file(classifier, convert::make_task_classifier(clustering));

  const std::string routes = dir + "/routes.yaml";
  auto gateway = test::start_gateway_with_routes_file(dir);
  const std::string url = gateway->url();
  ASSERT_EQ(route_of(url, kMathSystem, math_user(rng)), "general") << gateway->log();

  // S6: the arithmetic cluster's specialist, reached by the classifier alone (no alias, no rule).
  convert::SpecialistRoute spec;
  spec.name = "math-route";
  spec.model_name = "math";
  spec.model_path = "builtin";
  spec.parallel = 1;
  spec.cluster = math_cluster;
  spec.classifier_file = classifier;
  convert::deploy_route(routes, spec, dir + "/gateway.yaml");
  ASSERT_TRUE(wait_for(url, kMathSystem, math_user(rng), "math-route")) << gateway->log();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(route_of(url, kMathSystem, math_user(rng)), "math-route");
    EXPECT_EQ(route_of(url, kRewriteSystem, rewrite_user(rng)), "general");
    EXPECT_EQ(route_of(url, "You are a poet.", "Write a haiku about the sea"), "general");
  }
  EXPECT_GE(test::metric_value(test::http_get(url, "/metrics").body, "rpu_gateway_classified_total",
                               {{"route", "math-route"}}),
            4);

  // `rpu convert cluster` rewrites the classifier in place (here with the two clusters' ids
  // swapped): the gateway reloads it although the routes file did not change.
  auto swapped = convert::make_task_classifier(clustering).to_json();
  std::swap(swapped["centroids"][0]["cluster"], swapped["centroids"][1]["cluster"]);
  convert::write_classifier_file(classifier, gateway::CentroidClassifier::from_json(swapped, "swapped"));
  EXPECT_TRUE(wait_for(url, kRewriteSystem, rewrite_user(rng), "math-route")) << gateway->log();
  EXPECT_EQ(route_of(url, kMathSystem, math_user(rng)), "general");
  convert::write_classifier_file(classifier, convert::make_task_classifier(clustering));
  EXPECT_TRUE(wait_for(url, kMathSystem, math_user(rng), "math-route")) << gateway->log();

  // Rollback: the route and its mapping go; the arithmetic calls are the default route's again.
  ASSERT_TRUE(convert::remove_route(routes, "math-route", dir + "/gateway.yaml"));
  EXPECT_TRUE(wait_for(url, kMathSystem, math_user(rng), "general")) << gateway->log();
  EXPECT_EQ(test::read_file(routes).find("classifier"), std::string::npos) << test::read_file(routes);
  EXPECT_TRUE(gateway->running()) << gateway->log();
}

}  // namespace
}  // namespace rpu
