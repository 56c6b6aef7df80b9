// `rpu convert run` end to end on a small JSONL log of three call types, each with its own
// system prompt: 100 arithmetic word problems in the built-in model's answer format (it
// passes the test's low target, so it is deployed without training), 40 intent labels (the
// built-in model cannot say them and a 2-step fine-tune does not learn them: that specialist
// fails evaluation and must not be deployed), and 12 translations (below --min-calls: skipped).
// Checked: the decisions and reasons in the state files, the routes file loads in the gateway
// config it was deployed against, an existing clusters.json is not clustered again, a second run resumes every step, and the report is written.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "convert/routing_table.h"
#include "convert/run.h"
#include "gateway/config.h"
#include "gateway/usage_log.h"
#include "test_util.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

json call_line(int64_t id, const std::string& system, const std::string& user, const std::string& answer) {
  return {{"id", id},
          {"messages", json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}})},
          {"answer", {{"role", "assistant"}, {"content", answer}}}};
}

void write_log(const std::string& path) {
  std::mt19937 rng(3);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* names[] = {"Leo", "Mia", "Sam", "Zoe"};
  const char* intents[] = {"refund", "billing", "shipping", "cancel"};
  const char* words[] = {"house", "cat", "water", "bread"};
  std::ofstream out(path);
  int64_t id = 0;
  for (int i = 0; i < 100; ++i) {
    const int a = pick(5, 40), b = pick(1, 30);
    const std::string name = names[pick(0, 3)];
    out << call_line(++id, "You solve arithmetic word problems step by step.",
                     name + " has " + std::to_string(a) + " apples. " + name + " buys " + std::to_string(b) +
                         " more. How many apples does " + name + " have now?",
                     std::to_string(a) + " + " + std::to_string(b) + " = " + std::to_string(a + b) +
                         ". The answer is " + std::to_string(a + b) + ".")
               .dump()
        << '\n';
  }
  for (int i = 0; i < 40; ++i) {
    const int k = pick(0, 3);
    out << call_line(++id, "Classify the customer's intent. Reply with one label only.",
                     std::string("Order ") + std::to_string(pick(1000, 9999)) + ": I want help with " + intents[k] + " please",
                     std::string("intent_") + intents[k])
               .dump()
        << '\n';
  }
  for (int i = 0; i < 12; ++i) {
    out << call_line(++id, "Translate the user's word into German, one word.", words[i % 4], "Haus").dump() << '\n';
  }
}

// S3's result, written before the first run as a resumed run finds it: the test is about S4-S6
// and resuming, not about how well TF-IDF separates three tiny types.
void write_clusters(const std::string& work, const std::string& log) {
  ClustersFile file;
  file.log = log;
  file.calls = 152;
  file.method = "given by the test";
  const std::pair<int64_t, int64_t> ranges[] = {{1, 100}, {101, 140}, {141, 152}};
  for (int id = 0; id < 3; ++id) {
    ClusterRecord c;
    c.id = id;
    for (int64_t i = ranges[id].first; i <= ranges[id].second; ++i) c.call_ids.push_back(i);
    c.size = static_cast<int64_t>(c.call_ids.size());
    c.teacher_calls = c.size;
    c.volume = static_cast<double>(c.size) / 152;
    c.top_terms = {id == 0 ? "arithmetic" : id == 1 ? "intent" : "translate"};
    file.clusters.push_back(c);
  }
  std::filesystem::create_directories(work);
  write_clusters_file(work + "/clusters.json", file);
}

void write_gateway_config(const std::string& path, const std::string& routes) {
  std::ofstream(path) << "listen: {host: 127.0.0.1, port: 18599}\n"
                         "upstreams:\n  teacher:\n    url: http://127.0.0.1:18598/v1\n"
                         "routes:\n  - name: general\n    target: teacher\n"
                         "default_route: general\n"
                         "routes_file: "
                      << routes << "\n";
}

