// `rpu convert cluster` on a usage log of the replayable agent workload (bench/convert): the
// generator's calls, scrubbed as the gateway scrubs them, written with gateway::UsageLog as if
// a teacher had answered each with the label's expected answer; the clusters found are compared
// with the generator's call types by the adjusted Rand index.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "convert/classifier_file.h"
#include "convert/cluster.h"
#include "convert/clusters_file.h"
#include "gateway/call_logger.h"
#include "gateway/scrub.h"
#include "gateway/task_classifier.h"
#include "gateway/task_signature.h"
#include "gateway/usage_log.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

using nlohmann::json;

struct Workload {
  std::vector<json> calls, labels;
};

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(test::read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

Workload generate_workload(int seed, int calls) {
  const std::string out = test::temp_path("calls.jsonl"), labels = test::temp_path("labels.jsonl");
  // run_node resolves a path with a '/' under tests/peers/.
  const test::NodeResult r = test::run_node(
      "../../bench/convert/workload.mjs",
      {"--seed", std::to_string(seed), "--calls", std::to_string(calls), "--out", out, "--labels", labels});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return {read_jsonl(out), read_jsonl(labels)};
}

// What the teacher would have answered: the label's expected answer as an assistant message
// (a tool call for {name, arguments}; free text for open calls, whose `expected` is null).
json teacher_message(const json& expected) {
  if (expected.is_null()) return {{"role", "assistant"}, {"content", "Here is a short, friendly answer."}};
  if (expected.is_object() && expected.contains("name") && expected.contains("arguments")) {
    return {{"role", "assistant"},
            {"content", nullptr},
            {"tool_calls",
             json::array({{{"id", "call_1"},
                           {"type", "function"},
                           {"function", {{"name", expected["name"]}, {"arguments", expected["arguments"].dump()}}}}})}};
  }
  if (expected.is_string()) return {{"role", "assistant"}, {"content", expected}};
  if (expected.is_number()) return {{"role", "assistant"}, {"content", "The answer is " + expected.dump() + "."}};
  return {{"role", "assistant"}, {"content", expected.dump()}};
}

// Writes the workload's calls in order (row i + 1 is call i), scrubbed as the gateway does.
gateway::UsageLogOptions log_at(const std::string& path) {
  gateway::UsageLogOptions options;
  options.path = path;
  return options;
}

void write_usage_log(const std::string& path, const Workload& w) {
  const gateway::Scrubber scrubber;
  gateway::UsageLog log(log_at(path));
  for (size_t i = 0; i < w.calls.size(); ++i) {
    gateway::UsageRecord r;
    r.time_ms = 1'700'000'000'000 + static_cast<int64_t>(i) * 1000;
    r.route = "agent";
    r.model = "teacher";
    json request = {{"messages", w.calls[i]["messages"]}};
    if (w.calls[i].contains("tools")) request["tools"] = w.calls[i]["tools"];
    r.request_json = request.dump();
    r.response_json = json::array({teacher_message(w.labels[i]["expected"])}).dump();
    r.prompt_tokens = 100;
    r.completion_tokens = 20;
    r.latency_ms = 600 + static_cast<double>(i % 7) * 10;
    ASSERT_TRUE(log.submit(gateway::scrub_record(scrubber, std::move(r))));
  }
  log.flush();
}

struct Agreement {
  double all = 0, recurring = 0;  // ARI over every call, and over the non-open ones
  size_t recurring_calls = 0;
  double purity = 0;  // share of recurring calls whose cluster's most common type is theirs
};

double recurring_purity(const std::vector<std::string>& types, const std::vector<std::string>& found) {
  std::map<std::string, std::map<std::string, int>> counts;  // cluster -> type -> calls
  for (size_t i = 0; i < types.size(); ++i) ++counts[found[i]][types[i]];
  size_t pure = 0, recurring = 0;
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "open") continue;
    const auto& c = counts[found[i]];
    const auto majority =
        std::max_element(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    ++recurring;
    pure += majority->first == types[i];
  }
  return recurring == 0 ? 0 : static_cast<double>(pure) / static_cast<double>(recurring);
}

