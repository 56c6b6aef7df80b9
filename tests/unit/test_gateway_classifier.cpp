// The conversion loop's task classifier (gateway/task_classifier.h, convert/classifier_file.h):
// convert's TF-IDF and the gateway's give the same vectors; a classifier made from a clustering
// of workload-like calls (six recurring kinds, varied prompts, names and numbers) sends held-out
// calls of each kind to their kind's cluster; the file round-trips; config and routes-file
// mistakes are named; deploy and rollback keep the other clusters' mappings.
#include <gtest/gtest.h>

#include <cmath>

#include <random>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "convert/classifier_file.h"
#include "convert/cluster.h"
#include "convert/routing_table.h"
#include "core/rng.h"
#include "gateway/config.h"
#include "gateway/task_classifier.h"
#include "gateway/task_signature.h"
#include "test_util.h"

namespace rpu::gateway {
namespace {

using Json = nlohmann::ordered_json;

convert::ClusterOptions cluster_options(int k) {
  convert::ClusterOptions o;
  o.k = k;
  return o;
}

// A route for one cluster of a classifier (none: a half route, which deploy refuses).
convert::SpecialistRoute cluster_route(const std::string& name, int cluster, const std::string& classifier) {
  convert::SpecialistRoute r;
  r.name = name;
  r.model_path = "builtin";
  r.cluster = cluster;
  r.classifier_file = classifier;
  return r;
}

struct Kind {
  std::string name;
  std::vector<std::string> systems;  // one picked per call
  std::vector<std::string> users;    // templates: {N} a number, {P} a name
  std::vector<std::string> tools;
};

// Six kinds like bench/convert's workload: each with several phrasings, so a kind is a cluster
// of similar, not identical, texts.
std::vector<Kind> kinds() {
  return {
      {"intent",
       {"You are the router of a support desk. Reply with one intent label: billing, shipping, account or other.",
        "Classify the customer's intent. Answer with exactly one label from: billing, shipping, account, other."},
       {"Hi, this is {P}. I was charged twice for order {N}, can you help?", "My parcel {N} has not arrived yet",
        "{P} here: how do I reset the password of my account?", "Why is invoice {N} higher than last month?"},
       {}},
      {"extract",
       {"Extract the contact details from the text as JSON with the fields name, email and phone.",
        "Return a JSON object {\"name\", \"email\", \"phone\"} with the contact found in the message."},
       {"Please reach {P} at <EMAIL_1> or <PHONE_1> about contract {N}.", "Contact: {P}, <PHONE_2>, <EMAIL_3>",
        "You can write to <EMAIL_2>; {P} will call you from <PHONE_1> before {N}."},
       {}},
      {"tool",
       {"You are a booking assistant. Call the right tool with the arguments the user gives.",
        "Use the tools to act on the user's request; fill every argument from the message."},
       {"Book a table for {N} people tonight under the name {P}", "Reserve a room for {N} nights for {P}",
        "Cancel reservation {N} for {P} please"},
       {"book_table", "reserve_room", "cancel_reservation"}},
      {"dates",
       {"Normalise the date or quantity in the message to ISO 8601 or SI units. Reply with the value only.",
        "Convert the given date to YYYY-MM-DD, or the given quantity to SI units; output only the result."},
       {"the {N}th of March {N}", "{N} miles", "next Tuesday, {N}/{N}/{N}", "{N} pounds in kilograms",
        "March {N}, {N} at noon"},
       {}},
      {"math",
       {"Solve the arithmetic word problem step by step and end with 'The answer is N.'",
        "You solve short math word problems. Show the steps, then 'The answer is N.'"},
       {"{P} has {N} apples and buys {N} more. How many apples does {P} have?",
        "A train travels {N} km in {N} hours. What is its average speed?",
        "{P} splits {N} sweets among {N} friends. How many does each friend get?"},
       {}},
      {"rewrite",
       {"Rewrite the text more politely and concisely, keeping its meaning.",
        "Summarise the message in one short sentence, in a friendly tone."},
       {"tell {P} the report is late again and I am annoyed",
        "we need the slides by {N} or the meeting is off, no excuses",
        "the server went down {N} times this week, fix it now"},
       {}},
  };
}

std::string fill(std::string text, Rng& rng) {
  static const std::vector<std::string> names = {"Alice", "<PERSON_1>", "Bob Smith", "Chen", "<PERSON_2>", "Dana"};
  for (size_t at; (at = text.find("{N}")) != std::string::npos;) text.replace(at, 3, std::to_string(rng.next() % 997));
  for (size_t at; (at = text.find("{P}")) != std::string::npos;) text.replace(at, 3, names[rng.next() % names.size()]);
  return text;
}

// A call of `kind` as the gateway sees it (messages and tools), as its task signature.
std::string call_signature(const Kind& kind, Rng& rng) {
  Json messages = Json::array();
  messages.push_back({{"role", "system"}, {"content", kind.systems[rng.next() % kind.systems.size()]}});
  if (rng.next() % 2 == 0) {  // some calls carry an earlier turn, as agent frameworks send
    messages.push_back({{"role", "user"}, {"content", "Earlier: " + fill(kind.users[0], rng)}});
    messages.push_back({{"role", "assistant"}, {"content", "Noted."}});
  }
  messages.push_back({{"role", "user"}, {"content", fill(kind.users[rng.next() % kind.users.size()], rng)}});
  Json tools = nullptr;
  if (!kind.tools.empty()) {
    tools = Json::array();
    for (const auto& t : kind.tools) tools.push_back({{"type", "function"}, {"function", {{"name", t}}}});
  }
  return task_signature(messages, tools);
}

void make_calls(size_t per_kind, uint64_t seed, std::vector<std::string>& texts, std::vector<size_t>& truth) {
  Rng rng(seed);
  const auto all = kinds();
  for (size_t i = 0; i < per_kind * all.size(); ++i) {
    const size_t k = i % all.size();
    texts.push_back(call_signature(all[k], rng));
    truth.push_back(k);
  }
}

TEST(GatewayTaskSignature, ConvertsAndGatewaysVectorsAreIdentical) {
  std::vector<std::string> texts;
  std::vector<size_t> truth;
  make_calls(20, 7, texts, truth);
  const convert::Tfidf tfidf = convert::tfidf_vectors(texts);
  ASSERT_EQ(tfidf.idf.size(), tfidf.terms.size());
  const TfidfVocabulary vocabulary(tfidf.terms, tfidf.idf);
  for (size_t i = 0; i < texts.size(); ++i) {
    const SparseVector v = vocabulary.vector_of(texts[i]);
    ASSERT_EQ(v.index, tfidf.vectors[i].index) << texts[i];
    ASSERT_EQ(v.value, tfidf.vectors[i].value) << texts[i];  // bit for bit
  }
  // And the loaded file vectorises the same way (terms and idf survive the JSON text).
  const auto classifier = convert::make_task_classifier(convert::cluster_texts(texts, cluster_options(6)));
  const auto loaded = CentroidClassifier::from_json(Json::parse(classifier.to_json().dump()), "mem");
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(loaded.vocabulary().vector_of(texts[i]).value, tfidf.vectors[i].value);
  }
}

TEST(GatewayTaskSignature, IsTheSignatureConvertClusters) {
  const Json messages = Json::parse(R"([{"role": "system", "content": "Sys"}, {"role": "user", "content": "first"},
    {"role": "assistant", "content": "ok"}, {"role": "user", "content": [{"type": "text", "text": "last"}]}])");
  const Json tools = Json::parse(R"([{"type": "function", "function": {"name": "a_b"}}, {"type": "function",
    "function": {"name": "c"}}])");
  EXPECT_EQ(task_signature(messages, tools), "system: Sys | tools: a_b c | user: last");
  EXPECT_EQ(task_signature(messages, nullptr), "system: Sys | tools:  | user: last");
}