TEST(ConvertRunE2E, DeploysWhatPassesSkipsSmallClustersResumesAndReports) {
  const std::string dir = test::temp_path("convert_run");
  std::filesystem::create_directories(dir);
  const std::string log = dir + "/calls.jsonl", routes = dir + "/routes.yaml", config = dir + "/gateway.yaml";
  const std::string work = dir + "/work";
  write_log(log);
  write_gateway_config(config, routes);
  write_clusters(work, log);
  const std::vector<std::string> args{"convert", "run", log, "--work-dir", work, "--routes-file", routes,
                                      "--gateway-config", config, "--min-calls", "20", "--target", "0.8",
                                      "--train-minutes", "0.2", "--train-steps", "2", "--max-tokens", "48",
                                      "--shadow", "0.1", "-t", "2"};
  const auto first = test::run_rpu(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::printf("%s", first.out.c_str());

  const ClustersFile clusters = read_clusters_file(work + "/clusters.json");
  ASSERT_EQ(clusters.clusters.size(), 3u);
  int deployed = 0, skipped = 0, failed = 0;
  json deployed_reasoning;
  for (const ClusterRecord& c : clusters.clusters) {
    const json state = read_cluster_state(work, c.id);
    ASSERT_FALSE(state.is_null()) << "cluster " << c.id;
    if (c.size == 12) {
      ++skipped;
      EXPECT_NE(state["skipped"].get<std::string>().find("too few calls"), std::string::npos);
    } else if (c.size == 40) {
      ++failed;
      EXPECT_TRUE(state.contains("trained")) << "no candidate passed, so S5 ran";
      EXPECT_FALSE(state["deployed"]["deployed"].get<bool>()) << state.dump(2);
      // The built-in model says no intent label right: sampling it more is not tried.
      ASSERT_EQ(state["evaluated"].size(), 1u) << state.dump(2);
      EXPECT_EQ(state["evaluated"][0]["strategy"], "greedy");
      EXPECT_NE(state["strategies_not_tried"][0].get<std::string>().find("sc5"), std::string::npos) << state.dump(2);
    } else {
      ++deployed;
      EXPECT_EQ(c.size, 100);
      EXPECT_FALSE(state.contains("trained")) << "the built-in model passed: no training";
      EXPECT_TRUE(state["deployed"]["deployed"].get<bool>()) << state.dump(2);
      EXPECT_GE(state["deployed"]["min_confidence"].get<double>(), 0.0);
      // S4 tried the built-in model greedily, with self-consistency and (numeric answers)
      // best-of-N; S6 deployed the pair it judged best, its strategy as the route's reasoning.
      std::vector<std::string> tried;
      for (const json& e : state["evaluated"]) tried.push_back(e["strategy"].get<std::string>());
      EXPECT_EQ(tried, (std::vector<std::string>{"greedy", "sc5", "bon5", "bon16"})) << state.dump(2);
      const json& d = state["deployed"];
      EXPECT_FALSE(d["strategy_reason"].get<std::string>().empty());
      deployed_reasoning = d["reasoning"];
      for (const json& e : state["evaluated"]) {
        if (e["strategy"] == d["strategy"]) {
          EXPECT_EQ(e["reasoning"], d["reasoning"]);
          EXPECT_DOUBLE_EQ(e["samples_per_call"].get<double>(),
                           d["strategy"] == "greedy" ? 1.0 : d["strategy"] == "bon16" ? 16.0 : 5.0);
        }
      }
    }
  }
  EXPECT_EQ(deployed, 1);
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(failed, 1);

  // The routes file is what the gateway reads: merged into its config without an error, with
  // the one passing specialist first, cascading to the teacher.
  const gateway::GatewayConfig merged = gateway::merge_routes_file(gateway::load_gateway_config(config));
  ASSERT_EQ(merged.routes.size(), 2u);
  EXPECT_EQ(merged.routes[0].name.rfind("convert-cluster-", 0), 0u);
  EXPECT_EQ(merged.routes[0].reasoning, nlohmann::json::parse(deployed_reasoning.dump()))
      << "the gateway sends the model the strategy S4 chose";
  EXPECT_EQ(routing_table_routes(routes).size(), 1u);

  // A second run finds every step done: nothing is evaluated, trained or deployed again.
  const auto before = test::read_file(routes);
  // Given through --config this time (the same options as YAML), which also checks that file.
  std::ofstream(dir + "/convert.yaml") << "work-dir: " << work << "\nroutes-file: " << routes << "\ngateway-config: " << config
                                       << "\nmin-calls: 20\ntarget: 0.8\ntrain-minutes: 0.2\ntrain-steps: 2\nmax-tokens: 48\n"
                                          "shadow: 0.1\n";
  const auto second = test::run_rpu({"convert", "run", log, "--config", dir + "/convert.yaml", "-t", "2"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("1 deployed, 1 skipped; 6 steps already done"), std::string::npos) << second.out;
  EXPECT_EQ(second.err.find("score"), std::string::npos) << "re-evaluated: " << second.err;
  EXPECT_EQ(test::read_file(routes), before);

  const auto report = test::run_rpu({"convert", "report", "--work-dir", work, "-o", dir + "/report.md"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const std::string md = test::read_file(dir + "/report.md");
  EXPECT_NE(md.find("of calls replaceable"), std::string::npos);
  EXPECT_NE(md.find("too few calls"), std::string::npos);
  EXPECT_NE(test::read_file(dir + "/report.svg").find("<svg"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// The generalist: one model trained first on every cluster that is not skipped (the
// translations are: too few calls), a candidate in each of them, and the start of a
// per-cluster fine-tune in each, even where another candidate passes (the built-in model on
// arithmetic at this target): S6 then deploys whichever route keeps more calls local. A re-run
// finds it all and trains nothing again.
TEST(ConvertRunE2E, TrainsOneGeneralistForTheEligibleClustersAndFineTunesFromIt) {
  const std::string dir = test::temp_path("convert_run_generalist");
  std::filesystem::create_directories(dir);
  const std::string log = dir + "/calls.jsonl", work = dir + "/work";
  write_log(log);
  write_clusters(work, log);
  // Target 0.8, 48 tokens: the built-in model passes on the arithmetic problems (the first test).
  const std::vector<std::string> args{"convert", "run", log, "--work-dir", work, "--min-calls", "20", "--target", "0.8",
                                      "--generalist-minutes", "0.05", "--train-minutes", "0.05", "--train-steps", "2",
                                      "--vocab", "300", "--max-tokens", "48", "-t", "2"};
  const auto first = test::run_rpu(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::ifstream in(work + "/generalist.json");
  const json g = json::parse(in);
  EXPECT_EQ(g["clusters"], json::array({0, 1})) << g.dump(2);
  EXPECT_NE(g["left_out"]["2"].get<std::string>().find("too few calls"), std::string::npos);
  EXPECT_EQ(g["vocab_size"], 300);
  ASSERT_TRUE(std::filesystem::exists(g["model"].get<std::string>()));
  for (int id : {0, 1}) {
    const json state = read_cluster_state(work, id);
    bool evaluated = false;
    for (const json& c : state["evaluated"]) evaluated = evaluated || c["name"] == "generalist";
    EXPECT_TRUE(evaluated) << state.dump(2);
  }
  const json arithmetic = read_cluster_state(work, 0);
  bool builtin_passed = false;
  for (const json& c : arithmetic["evaluated"]) builtin_passed = builtin_passed || (c["name"] == "builtin" && c["reaches_target"]);
  EXPECT_TRUE(builtin_passed) << arithmetic.dump(2);
  ASSERT_TRUE(arithmetic.contains("trained")) << "the generalist learned the cluster: fine-tuned though a candidate passed";
  // From the model that scored highest in S4 (select.h fine_tune_start): the built-in one.
  EXPECT_EQ(arithmetic["trained"]["from"], "full:builtin") << arithmetic["trained"].dump(2);
  // Its pairs are among those S6 chose from (the route that keeps the most calls local wins).
  EXPECT_FALSE(arithmetic["trained"]["candidates"].empty()) << arithmetic["trained"].dump(2);
  const json intents = read_cluster_state(work, 1);
  ASSERT_TRUE(intents.contains("trained")) << intents.dump(2);
  EXPECT_EQ(intents["trained"]["from"], "full:generalist");
  EXPECT_EQ(intents["trained"]["vocab_size"], 300) << "fine-tuned from the generalist: its vocabulary";

  const auto second = test::run_rpu(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.err.find("generalist: training"), std::string::npos) << second.err;
  const auto report = test::run_rpu({"convert", "report", "--work-dir", work, "-o", dir + "/report.md"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(test::read_file(dir + "/report.md").find("## Generalist"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// A generalist trained for a number of steps is the same model whatever the log's row ids:
// the same calls logged in another order (another replay's concurrency) train from the same
// training file and reach the same losses. Ids are reversed inside each cluster's range, so the
// clusters file is the same and only the order the calls come in differs.
TEST(ConvertRunE2E, AGeneralistTrainedForStepsIsTheSameForTheSameCallsInAnotherOrder) {
  const std::string dir = test::temp_path("convert_run_steps");
  std::filesystem::create_directories(dir);
  write_log(dir + "/a.jsonl");
  {
    std::ifstream in(dir + "/a.jsonl");
    std::ofstream out(dir + "/b.jsonl");
    const std::pair<int64_t, int64_t> ranges[] = {{1, 100}, {101, 140}, {141, 152}};
    for (std::string line; std::getline(in, line);) {
      json call = json::parse(line);
      const int64_t id = call["id"].get<int64_t>();
      for (const auto& [first, last] : ranges) {
        if (id >= first && id <= last) call["id"] = first + last - id;
      }
      out << call.dump() << '\n';
    }
  }
  json generalist[2];
  std::string training[2];
  for (int i = 0; i < 2; ++i) {
    const std::string log = dir + (i == 0 ? "/a.jsonl" : "/b.jsonl"), work = dir + (i == 0 ? "/work-a" : "/work-b");
    write_clusters(work, log);
    const auto r = test::run_rpu({"convert", "run", log, "--work-dir", work, "--min-calls", "20", "--generalist-steps", "3",
                                  "--train-minutes", "0", "--vocab", "300", "--max-tokens", "8", "-t", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("for 3 steps"), std::string::npos) << r.err;
    std::ifstream in(work + "/generalist.json");
    generalist[i] = json::parse(in);
    training[i] = test::read_file(work + "/generalist/train.jsonl");
  }
  EXPECT_EQ(generalist[0]["steps"], 3);
  EXPECT_FALSE(training[0].empty());
  EXPECT_EQ(training[0], training[1]);
  EXPECT_EQ(generalist[0]["loss"], generalist[1]["loss"]);
  EXPECT_EQ(generalist[0]["examples"], generalist[1]["examples"]);
  std::filesystem::remove_all(dir);
}

// S6's iteration through the CLI on a real usage log: a deployed route whose shadow pairs show
// it answering worse than the teacher is rolled back (--dry-run first changes nothing); a route
// that keeps up stays.
TEST(ConvertRunE2E, WatchRollsBackARouteWhoseShadowScoreDropped) {
  const std::string dir = test::temp_path("convert_watch");
  std::filesystem::create_directories(dir);
  const std::string db = dir + "/calls.db", routes = dir + "/routes.yaml";
  {
    gateway::UsageLog log({.path = db});
    auto add = [&](const std::string& route, const std::string& kind, const std::string& user, const std::string& answer) {
      gateway::UsageRecord r;
      r.time_ms = 1000;
      r.route = route;
      r.model = route;
      r.kind = kind;
      r.request_json = json{{"messages", json::array({{{"role", "user"}, {"content", user}}})}}.dump();
      r.response_json = json::array({{{"role", "assistant"}, {"content", answer}}}).dump();
      log.submit(r);
    };
    for (int i = 0; i < 30; ++i) {
      const std::string q = "ticket " + std::to_string(i);
      add("spec-bad", "primary", q, i % 2 ? "billing" : "sales");
      add("spec-bad", "shadow", q, "billing");
      add("spec-good", "primary", q + "!", "technical");
      add("spec-good", "shadow", q + "!", "technical");
    }
  }
  for (const char* name : {"spec-good", "spec-bad"}) {
    SpecialistRoute r;
    r.name = name;
    r.model_path = "builtin";
    r.aliases = {name};
    deploy_route(routes, r);
  }
  const auto dry = test::run_rpu({"convert", "watch", db, "--routes-file", routes, "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would roll back"), std::string::npos) << dry.out;
  EXPECT_EQ(routing_table_routes(routes).size(), 2u);
  const auto real = test::run_rpu({"convert", "watch", db, "--routes-file", routes});
  ASSERT_EQ(real.exit_code, 0) << real.err;
  EXPECT_NE(real.out.find("rolled back"), std::string::npos) << real.out;
  EXPECT_EQ(routing_table_routes(routes), std::vector<std::string>{"spec-good"});
  std::filesystem::remove_all(dir);
}

// A log, a gateway config and a routes file in `dir`, and `rpu convert run` on work folders
// whose cluster 0 holds S4's evaluation already (as a resumed run finds it; clusters 1 and 2
// skipped): nothing is evaluated or trained, S6 only deploys.
struct DeployOnly {
  explicit DeployOnly(const std::string& folder)
      : dir(folder), log(folder + "/calls.jsonl"), routes(folder + "/routes.yaml"), config(folder + "/gateway.yaml") {
    std::filesystem::create_directories(dir);
    write_log(log);
    write_gateway_config(config, routes);
  }
  // The cluster's state["deployed"] after S6 on the `evaluated` pairs.
  json deploy(const std::string& work, const json& evaluated, bool cascade) const {
    write_clusters(work, log);
    std::ofstream(work + "/cluster-0.json") << json{{"cluster", 0}, {"calls", 100}, {"volume", 0.66}, {"teacher_calls", 100},
                                                   {"held_out", 20}, {"trainable", 80}, {"top_terms", {"arithmetic"}},
                                                   {"teacher_latency_p50_ms", 600.0}, {"tokens", 1000},
                                                   {"evaluated", evaluated}}
                                                   .dump();
    for (int id : {1, 2}) std::ofstream(fmt::format("{}/cluster-{}.json", work, id)) << json{{"skipped", "by the test"}}.dump();
    std::vector<std::string> args{"convert", "run", log, "--work-dir", work, "--routes-file", routes,
                                  "--gateway-config", config, "--train-minutes", "0", "-t", "1"};
    if (cascade) args.push_back("--deploy-by-cascade");
    const auto r = test::run_rpu(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return read_cluster_state(work, 0)["deployed"];
  }
  std::string dir, log, routes, config;
};

// An evaluated pair of the built-in model as the state keeps it, with its (confidence, correct)
// samples.
json builtin_pair(const std::string& strategy, double score, bool reaches_target, const json& samples,
                  double latency_p50_ms = 20.0, double samples_per_call = 1.0) {
  return json{{"name", "builtin"}, {"strategy", strategy}, {"score", score}, {"accuracy", score},
              {"share_of_teacher", score}, {"reaches_target", reaches_target}, {"latency_p50_ms", latency_p50_ms},
              {"samples_per_call", samples_per_call}, {"seconds", 1.0}, {"errors", 0}, {"model", "builtin"},
              {"samples", samples}};
}

// S6's two deploy rules on a candidate whose own score (0.7) misses the target: by score it is
// never deployed; with --deploy-by-cascade it is, because escalating its least confident calls
// (the wrong ones) brings the route to the target while 75% stay local; not when its wrong
// answers are its most confident ones.
TEST(ConvertRunE2E, DeploysByCascadeOnlyWhenAskedAndOnlyWhenTheCalibratedRouteReachesTheTarget) {
  const DeployOnly s6(test::temp_path("convert_run_cascade"));
  auto candidate = [](double min_conf_of_wrong, double latency_p50_ms = 20.0) {
    json samples = json::array();
    for (int i = 0; i < 20; ++i) {
      const bool correct = i < 14;
      samples.push_back(json::array({correct ? 0.9 + 0.005 * i : min_conf_of_wrong - 0.01 * (i - 14), correct}));
    }
    return json::array({builtin_pair("greedy", 0.7, false, samples, latency_p50_ms)});
  };
  EXPECT_FALSE(s6.deploy(s6.dir + "/by-score", candidate(0.5), false)["deployed"].get<bool>());
  EXPECT_TRUE(routing_table_routes(s6.routes).empty());

  // The wrong answers are the most confident: no threshold helps.
  EXPECT_FALSE(s6.deploy(s6.dir + "/wrong-but-sure", candidate(0.999), true)["deployed"].get<bool>());

  const json slow = s6.deploy(s6.dir + "/slower-than-the-teacher", candidate(0.5, 650.0), true);  // the teacher: 600 ms
  EXPECT_FALSE(slow["deployed"].get<bool>()) << slow.dump(2);

  const json d = s6.deploy(s6.dir + "/by-cascade", candidate(0.5), true);
  ASSERT_TRUE(d["deployed"].get<bool>()) << d.dump(2);
  EXPECT_EQ(d["deployed_by"], "cascade");
  // The lowest threshold at the target keeps one wrong answer too: 15 of 20 local, (14 + 5) / 20.
  EXPECT_DOUBLE_EQ(d["local_share"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(d["expected_quality"].get<double>(), 0.95);
  EXPECT_DOUBLE_EQ(d["min_confidence"].get<double>(), 0.5);
  EXPECT_EQ(routing_table_routes(s6.routes).size(), 1u);
  std::filesystem::remove_all(s6.dir);
}

// A pair that reaches the target on its score is still not deployed when its calibrated route
// cannot hold the cluster's quality: here self-consistency (score 0.96) gives 18 of 20 answers a
// vote share of exactly 1, and 3 of those are wrong, so no threshold keeps them apart (17 of 20
// right at best: 0.85 < 0.95). The same model's greedy pair (score 0.955) is deployed instead:
// its wrong answers are its least confident, and escalating them keeps 17 of 20 local at
// quality 1.
TEST(ConvertRunE2E, DeploysThePairWhoseCalibratedRouteKeepsTheMostCallsLocalNotTheHighestScore) {
  const DeployOnly s6(test::temp_path("convert_run_route_share"));
  json voted = json::array(), greedy = json::array();
  for (int i = 0; i < 20; ++i) {
    const bool correct = i >= 3;
    voted.push_back(json::array({i < 18 ? 1.0 : 0.6, i < 18 ? correct : true}));
    greedy.push_back(json::array({correct ? 0.9 + 0.005 * i : 0.4, correct}));
  }
  json sc5 = builtin_pair("sc5", 0.96, true, voted, 20.0, 5.0);
  sc5["reasoning"] = {{"strategy", "self_consistency"}, {"n", 5}, {"temperature", 0.7}, {"extract", {{"type", "last_number"}}}};
  const json d = s6.deploy(s6.dir + "/both", json::array({builtin_pair("greedy", 0.955, true, greedy), sc5}), false);
  ASSERT_TRUE(d["deployed"].get<bool>()) << d.dump(2);
  EXPECT_EQ(d["strategy"], "greedy") << d.dump(2);
  EXPECT_EQ(d["deployed_by"], "score");
  EXPECT_DOUBLE_EQ(d["local_share"].get<double>(), 0.85);
  EXPECT_DOUBLE_EQ(d["expected_quality"].get<double>(), 1.0);
  EXPECT_NE(d["strategy_reason"].get<std::string>().find("builtin greedy 0.955: other strategies (sc5 0.960"),
            std::string::npos)
      << d.dump(2);
  // Alone, the self-consistency pair is not deployed at all.
  EXPECT_FALSE(s6.deploy(s6.dir + "/voted-alone", json::array({sc5}), false)["deployed"].get<bool>());
  std::filesystem::remove_all(s6.dir);
}

// Flags that could only fail after clustering and evaluating (minutes into a real run) fail
// first, naming the flag's value (run_conversion checks them again for callers other than the CLI).
TEST(ConvertRunE2E, BadGeneralistVocabularyOrMarginFlagsFailBeforeAnyWork) {
  const std::string dir = test::temp_path("convert_run_bad_flags");
  std::filesystem::create_directories(dir);
  const std::string log = dir + "/calls.jsonl";
  write_log(log);
  struct Case {
    std::vector<std::string> flags;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--generalist-minutes", "1", "--generalist-from", "scratchy"}, "unknown training start 'scratchy'"},
      {{"--generalist-minutes", "1", "--generalist-from", "scratch:xxl"}, "unknown scratch size 'xxl'"},
      {{"--vocab", "100"}, "--vocab: (Value 100 not in range 0 to 0) OR (Value 100 not in range 259 to 65536)"},
      {{"--vocab", "10000000"}, "--vocab: (Value 10000000 not in range"},
      {{"--calibration-margin", "-0.5"}, "--calibration-margin: Value -0.5 not in range 0.000000 to 4.000000"},
      {{"--calibration-margin", "high"}, "--calibration-margin"},
      {{"--min-held-out", "-1"}, "--min-held-out: Value -1 not in range 0 to 1000000"},
      {{"--min-held-out", "many"}, "--min-held-out"},
      {{"--generalist-steps", "-5"}, "--generalist-steps: Value -5 not in range 0 to 10000000"},
      {{"--generalist-steps", "lots"}, "--generalist-steps"},
      // Steps alone ask for a generalist: a bad start fails before any work, as with minutes.
      {{"--generalist-steps", "10", "--generalist-from", "scratchy"}, "unknown training start 'scratchy'"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"convert", "run", log, "--work-dir", dir + "/work"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const auto r = test::run_rpu(args);
    EXPECT_NE(r.exit_code, 0) << fmt::format("{}", fmt::join(c.flags, " "));
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir + "/work/clusters.json")) << "clustered before checking the flags";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rpu::convert