Agreement compare(const convert::ClustersFile& clusters, const Workload& w) {
  const auto cluster_of = convert::cluster_of_call(clusters);
  std::vector<int64_t> ids;
  for (const auto& [id, c] : cluster_of) ids.push_back(id);  // ascending: call order
  EXPECT_EQ(ids.size(), w.labels.size());
  std::vector<std::string> types, types_recurring, found, found_recurring;
  for (size_t i = 0; i < std::min(ids.size(), w.labels.size()); ++i) {
    const std::string type = w.labels[i]["type"].get<std::string>();
    const std::string cluster = std::to_string(cluster_of.at(ids[i]));
    types.push_back(type);
    found.push_back(cluster);
    if (type != "open") types_recurring.push_back(type), found_recurring.push_back(cluster);
  }
  return {convert::adjusted_rand_index(types, found), convert::adjusted_rand_index(types_recurring, found_recurring),
          types_recurring.size(), recurring_purity(types, found)};
}

TEST(ConvertCluster, RecoversTheWorkloadsCallTypes) {
  if (!std::filesystem::exists(std::string(RPU_SOURCE_DIR) + "/bench/convert/workload.mjs")) GTEST_SKIP();
  const Workload w = generate_workload(3, 600);
  ASSERT_EQ(w.calls.size(), 600u);
  const std::string db = test::temp_path("cluster_calls.db"), out = test::temp_path("clusters.json");
  write_usage_log(db, w);
  const auto r = test::run_rpu({"convert", "cluster", db, "--teacher", "teacher", "--seed", "1", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("top terms"), std::string::npos) << r.out;
  const convert::ClustersFile clusters = convert::read_clusters_file(out);
  EXPECT_EQ(clusters.calls, 600);
  EXPECT_EQ(clusters.vectors, "tfidf");
  EXPECT_EQ(clusters.tried.size(), 11u);  // k = 2..12
  int64_t total = 0;
  for (const auto& c : clusters.clusters) {
    total += c.size;
    EXPECT_EQ(c.teacher_calls, c.size);
    EXPECT_GE(c.mean_latency_ms, 600);
    EXPECT_LE(c.mean_latency_ms, 660);
    EXPECT_FALSE(c.top_terms.empty());
    EXPECT_EQ(c.examples.size(), std::min<size_t>(3, static_cast<size_t>(c.size)));
  }
  EXPECT_EQ(total, 600);
  const Agreement a = compare(clusters, w);
  std::printf("k = %d, silhouette %.3f; ARI all calls %.3f, recurring types only (%zu calls) %.3f, purity %.3f\n%s",
              clusters.k, clusters.silhouette, a.all, a.recurring_calls, a.recurring, a.purity, r.out.c_str());
  RecordProperty("ari_all", std::to_string(a.all));
  RecordProperty("ari_recurring", std::to_string(a.recurring));
  // What the clustering finds depends on its seed's draw (k-means++ seeding, the silhouette's
  // sample), so it is judged over seeds 1..8. Measured (workload seed 3, 600 calls), since S3
  // sees the calls in the order of their text: ARI without the open calls 0.71-0.92 (mean
  // 0.835), with them 0.60-0.91 (mean 0.744), purity 0.90-1.00 (six of eight 1.00). Before that
  // order, seed 1 alone gave 0.937, 0.806 and 1.0. The recurring types are found, but a type whose
  // system-prompt paraphrases share few words (classify, extract, tool_call) may split into one
  // cluster per paraphrase family (costs ARI, not purity), and the open calls (several kinds of
  // free text) split and sometimes absorb tool calls with a generic system prompt. k-means is
  // deterministic for a seed, so these figures are exact; a drop below the bounds is a change in
  // what the clustering finds.
  double recurring_sum = 0, all_sum = 0;
  for (int seed = 1; seed <= 8; ++seed) {
    const auto rs = test::run_rpu({"convert", "cluster", db, "--teacher", "teacher", "--seed", std::to_string(seed), "--out", out});
    ASSERT_EQ(rs.exit_code, 0) << rs.err;
    const Agreement s = compare(convert::read_clusters_file(out), w);
    std::printf("seed %d: ARI all %.3f, recurring %.3f, purity %.3f\n", seed, s.all, s.recurring, s.purity);
    EXPECT_GE(s.recurring, 0.65) << "seed " << seed;
    EXPECT_GE(s.purity, 0.85) << "seed " << seed;
    recurring_sum += s.recurring;
    all_sum += s.all;
  }
  EXPECT_GE(recurring_sum / 8, 0.8);
  EXPECT_GE(all_sum / 8, 0.65);
}

// The share of held-out calls the gateway's classifier (written by `rpu convert cluster` beside
// clusters.json) sends to a cluster whose training calls are mostly of their type; an open call
// also counts as right when no cluster claims it. `scrub`: classify the calls as logged
// (placeholders) rather than as the gateway sees them on the request path (raw personal data).
double classifier_accuracy(const gateway::CentroidClassifier& classifier, const convert::ClustersFile& clusters,
                           const Workload& train, const Workload& held_out, bool scrub, bool recurring_only) {
  std::map<int, std::map<std::string, int>> votes;
  const auto cluster_of = convert::cluster_of_call(clusters);
  for (const auto& [id, c] : cluster_of) ++votes[c][train.labels[static_cast<size_t>(id - 1)]["type"].get<std::string>()];
  const gateway::Scrubber scrubber;
  size_t right = 0, total = 0;
  for (size_t i = 0; i < held_out.calls.size(); ++i) {
    const std::string type = held_out.labels[i]["type"].get<std::string>();
    if (recurring_only && type == "open") continue;
    nlohmann::ordered_json messages = held_out.calls[i]["messages"];
    if (scrub) {
      gateway::UsageRecord r;
      r.request_json = nlohmann::ordered_json{{"messages", messages}}.dump();
      messages = nlohmann::ordered_json::parse(gateway::scrub_record(scrubber, std::move(r)).request_json)["messages"];
    }
    const nlohmann::ordered_json tools = held_out.calls[i].value("tools", nlohmann::ordered_json());
    const auto cluster = classifier.classify_signature(gateway::task_signature(messages, tools));
    ++total;
    if (!cluster) {
      right += type == "open";
      continue;
    }
    const auto& v = votes[*cluster];
    right += std::max_element(v.begin(), v.end(), [](auto& a, auto& b) { return a.second < b.second; })->first == type;
  }
  return static_cast<double>(right) / static_cast<double>(std::max<size_t>(1, total));
}

TEST(ConvertCluster, ClassifierSendsHeldOutCallsToTheirTypesCluster) {
  if (!std::filesystem::exists(std::string(RPU_SOURCE_DIR) + "/bench/convert/workload.mjs")) GTEST_SKIP();
  const Workload train = generate_workload(3, 600), held_out = generate_workload(11, 300);
  const std::string db = test::temp_path("classifier_calls.db"), out = test::temp_path("classified.json");
  write_usage_log(db, train);
  const auto r = test::run_rpu({"convert", "cluster", db, "--seed", "1", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string file = convert::classifier_path_for(out);
  EXPECT_NE(r.out.find("wrote " + file), std::string::npos) << r.out;
  const auto classifier = gateway::CentroidClassifier::load(file);
  const convert::ClustersFile clusters = convert::read_clusters_file(out);
  const double scrubbed = classifier_accuracy(classifier, clusters, train, held_out, true, true);
  const double raw = classifier_accuracy(classifier, clusters, train, held_out, false, true);
  const double all = classifier_accuracy(classifier, clusters, train, held_out, false, false);
  std::printf("classifier on 300 held-out calls (workload seed 11): recurring types %.3f as logged (scrubbed), "
              "%.3f raw (as the gateway routes them); all calls, open ones included, raw %.3f\n",
              scrubbed, raw, all);
  RecordProperty("classifier_accuracy_raw", std::to_string(raw));
  // Measured (train seed 3, 600 calls; held-out seed 11, 300 calls; clustering seed 1): 0.996 of
  // the recurring calls both scrubbed and raw (personal data is rare in a signature's words),
  // 0.997 of all calls; about 4 us a call.
  EXPECT_GE(scrubbed, 0.95);
  EXPECT_GE(raw, 0.95);
}

TEST(ConvertCluster, EmptyLogIsAClearError) {
  const std::string db = test::temp_path("empty_calls.db");
  { gateway::UsageLog log(log_at(db)); }
  const auto r = test::run_rpu({"convert", "cluster", db, "--out", test::temp_path("empty.json")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no successful calls in " + db), std::string::npos) << r.err;
}

TEST(ConvertCluster, BadKIsAUsageError) {
  const std::string db = test::temp_path("k_calls.db");
  { gateway::UsageLog log(log_at(db)); }
  const auto r = test::run_rpu({"convert", "cluster", db, "--k", "many"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--k: 'many'"), std::string::npos) << r.err;
}

TEST(ConvertCluster, TooFewCallsMakeOneClusterWithANote) {
  Workload w;
  for (int i = 0; i < 3; ++i) {
    w.calls.push_back(
        {{"messages", json::array({{{"role", "user"}, {"content", "What is " + std::to_string(i) + " + 2?"}}})}});
    w.labels.push_back({{"type", "arithmetic"}, {"expected", i + 2}});
  }
  const std::string db = test::temp_path("few_calls.db"), out = test::temp_path("few.json");
  write_usage_log(db, w);
  const auto r = test::run_rpu({"convert", "cluster", db, "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const convert::ClustersFile clusters = convert::read_clusters_file(out);
  EXPECT_EQ(clusters.k, 1);
  ASSERT_EQ(clusters.clusters.size(), 1u);
  EXPECT_EQ(clusters.clusters[0].size, 3);
  EXPECT_NE(clusters.note.find("one cluster"), std::string::npos) << clusters.note;
  EXPECT_NE(r.out.find("note:"), std::string::npos) << r.out;
}

// An agent's "helpful assistant" sends tool calls and free-form requests under one system prompt:
// with one cluster asked for (--k 1), S3 splits it along the answers' shapes, tool calls apart;
// --keep-mixed-shapes keeps them together; a value given to the flag is a usage error.
TEST(ConvertCluster, SplitsToolCallsFromTextUnderOneSystemPrompt) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  const char* cities[] = {"Paris", "Lima", "Oslo", "Cairo", "Quito"};
  const char* topics[] = {"the sea", "autumn", "a city at night", "old friends", "the moon"};
  Workload w;
  for (int i = 0; i < 40; ++i) {
    const std::string city = cities[i % 5], topic = topics[i % 5];
    json history = json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}}});
    if (i % 4 == 3) {  // a multi-turn history
      history.push_back({{"role", "user"}, {"content", "Hi there."}});
      history.push_back({{"role", "assistant"}, {"content", "Hello! How can I help?"}});
    }
    json weather = history, poem = history;
    weather.push_back({{"role", "user"}, {"content", "What is the weather in " + city + " tomorrow?"}});
    w.calls.push_back({{"messages", weather}, {"tools", tools}});
    w.labels.push_back({{"type", "tool_call"}, {"expected", {{"name", "get_weather"}, {"arguments", {{"city", city}}}}}});
    poem.push_back({{"role", "user"}, {"content", "Write a short poem about " + topic + ", please."}});
    w.calls.push_back({{"messages", poem}});
    w.labels.push_back({{"type", "open"}, {"expected", nullptr}});
  }
  const std::string db = test::temp_path("mixed_shapes.db"), out = test::temp_path("mixed_shapes.json");
  write_usage_log(db, w);
  const auto split = test::run_rpu({"convert", "cluster", db, "--k", "1", "--out", out});
  ASSERT_EQ(split.exit_code, 0) << split.err;
  const convert::ClustersFile clusters = convert::read_clusters_file(out);
  ASSERT_EQ(clusters.k, 2) << split.out;
  EXPECT_NE(clusters.method.find("mixed answer shapes split"), std::string::npos) << clusters.method;
  for (const auto& c : clusters.clusters) EXPECT_EQ(c.size, 40);
  std::vector<std::string> types, found(w.labels.size());
  for (const json& label : w.labels) types.push_back(label["type"]);
  for (const auto& c : clusters.clusters) {
    for (int64_t id : c.call_ids) found.at(static_cast<size_t>(id - 1)) = std::to_string(c.id);  // row ids from 1, in order
  }
  EXPECT_DOUBLE_EQ(convert::adjusted_rand_index(types, found), 1.0);

  const auto kept = test::run_rpu({"convert", "cluster", db, "--k", "1", "--keep-mixed-shapes", "--out", out});
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_EQ(convert::read_clusters_file(out).k, 1);
  const auto bad = test::run_rpu({"convert", "cluster", db, "--keep-mixed-shapes=maybe", "--out", out});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("keep-mixed-shapes"), std::string::npos) << bad.err;
}

// Two agents (other system prompts) calling the same tool are one task: with k = 2 the prompts
// make two clusters, merged into one whose classifier keeps a centroid per prompt, so a new call
// of either agent reaches it. --keep-contract-clusters keeps them apart.
TEST(ConvertCluster, MergesAgentsThatCallTheSameTools) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  const char* cities[] = {"Paris", "Lima", "Oslo", "Cairo", "Quito"};
  const std::string prompts[] = {"You are Jarvis, an executive assistant agent. Call exactly one tool per request.",
                                 "Answer the requests as best you can; call a tool with arguments from the message."};
  Workload w;
  for (int i = 0; i < 40; ++i) {
    const std::string city = cities[i % 5];
    json messages = json::array({{{"role", "system"}, {"content", prompts[i % 2]}},
                                 {{"role", "user"}, {"content", "What is the weather in " + city + " tomorrow?"}}});
    w.calls.push_back({{"messages", messages}, {"tools", tools}});
    w.labels.push_back({{"type", "tool_call"}, {"expected", {{"name", "get_weather"}, {"arguments", {{"city", city}}}}}});
  }
  const std::string db = test::temp_path("same_tools.db"), out = test::temp_path("same_tools.json");
  write_usage_log(db, w);
  const auto merged = test::run_rpu({"convert", "cluster", db, "--k", "2", "--out", out});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const convert::ClustersFile clusters = convert::read_clusters_file(out);
  ASSERT_EQ(clusters.k, 1) << merged.out;
  EXPECT_NE(clusters.method.find("same answer contract"), std::string::npos) << clusters.method;
  const auto classifier = gateway::CentroidClassifier::load(convert::classifier_path_for(out));
  EXPECT_EQ(classifier.centroids().size(), 2u);
  for (const std::string& prompt : prompts) {
    const json messages = json::array({{{"role", "system"}, {"content", prompt}},
                                       {{"role", "user"}, {"content", "Weather in Lima, please."}}});
    EXPECT_EQ(classifier.classify_signature(gateway::task_signature(messages, tools)), std::optional<int>(0)) << prompt;
  }

  const auto kept = test::run_rpu({"convert", "cluster", db, "--k", "2", "--keep-contract-clusters", "--out", out});
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_EQ(convert::read_clusters_file(out).k, 2);
}

}  // namespace
}  // namespace rpu