TEST(GatewayTaskClassifier, HeldOutCallsOfEachKindReachTheirCluster) {
  std::vector<std::string> train, held_out;
  std::vector<size_t> train_kind, held_kind;
  make_calls(60, 1, train, train_kind);
  make_calls(50, 99, held_out, held_kind);
  convert::ClusterOptions options;  // k by silhouette, as `rpu convert cluster` does
  options.k_max = 10;
  const convert::Clustering clustering = convert::cluster_texts(train, options);
  ASSERT_GE(clustering.k, 6);
  // Each cluster stands for the kind most of its training calls are.
  std::vector<std::map<size_t, int>> votes(static_cast<size_t>(clustering.k));
  for (size_t i = 0; i < train.size(); ++i) ++votes[static_cast<size_t>(clustering.labels[i])][train_kind[i]];
  std::map<int, size_t> kind_of;
  for (size_t c = 0; c < votes.size(); ++c) {
    kind_of[static_cast<int>(c)] =
        std::max_element(votes[c].begin(), votes[c].end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  }
  const CentroidClassifier classifier = convert::make_task_classifier(clustering);
  size_t right = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < held_out.size(); ++i) {
    const auto cluster = classifier.classify_signature(held_out[i]);
    right += cluster && kind_of[*cluster] == held_kind[i];
  }
  const double micros =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / held_out.size();
  const double accuracy = static_cast<double>(right) / static_cast<double>(held_out.size());
  std::printf("classifier: k = %d, held-out accuracy %.4f (%zu of %zu), %.1f us per call\n", clustering.k, accuracy,
              right, held_out.size(), micros);
  EXPECT_GE(accuracy, 0.95);
  for (const auto& c : classifier.centroids()) EXPECT_LE(c.weights.size(), 200u);
  // A call like none of them: no cluster.
  EXPECT_FALSE(classifier.classify_signature("system: Write a sonnet about autumn leaves | tools:  | user: go"));
}

