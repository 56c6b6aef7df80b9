// The conversion loop's routes file (src/convert/routing_table.h): deploy and rollback change it
// atomically (a reader never sees a partial file), the previous version is kept for rollback,
// the result is what the gateway's config reader accepts, and the calibration of a
// specialist's min_confidence on hand-made (confidence, correct) pairs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "convert/routing_table.h"
#include "gateway/config.h"
#include "test_util.h"

namespace rpu {
namespace {

using convert::CalibrationSample;
using convert::SpecialistRoute;

const std::string kMain = R"(models:
  general: {local: builtin, parallel: 1}
upstreams:
  teacher: {url: http://127.0.0.1:9/v1}
routes:
  - name: general
    target: general
default_route: general
)";

gateway::GatewayConfig main_config() { return gateway::parse_gateway_config(kMain, "main.yaml"); }

SpecialistRoute specialist(const std::string& name, const std::string& alias) {
  SpecialistRoute r;
  r.name = name;
  r.aliases = {alias};
  r.model_path = "builtin";
  r.teacher = "teacher";
  r.min_confidence = 0.7;
  r.shadow_share = 0.05;
  return r;
}

// A fresh folder per test: temp_path names are unique per process, not per test.
std::string routes_path(const std::string& name) {
  const std::string dir = test::temp_path("routes-" + name);
  std::filesystem::create_directories(dir);
  return dir + "/routes.yaml";
}

// S4's strategy goes into the route as `reasoning:`; the gateway's config reader gives back the
// same object (integers stay integers, 0.7 a number, the verifier's flag a boolean), which is
// what the gateway sends the model. A string the reader would take for a number is refused.
TEST(RoutingTableTest, TheRoutesReasoningReadsBackAsTheSameObject) {
  const std::string file = routes_path("reasoning");
  SpecialistRoute r = specialist("arith", "arith-alias");
  r.reasoning = {{"strategy", "best_of_n"},
                 {"n", 5},
                 {"temperature", 0.7},
                 {"verifier", {{"type", "arithmetic"}, {"grounded", true}}},
                 {"extract", {{"type", "text"}}}};
  convert::deploy_route(file, r);
  const gateway::GatewayConfig merged = gateway::merge_routes_text(main_config(), test::read_file(file), file);
  ASSERT_EQ(merged.routes[0].name, "arith");
  EXPECT_EQ(merged.routes[0].reasoning, nlohmann::json::parse(r.reasoning.dump()));
  EXPECT_TRUE(merged.routes[0].reasoning["n"].is_number_integer());
  EXPECT_TRUE(merged.routes[0].reasoning["verifier"]["grounded"].is_boolean());
  EXPECT_TRUE(merged.routes[1].reasoning.is_null()) << "the main config's route has none";

  SpecialistRoute greedy = specialist("plain", "plain-alias");
  EXPECT_EQ(convert::routes_with(routes_path("greedy"), greedy).find("reasoning"), std::string::npos)
      << "greedy: no reasoning key";

  SpecialistRoute odd = specialist("odd", "odd-alias");
  odd.reasoning = {{"strategy", "self_consistency"}, {"extract", {{"type", "regex"}, {"pattern", "42"}}}};
  try {
    convert::routes_with(file, odd);
    FAIL() << "a string that reads back as a number was written";
  } catch (const convert::RoutingTableError& e) {
    EXPECT_NE(std::string(e.what()).find("reasoning.extract.pattern"), std::string::npos) << e.what();
  }
  odd.reasoning = "sc5";
  EXPECT_THROW(convert::routes_with(file, odd), convert::RoutingTableError);
}

// What S4 learned from the teacher's answers goes into the route (`force_tool_call:`,
// `copy_fields:`) and reads back as written, the copy fields' shapes as strings (including
// those YAML could take for a comment or a number); the gateway refuses a malformed list with
// the route's key.
TEST(RoutingTableTest, TheRoutesCopyFieldsReadBackAsWritten) {
  const std::string file = routes_path("copy");
  SpecialistRoute r = specialist("extract", "extract-alias");
  r.copy_fields = {{"order_id", {"A-#", "#", "#.#"}}, {"product", {"Aa # a", "<A_#> Aa"}}, {"note", {}}};
  r.force_tool_call = true;
  r.calculator = true;
  convert::deploy_route(file, r);
  const gateway::GatewayConfig merged = gateway::merge_routes_text(main_config(), test::read_file(file), file);
  ASSERT_EQ(merged.routes[0].name, "extract");
  const auto& got = merged.routes[0].copy_fields;
  ASSERT_EQ(got.size(), 3u);
  for (const CopyField& want : r.copy_fields) {
    const auto it = std::find_if(got.begin(), got.end(), [&](const CopyField& f) { return f.key == want.key; });
    ASSERT_NE(it, got.end()) << want.key;
    EXPECT_EQ(it->shapes, want.shapes) << want.key;
  }
  EXPECT_TRUE(merged.routes[1].copy_fields.empty());
  EXPECT_TRUE(merged.routes[0].force_tool_call);
  EXPECT_FALSE(merged.routes[1].force_tool_call);
  EXPECT_TRUE(merged.routes[0].calculator);
  EXPECT_EQ(merged.routes[0].calculator_decimals, -1);
  EXPECT_FALSE(merged.routes[1].calculator);

  // A route for a teacher that shows its working: the calculator's decimals and the working's
  // token allowance read back as written.
  SpecialistRoute units = specialist("units", "units-alias");
  units.calculator = true;
  units.calculator_decimals = 2;
  units.thinking_tokens = 48;
  const std::string units_file = routes_path("units");
  convert::deploy_route(units_file, units);
  const gateway::GatewayConfig with_units = gateway::merge_routes_text(main_config(), test::read_file(units_file), units_file);
  ASSERT_EQ(with_units.routes[0].name, "units");
  EXPECT_TRUE(with_units.routes[0].calculator);
  EXPECT_EQ(with_units.routes[0].calculator_decimals, 2);
  EXPECT_EQ(with_units.routes[0].thinking_tokens, 48);
  EXPECT_EQ(with_units.routes[1].thinking_tokens, 0);

  // A route key the gateway refuses, with a message naming it.
  const auto refused = [](const std::string& route_keys, const std::string& key) {
    std::string yaml = kMain;
    yaml.insert(yaml.find("default_route"), "  - name: x\n    target: general\n    aliases: [x]\n" + route_keys);
    try {
      gateway::parse_gateway_config(yaml, "bad.yaml");
      ADD_FAILURE() << "accepted: " << route_keys;
    } catch (const gateway::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  refused("    copy_fields: {a: A-#}\n", "copy_fields");  // shapes that are not a list
  refused("    copy_fields: {a: {from: system}}\n", "from");
  refused("    force_tool_call: often\n", "force_tool_call");
  refused("    calculator: sometimes\n", "calculator");
  refused("    calculator: {decimals: 9}\n", "calculator.decimals");
  refused("    calculator: {places: 2}\n", "calculator");
  refused("    calculator: {}\n", "calculator");
  refused("    thinking_tokens: -1\n", "thinking_tokens");
}

// The answer's JSON Schema (answer_form.h) reads back as written: its properties in the
// teacher's order (not the alphabet's), "null" a type name rather than YAML's null; the gateway
// refuses a schema it cannot enforce, naming the route's key.
TEST(RoutingTableTest, TheRoutesAnswerSchemaReadsBackAsWritten) {
  const std::string file = routes_path("answer-schema");
  SpecialistRoute r = specialist("extract", "extract-alias");
  r.answer_schema = nlohmann::ordered_json::parse(R"({"type": "object", "properties": {"order_id": {"type": ["string"]},
      "name": {"type": ["null", "string"]}, "count": {"type": ["integer"]}, "any": {}},
      "required": ["order_id", "name", "count", "any"], "additionalProperties": false})");
  convert::deploy_route(file, r);
  const gateway::GatewayConfig merged = gateway::merge_routes_text(main_config(), test::read_file(file), file);
  ASSERT_EQ(merged.routes[0].name, "extract");
  const nlohmann::ordered_json& got = merged.routes[0].answer_schema;
  EXPECT_EQ(nlohmann::json(got), nlohmann::json(r.answer_schema));
  std::vector<std::string> order;
  for (const auto& [key, value] : got["properties"].items()) order.push_back(key);
  EXPECT_EQ(order, (std::vector<std::string>{"order_id", "name", "count", "any"}));
  EXPECT_TRUE(merged.routes[1].answer_schema.is_null());

  std::string bad = kMain;
  bad.insert(bad.find("default_route"),
             "  - name: x\n    target: general\n    aliases: [x]\n    answer_schema: {type: string, pattern: a+}\n");
  try {
    gateway::parse_gateway_config(bad, "bad.yaml");
    FAIL() << "a schema rpu cannot enforce was accepted";
  } catch (const gateway::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("answer_schema"), std::string::npos) << e.what();
  }
  std::string scalar = kMain;
  scalar.insert(scalar.find("default_route"), "  - name: x\n    target: general\n    aliases: [x]\n    answer_schema: json\n");
  EXPECT_THROW(gateway::parse_gateway_config(scalar, "bad.yaml"), gateway::ConfigError);
}

TEST(RoutingTableTest, DeployWritesARouteTheGatewayMergesFirst) {
  const std::string file = routes_path("deploy");
  convert::deploy_route(file, specialist("extract", "extractor"));
  const gateway::GatewayConfig merged = gateway::merge_routes_text(main_config(), test::read_file(file), file);
  ASSERT_EQ(merged.routes.size(), 2u);
  EXPECT_EQ(merged.routes[0].name, "extract");  // specialists first
  EXPECT_EQ(merged.routes[0].aliases, std::vector<std::string>{"extractor"});
  ASSERT_TRUE(merged.routes[0].cascade.has_value());
  EXPECT_EQ(merged.routes[0].cascade->upstream, "teacher");
  EXPECT_DOUBLE_EQ(merged.routes[0].cascade->min_confidence, 0.7);
  EXPECT_EQ(merged.routes[0].cascade->confidence, gateway::ConfidenceMeasure::kMeanToken);
  ASSERT_TRUE(merged.routes[0].shadow.has_value());
  EXPECT_DOUBLE_EQ(merged.routes[0].shadow->share, 0.05);
  EXPECT_EQ(merged.routes[1].name, "general");
  ASSERT_EQ(merged.local_models.size(), 2u);
  EXPECT_EQ(merged.local_models[1].name, "extract");
  EXPECT_EQ(merged.default_route, "general");
}

TEST(RoutingTableTest, RedeployReplacesAndRollbackRemovesWithItsModel) {
  const std::string file = routes_path("replace");
  convert::deploy_route(file, specialist("a", "alias-a"));
  convert::deploy_route(file, specialist("b", "alias-b"));
  SpecialistRoute again = specialist("a", "alias-a2");
  again.min_confidence = 0.4;
  again.confidence = gateway::ConfidenceMeasure::kAnswer;
  convert::deploy_route(file, again);
  EXPECT_EQ(convert::routing_table_routes(file), (std::vector<std::string>{"a", "b"}));
  const gateway::GatewayConfig redeployed = gateway::merge_routes_text(main_config(), test::read_file(file), file);
  ASSERT_TRUE(redeployed.routes[0].cascade.has_value());
  EXPECT_DOUBLE_EQ(redeployed.routes[0].cascade->min_confidence, 0.4);
  EXPECT_EQ(redeployed.routes[0].cascade->confidence, gateway::ConfidenceMeasure::kAnswer);
  const std::string before_rollback = test::read_file(file);
  ASSERT_TRUE(convert::remove_route(file, "a"));
  EXPECT_EQ(convert::routing_table_routes(file), std::vector<std::string>{"b"});
  // The previous version is kept: the file as it was before the rollback.
  EXPECT_EQ(test::read_file(file + ".prev"), before_rollback);
  const gateway::GatewayConfig merged = gateway::merge_routes_text(main_config(), test::read_file(file), file);
  ASSERT_EQ(merged.local_models.size(), 2u) << "model 'a' goes with its route";
  EXPECT_EQ(merged.local_models[1].name, "b");
  EXPECT_FALSE(convert::remove_route(file, "a")) << "already gone";
  // Back to the previous version: route 'a' again.
  ASSERT_TRUE(convert::restore_previous_routes(file));
  EXPECT_EQ(test::read_file(file), before_rollback);
  EXPECT_EQ(convert::routing_table_routes(file), (std::vector<std::string>{"a", "b"}));
}

TEST(RoutingTableTest, ARouteNothingSelectsOrABadFileIsRefused) {
  const std::string file = routes_path("bad");
  SpecialistRoute unreachable = specialist("x", "x");
  unreachable.aliases.clear();
  EXPECT_THROW(convert::deploy_route(file, unreachable), convert::RoutingTableError);
  EXPECT_FALSE(std::filesystem::exists(file)) << "nothing written";
  test::write_file(file, "routes: [\n");
  EXPECT_THROW(convert::deploy_route(file, specialist("x", "x")), convert::RoutingTableError);
  EXPECT_EQ(test::read_file(file), "routes: [\n");
}

TEST(RoutingTableTest, TheGatewayConfigCheckRefusesAnUnknownTeacher) {
  const std::string dir = std::filesystem::path(routes_path("check")).parent_path().string();
  const std::string config = dir + "/gateway.yaml";
  test::write_file(config, kMain + "routes_file: routes.yaml\n");
  SpecialistRoute r = specialist("s", "s");
  r.teacher = "no-such-upstream";
  EXPECT_THROW(convert::deploy_route(dir + "/routes.yaml", r, config), gateway::ConfigError);
  EXPECT_FALSE(std::filesystem::exists(dir + "/routes.yaml"));
  r.teacher = "teacher";
  convert::deploy_route(dir + "/routes.yaml", r, config);
  EXPECT_EQ(convert::routing_table_routes(dir + "/routes.yaml"), std::vector<std::string>{"s"});
}

TEST(RoutingTableTest, TheGatewayNamesAClashInTheRoutesFileWithItsLine) {
  auto error_of = [](const std::string& yaml) {
    try {
      gateway::merge_routes_text(main_config(), yaml, "routes.yaml");
    } catch (const gateway::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("models:\n  general: {local: builtin}\n"),
            "routes.yaml:2: models.general: the name is already used (in main.yaml or above)");
  EXPECT_EQ(error_of("routes:\n  - {name: s, aliases: [x], target: nowhere}\n").rfind("routes.yaml:2: routes[0].target: ", 0),
            0u);
  EXPECT_EQ(error_of("routes:\n  - {name: general, target: general}\n").rfind("routes.yaml:2: routes[0].name: ", 0), 0u);
  EXPECT_EQ(error_of("routez: []\n").rfind("routes.yaml:1: routez: unknown key", 0), 0u);
  EXPECT_EQ(error_of(""), "no error");
}

// A reader parsing the file while a writer replaces it again and again sees only whole
// files: each version is a complete YAML document whose last route is the marker.
TEST(RoutingTableTest, AReaderNeverSeesAPartialFile) {
  const std::string file = routes_path("atomic");
  auto version = [](int i) {
    std::string text = "# version " + std::to_string(i) + "\nroutes:\n";
    for (int k = 0; k < 2000 + (i % 7) * 300; ++k) text += "  - {name: r" + std::to_string(k) + ", target: general}\n";
    return text + "  - {name: end, target: general}\n";
  };
  convert::write_file_atomically(file, version(0));
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, partial{0};
  std::thread reader([&] {
    while (!done) {
      const std::string text = test::read_file(file);
      ++reads;
      if (!text.starts_with("# version ") || !text.ends_with("  - {name: end, target: general}\n")) ++partial;
    }
  });
  for (int i = 1; i <= 60; ++i) convert::write_file_atomically(file, version(i));
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(partial.load(), 0) << "of " << reads.load() << " reads";
  // And no temporary file is left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(std::filesystem::path(file).parent_path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

// A held-out call and its variants weigh one call: a call with nothing to vary (answered wrong,
// confidently) must not be outvoted by another call's variants.
TEST(RoutingTableTest, CalibrationWeighsEachHeldOutCallOnce) {
  std::vector<CalibrationSample> samples = {{0.99, false, 1}, {0.6, true, 1}, {0.5, true, 1}};
  for (int i = 0; i < 4; ++i) samples.push_back({0.95, true, 0.25});  // a call and 3 variants, all right
  // Weighted: 3 of 4 calls right; any threshold that keeps the 0.99 answer reaches 0.75 only.
  convert::Calibration c = convert::calibrate_threshold(samples, 0.8);
  EXPECT_TRUE(c.feasible);
  EXPECT_DOUBLE_EQ(c.local_share, 0);
  EXPECT_GT(c.threshold, 0.99);
  EXPECT_DOUBLE_EQ(convert::calibrate_threshold(samples, 0.75).local_share, 1);
  // Counted one by one, 6 of 7 right: everything would stay local at 0.8.
  for (auto& s : samples) s.weight = 1;
  c = convert::calibrate_threshold(samples, 0.8);
  EXPECT_DOUBLE_EQ(c.local_share, 1);
  EXPECT_NEAR(c.expected_quality, 6.0 / 7.0, 1e-12);
}

// With a margin the kept calls' accuracy counts at its Wilson lower bound: k of k right at
// z = 1 is k / (k + 1), so 17 held-out calls all right keep k with (k^2/(k+1) + 17 - k) / 17 >= 0.95:
// k <= 5 (the mean would keep all 17).
TEST(RoutingTableTest, CalibrationWithAMarginTrustsFewRightAnswersLess) {
  EXPECT_NEAR(convert::wilson_lower_bound(17, 17, 1), 17.0 / 18, 1e-12);
  EXPECT_NEAR(convert::wilson_lower_bound(40, 41, 1.645), 0.8978, 1e-4);
  EXPECT_DOUBLE_EQ(convert::wilson_lower_bound(0, 0, 1), 0);
  std::vector<CalibrationSample> samples;
  for (int i = 0; i < 17; ++i) samples.push_back({0.5 + 0.01 * i, true});
  EXPECT_DOUBLE_EQ(convert::calibrate_threshold(samples, 0.95).local_share, 1);
  const convert::Calibration c = convert::calibrate_threshold(samples, 0.95, 1.0, 1.0);
  EXPECT_TRUE(c.feasible);
  EXPECT_NEAR(c.local_share, 5.0 / 17, 1e-12);
  EXPECT_NEAR(c.threshold, 0.62, 1e-12);  // the five most confident
  EXPECT_GE(c.expected_quality, 0.95);
}

// The measure that keeps more calls local wins: here the mean token probability ranks a wrong
// answer (one unsure value among sure markup) above right ones, the answer's probability does not.
TEST(RoutingTableTest, CalibrationKeepsTheMeasureThatKeepsMoreCallsLocal) {
  const std::vector<CalibrationSample> by_mean = {{0.99, false}, {0.98, true}, {0.97, true}, {0.96, true}, {0.5, false}};
  const std::vector<CalibrationSample> by_answer = {{0.20, false}, {0.90, true}, {0.80, true}, {0.85, true}, {0.1, false}};
  convert::RouteCalibration c = convert::calibrate_measures(by_mean, by_answer, 1.0);
  EXPECT_EQ(c.measure, gateway::ConfidenceMeasure::kAnswer);
  EXPECT_DOUBLE_EQ(c.calibration.local_share, 0.6);
  EXPECT_DOUBLE_EQ(c.calibration.threshold, 0.8);
  // On the mean alone nothing can stay local at 100%: the most confident answer is wrong.
  EXPECT_DOUBLE_EQ(convert::calibrate_threshold(by_mean, 1.0).local_share, 0);
  // A tie, or no answer probabilities (a state from before they were measured): the mean.
  EXPECT_EQ(convert::calibrate_measures(by_answer, by_answer, 1.0).measure, gateway::ConfidenceMeasure::kMeanToken);
  c = convert::calibrate_measures(by_mean, {}, 0.6);
  EXPECT_EQ(c.measure, gateway::ConfidenceMeasure::kMeanToken);
  EXPECT_DOUBLE_EQ(c.calibration.local_share, 1);
}

// An answer cut at max_tokens (confidence -1) goes to the teacher at every threshold, so even
// "keep everything" (threshold 0) counts it as escalated, at the teacher's quality.
TEST(RoutingTableTest, CalibrationNeverKeepsAnswersTheCascadeAlwaysEscalates) {
  const std::vector<CalibrationSample> samples = {{-1, false}, {0.9, true}, {0.8, true}, {0.7, true}};
  convert::Calibration c = convert::calibrate_threshold(samples, 0.95);
  EXPECT_TRUE(c.feasible);
  EXPECT_DOUBLE_EQ(c.threshold, 0);
  EXPECT_DOUBLE_EQ(c.local_share, 0.75);
  EXPECT_DOUBLE_EQ(c.expected_quality, 1);
  // Only such answers: nothing stays local, whatever the threshold.
  c = convert::calibrate_threshold({{-1, false}, {-1, false}}, 0.95);
  EXPECT_TRUE(c.feasible);
  EXPECT_DOUBLE_EQ(c.local_share, 0);
}

TEST(RoutingTableTest, CalibrationPicksTheLowestThresholdThatKeepsTheQuality) {
  // Confident answers are right, unsure ones mostly wrong.
  const std::vector<CalibrationSample> samples = {{0.95, true}, {0.9, true}, {0.85, true}, {0.8, true}, {0.7, true},
                                                  {0.6, false}, {0.5, true}, {0.4, false}, {0.3, false}, {0.2, false}};
  // Keep everything: 6/10 correct.
  convert::Calibration c = convert::calibrate_threshold(samples, 0.6);
  EXPECT_DOUBLE_EQ(c.threshold, 0);
  EXPECT_DOUBLE_EQ(c.local_share, 1);
  EXPECT_TRUE(c.feasible);
  // 100%: only calls at 0.7 and above stay (5 right), the other 5 go to the teacher.
  c = convert::calibrate_threshold(samples, 1.0);
  EXPECT_DOUBLE_EQ(c.threshold, 0.7);
  EXPECT_DOUBLE_EQ(c.local_share, 0.5);
  EXPECT_DOUBLE_EQ(c.expected_quality, 1.0);
  // 95%: threshold 0.5 keeps 7 (6 right) + 3 escalated = 9/10 < 0.95; 0.7 gives 10/10.
  c = convert::calibrate_threshold(samples, 0.95);
  EXPECT_DOUBLE_EQ(c.threshold, 0.7);
  // 90%: 0.4 keeps 8 (6 right) + 2 = 8/10; 0.5 keeps 7 (6 right) + 3 = 9/10, the lowest.
  c = convert::calibrate_threshold(samples, 0.9);
  EXPECT_DOUBLE_EQ(c.threshold, 0.5);
  EXPECT_DOUBLE_EQ(c.local_share, 0.7);
  EXPECT_DOUBLE_EQ(c.expected_quality, 0.9);
  // A teacher at 80%: escalating is worth less; 95% cannot be reached (the best is 0.7: 9/10).
  c = convert::calibrate_threshold(samples, 0.95, 0.8);
  EXPECT_FALSE(c.feasible);
  // 0.85 with a 0.8 teacher: threshold 0.7 -> 5 right + 5 * 0.8 = 9/10.
  c = convert::calibrate_threshold(samples, 0.85, 0.8);
  EXPECT_TRUE(c.feasible);
  EXPECT_DOUBLE_EQ(c.threshold, 0.7);
  EXPECT_NEAR(c.expected_quality, 0.9, 1e-12);
  EXPECT_FALSE(convert::calibrate_threshold({}, 0.9).feasible);
}

}  // namespace
}  // namespace rpu