// The posting-list search (only centroids sharing a term with the call are touched) against a
// plain dense cosine over every centroid, on random vocabularies, centroids and texts.
TEST(GatewayTaskClassifier, PostingSearchMatchesDenseCosine) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int n_terms = 30 + static_cast<int>(rng() % 50), n_centroids = 1 + static_cast<int>(rng() % 12);
    std::vector<std::string> terms;
    std::vector<double> idf;
    for (int t = 0; t < n_terms; ++t) {
      terms.push_back("term" + std::to_string(t));
      idf.push_back(0.1 + (rng() % 1000) / 250.0);
    }
    std::vector<ClassifierCentroid> centroids;
    for (int c = 0; c < n_centroids; ++c) {
      ClassifierCentroid centroid{c * 3 + 1, {}};
      for (int t = 0; t < n_terms; ++t) {
        if (rng() % 3 == 0) centroid.weights.push_back({static_cast<uint32_t>(t), (rng() % 1000) / 1000.0f});
      }
      centroids.push_back(std::move(centroid));
    }
    const CentroidClassifier classifier(terms, idf, centroids, 0.0);
    for (int text_i = 0; text_i < 50; ++text_i) {
      std::string text;
      const int words = 1 + static_cast<int>(rng() % 12);
      for (int w = 0; w < words; ++w) text += (rng() % 5 == 0 ? "unknownword" : terms[rng() % terms.size()]) + " ";
      const SparseVector v = classifier.vocabulary().vector_of(text);
      const auto match = classifier.nearest(text);
      if (v.index.empty()) {
        EXPECT_FALSE(match.has_value()) << text;
        continue;
      }
      ASSERT_TRUE(match.has_value()) << text;
      double best = -1;
      for (const ClassifierCentroid& c : centroids) {
        std::vector<double> dense(terms.size(), 0.0);
        double norm = 0;
        for (const auto& [term, weight] : c.weights) {
          dense[term] = weight;
          norm += static_cast<double>(weight) * weight;
        }
        double dot = 0;
        for (size_t i = 0; i < v.index.size(); ++i) dot += v.value[i] * dense[v.index[i]];
        best = std::max(best, norm > 0 ? dot / std::sqrt(norm) : 0.0);
      }
      EXPECT_NEAR(match->similarity, best, 1e-9) << text;
    }
  }
}

TEST(GatewayTaskClassifier, FileErrorsNameTheField) {
  const Json good = Json::parse(R"({"version": 1, "terms": ["a", "b"], "idf": [1, 1],
    "centroids": [{"cluster": 3, "weights": [[0, 1.0]]}], "min_similarity": 0.5})");
  EXPECT_EQ(CentroidClassifier::from_json(good, "c.json").classify_signature("aa a b"), std::nullopt);  // lone letters
  EXPECT_EQ(CentroidClassifier::from_json(Json::parse(R"({"version": 1, "terms": ["aa", "bb"], "idf": [1, 1],
    "centroids": [{"cluster": 3, "weights": [[0, 1.0]]}]})"), "c.json").classify_signature("aa bb"), 3);
  Json bad = good;
  bad["centroids"][0]["weights"] = Json::parse("[[7, 1.0]]");
  try {
    CentroidClassifier::from_json(bad, "c.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("c.json: term index 7 out of range"), std::string::npos) << e.what();
  }
  bad = good;
  bad.erase("idf");
  EXPECT_THROW(CentroidClassifier::from_json(bad, "c.json"), ConfigError);
}

// A classifier file with clusters 0 and 1 (terms "apples" and "dates").
std::string write_small_classifier(const std::string& dir) {
  const std::string path = dir + "/clusters.classifier.json";
  test::write_file(path, R"({"version": 1, "terms": ["apples", "dates"], "idf": [1, 1], "centroids": [
    {"cluster": 0, "weights": [[0, 1.0]]}, {"cluster": 1, "weights": [[1, 1.0]]}]})");
  return path;
}

TEST(GatewayTaskClassifier, ConfigChecksTheMapping) {
  const std::string dir = test::temp_path("classifier-config");
  std::filesystem::create_directories(dir);
  write_small_classifier(dir);
  const GatewayConfig main = parse_gateway_config(R"(models:
  general: {local: builtin}
routes:
  - {name: general, target: general}
default_route: general
)", "gateway.yaml", dir);
  const GatewayConfig merged = merge_routes_text(main, R"(routes:
  - {name: fruit, target: general}
classifier:
  file: clusters.classifier.json
  min_similarity: 0.4
  routes: {"0": fruit, "1": general}
)", "routes.yaml", dir);
  ASSERT_TRUE(merged.classifier);
  EXPECT_EQ(merged.classifier->routes.at(0), "fruit");
  EXPECT_DOUBLE_EQ(merged.classifier->classifier->min_similarity(), 0.4);
  EXPECT_EQ(merged.classifier->classifier->classify_signature("apples apples"), 0);
  auto error_of = [&](const std::string& yaml) -> std::string {
    try {
      merge_routes_text(main, yaml, "routes.yaml", dir);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of("classifier:\n  file: clusters.classifier.json\n  routes:\n    \"3\": nowhere\n"),
            "routes.yaml:4: classifier.routes.3: no route is named 'nowhere'");
  EXPECT_NE(error_of("classifier:\n  file: missing.json\n").find("routes.yaml:2: classifier.file: "), std::string::npos);
  EXPECT_NE(error_of("classifier:\n  file: clusters.classifier.json\n  routes: {x: general}\n")
                .find("routes.yaml:3: classifier.routes.x: must be an integer"),
            std::string::npos);
}

TEST(GatewayTaskClassifier, DeployKeepsOtherClustersAndRollbackRemovesItsMapping) {
  const std::string dir = test::temp_path("classifier-deploy");
  std::filesystem::create_directories(dir);
  const std::string classifier = write_small_classifier(dir);
  const std::string routes = dir + "/routes.yaml";
  test::write_file(dir + "/gateway.yaml", "models:\n  general: {local: builtin}\nroutes:\n  - {name: general, target: "
                                          "general}\ndefault_route: general\nroutes_file: routes.yaml\n");
  const convert::SpecialistRoute a = cluster_route("spec-0", 0, classifier);
  const convert::SpecialistRoute b = cluster_route("spec-1", 1, classifier);
  convert::deploy_route(routes, a, dir + "/gateway.yaml");
  convert::deploy_route(routes, b, dir + "/gateway.yaml");
  GatewayConfig merged = merge_routes_file(load_gateway_config(dir + "/gateway.yaml"));
  ASSERT_TRUE(merged.classifier);
  EXPECT_EQ(merged.classifier->routes, (std::map<int, std::string>{{0, "spec-0"}, {1, "spec-1"}}));
  ASSERT_TRUE(convert::remove_route(routes, "spec-0", dir + "/gateway.yaml"));
  merged = merge_routes_file(load_gateway_config(dir + "/gateway.yaml"));
  ASSERT_TRUE(merged.classifier);
  EXPECT_EQ(merged.classifier->routes, (std::map<int, std::string>{{1, "spec-1"}}));
  ASSERT_TRUE(convert::remove_route(routes, "spec-1", dir + "/gateway.yaml"));
  EXPECT_FALSE(merge_routes_file(load_gateway_config(dir + "/gateway.yaml")).classifier);
  // A cluster without a classifier file (or the reverse) is refused.
  const convert::SpecialistRoute half = cluster_route("x", 2, "");
  EXPECT_THROW(convert::routes_with(routes, half), convert::RoutingTableError);
}

}  // namespace
}  // namespace rpu::gateway
