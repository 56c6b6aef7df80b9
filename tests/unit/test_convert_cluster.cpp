// S3 of the conversion loop (src/convert/cluster.h) against hand-computed values: the adjusted
// Rand index, the signature tokens, TF-IDF weights, k chosen by silhouette on obvious blobs,
// and the same clusters for the same seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "convert/classifier_file.h"
#include "convert/cluster.h"
#include "convert/clusters_file.h"
#include "convert/logged_call.h"
#include "core/rng.h"
#include "gateway/task_classifier.h"
#include "pipeline/backend.h"
#include "test_util.h"

namespace rpu::convert {
namespace {

TEST(ConvertClusterAri, IdenticalPartitionsScoreOneWhateverTheNames) {
  EXPECT_DOUBLE_EQ(adjusted_rand_index(std::vector<int>{0, 0, 1, 1, 2}, std::vector<int>{0, 0, 1, 1, 2}), 1.0);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(std::vector<int>{0, 0, 1, 1}, std::vector<int>{1, 1, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(
      adjusted_rand_index(std::vector<std::string>{"a", "a", "b"}, std::vector<std::string>{"x", "x", "y"}), 1.0);
}

TEST(ConvertClusterAri, KnownContingencyTables) {
  // [0,0,1,1] vs [0,0,1,2]: index = C(2,2) = 1; rows 1 + 1 = 2; columns 1; pairs 6;
  // expected 2 * 1 / 6 = 1/3; max (2 + 1) / 2 = 3/2: (1 - 1/3) / (3/2 - 1/3) = 4/7.
  EXPECT_NEAR(adjusted_rand_index(std::vector<int>{0, 0, 1, 1}, std::vector<int>{0, 0, 1, 2}), 4.0 / 7.0, 1e-12);
  // [0,0,0,1,1,1] vs [0,0,1,1,2,2]: cells 2,1 / 1,2: index 2; rows 3 + 3 = 6; columns 1 + 1 + 1 = 3;
  // pairs 15; expected 6 * 3 / 15 = 1.2; max 4.5: 0.8 / 3.3 = 8/33.
  EXPECT_NEAR(adjusted_rand_index(std::vector<int>{0, 0, 0, 1, 1, 1}, std::vector<int>{0, 0, 1, 1, 2, 2}), 8.0 / 33.0,
              1e-12);
  // One cluster against all singletons: no pair agrees beyond chance.
  EXPECT_NEAR(adjusted_rand_index(std::vector<int>{0, 0, 0, 0}, std::vector<int>{0, 1, 2, 3}), 0.0, 1e-12);
  EXPECT_THROW(adjusted_rand_index(std::vector<int>{0}, std::vector<int>{0, 1}), std::exception);
}

TEST(ConvertClusterTokens, PlaceholdersAndNumbersAreNormalised) {
  const auto t = signature_tokens(
      "system: Mail <EMAIL_1> or <PERSON_12>! | tools: book_table | user: Order PR-545530 at 5pm <UNSCRUBBED_REMOVED> "
      "<b>");
  const std::vector<std::string> expected = {
      "system", "mail",  "<EMAIL>", "or",    "<PERSON>", "tools", "book_table",
      "user",   "order", "pr",      "<NUM>", "at",       "<NUM>", "<UNSCRUBBED_REMOVED>"};  // the lone "b" dropped
  EXPECT_EQ(t, expected);
}

TEST(ConvertClusterTfidf, SublinearIdfWeightsUnitLength) {
  // n = 3. "common" is in every text (idf ln(4/4) = 0: dropped); "cat" in 2 (idf ln(4/3));
  // "dog" in 2; "once" in 1 (below min_df 2).
  const Tfidf t = tfidf_vectors({"common cat cat dog", "common cat once", "common dog"});
  ASSERT_EQ(t.terms, (std::vector<std::string>{"cat", "common", "dog"}));
  const double idf = std::log(4.0 / 3.0);
  const double cat = (1 + std::log(2.0)) * idf, dog = idf, norm = std::sqrt(cat * cat + dog * dog);
  ASSERT_EQ(t.vectors[0].index, (std::vector<uint32_t>{0, 2}));
  EXPECT_NEAR(t.vectors[0].value[0], cat / norm, 1e-6);
  EXPECT_NEAR(t.vectors[0].value[1], dog / norm, 1e-6);
  ASSERT_EQ(t.vectors[1].index, (std::vector<uint32_t>{0}));
  EXPECT_NEAR(t.vectors[1].value[0], 1.0, 1e-6);
}

// Three tight blobs on the unit circle (120 degrees apart), points as dense sparse vectors.
std::vector<SparseVector> blobs(int per_blob, std::vector<int>* truth) {
  Rng rng(7);
  std::vector<SparseVector> points;
  for (int b = 0; b < 3; ++b) {
    for (int i = 0; i < per_blob; ++i) {
      const double angle = b * 2.0943951 + (rng.uniform() - 0.5) * 0.3;
      points.push_back({{0, 1}, {static_cast<float>(std::cos(angle)), static_cast<float>(std::sin(angle))}});
      truth->push_back(b);
    }
  }
  return points;
}

TEST(ConvertClusterKMeans, SilhouettePicksThreeForThreeBlobs) {
  std::vector<int> truth;
  const auto points = blobs(20, &truth);
  int best_k = 0;
  double best = -2;
  for (int k = 2; k <= 6; ++k) {
    const KMeansResult r = kmeans(points, 2, k, 11);
    const double s = mean_silhouette(points, r.labels);
    if (s > best) best = s, best_k = k;
  }
  EXPECT_EQ(best_k, 3);
  EXPECT_GT(best, 0.8);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(kmeans(points, 2, 3, 11).labels, truth), 1.0);
}

std::vector<std::string> task_texts() {
  std::vector<std::string> texts;
  const char* kinds[] = {"system: classify the ticket into billing or technical | tools: | user: my invoice ",
                         "system: extract the name and email as json | tools: | user: hello from ",
                         "system: you can call tools | tools: book_table get_weather | user: book a table for "};
  for (int i = 0; i < 30; ++i) texts.push_back(std::string(kinds[i % 3]) + "<PERSON_1> number " + std::to_string(i));
  return texts;
}

TEST(ConvertClusterTexts, FindsTheTaskKindsAndIsDeterministic) {
  const auto texts = task_texts();
  ClusterOptions o;
  o.seed = 5;
  const Clustering a = cluster_texts(texts, o), b = cluster_texts(texts, o);
  EXPECT_EQ(a.k, 3);
  EXPECT_EQ(a.vectors, "tfidf");
  // Names and numbers normalise away, so there are three distinct vectors: k = 2 and 3 tried.
  EXPECT_EQ(a.tried.size(), 2u);
  EXPECT_EQ(a.labels, b.labels);
  std::vector<int> truth;
  for (int i = 0; i < 30; ++i) truth.push_back(i % 3);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(a.labels, truth), 1.0);
  ASSERT_EQ(a.clusters.size(), 3u);
  for (const auto& c : a.clusters) {
    EXPECT_EQ(c.members.size(), 10u);
    EXPECT_EQ(c.examples.size(), 3u);
    EXPECT_EQ(c.top_terms.size(), 5u);
  }
  // A sample smaller than the input: k searched on it, then fitted on everything.
  o.sample_size = 12;
  const Clustering sampled = cluster_texts(texts, o);
  EXPECT_EQ(sampled.k, 3);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(sampled.labels, truth), 1.0);
}

// The same texts in another order (a log the replay's concurrency wrote in another order) give
// the same clusters: texts of overlapping random words, where k-means' seeding and the
// silhouette's sample decide the partition, so without a canonical order they would differ.
TEST(ConvertClusterTexts, TheSameTextsInAnotherOrderGiveTheSameClusters) {
  const std::vector<std::string> words = {"refund", "order", "weather", "email", "table", "reminder",
                                          "invoice", "flight", "date", "convert", "summary", "label"};
  Rng rng(11);
  std::vector<std::string> texts;
  std::vector<int> shapes;
  for (int i = 0; i < 90; ++i) {
    std::string text;
    for (int w = 0; w < 4; ++w) text += words[rng.next() % words.size()] + " ";
    texts.push_back(text);
    shapes.push_back(static_cast<int>(rng.next() % 2));
  }
  std::vector<size_t> perm(texts.size());  // shuffled[i] = texts[perm[i]]
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.next() % (i + 1)]);
  std::vector<std::string> shuffled_texts;
  std::vector<int> shuffled_shapes;
  for (size_t i : perm) shuffled_texts.push_back(texts[i]), shuffled_shapes.push_back(shapes[i]);

  ClusterOptions o;
  o.sample_size = 40;  // the silhouette's sample is drawn by position
  const Clustering a = cluster_texts(texts, o, shapes), b = cluster_texts(shuffled_texts, o, shuffled_shapes);
  ASSERT_GT(a.k, 1);
  EXPECT_EQ(a.k, b.k);
  EXPECT_DOUBLE_EQ(a.silhouette, b.silhouette);
  ASSERT_EQ(b.labels.size(), texts.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    EXPECT_EQ(b.labels[i], a.labels[perm[i]]) << "text " << i << ": " << shuffled_texts[i];
    EXPECT_EQ(b.tfidf.vectors[i].index, a.tfidf.vectors[perm[i]].index);
    EXPECT_EQ(b.tfidf.vectors[i].value, a.tfidf.vectors[perm[i]].value);
  }
  ASSERT_EQ(a.clusters.size(), b.clusters.size());
  for (size_t c = 0; c < a.clusters.size(); ++c) {
    EXPECT_EQ(a.clusters[c].members.size(), b.clusters[c].members.size());
    EXPECT_TRUE(std::is_sorted(b.clusters[c].members.begin(), b.clusters[c].members.end()));
    ASSERT_EQ(a.clusters[c].examples.size(), b.clusters[c].examples.size());
    for (size_t e = 0; e < a.clusters[c].examples.size(); ++e) {
      EXPECT_EQ(shuffled_texts[b.clusters[c].examples[e]], texts[a.clusters[c].examples[e]]);
    }
    for (size_t m : b.clusters[c].members) EXPECT_EQ(b.labels[m], static_cast<int>(c));
  }
}

TEST(ConvertClusterTexts, FewOrIdenticalTextsMakeOneCluster) {
  const Clustering few = cluster_texts({"a b", "a c", "b c"});
  EXPECT_EQ(few.k, 1);
  EXPECT_FALSE(few.note.empty());
  const Clustering same = cluster_texts(std::vector<std::string>(10, "same text here"));
  EXPECT_EQ(same.k, 1);
  EXPECT_FALSE(same.note.empty());
  EXPECT_THROW(cluster_texts({}), std::exception);
  ClusterOptions fixed;
  fixed.k = 2;
  EXPECT_EQ(cluster_texts(task_texts(), fixed).k, 2);
}

// One system prompt, two answer shapes: the calls offering tools are answered with a tool call
// (shape 2), the free-form ones with text (shape 0), as an agent's "helpful assistant" sends both.
TEST(ConvertClusterTexts, SplitsAClusterWhoseAnswersMixShapes) {
  std::vector<std::string> texts;
  std::vector<int> shapes;
  for (int i = 0; i < 40; ++i) {
    texts.push_back("system: you are a helpful assistant | tools: book_table get_weather | user: book a table for "
                    "<PERSON_1> at " + std::to_string(i));
    shapes.push_back(2);
    texts.push_back("system: you are a helpful assistant | tools: | user: write a short poem about the sea " +
                    std::to_string(i));
    shapes.push_back(0);
    texts.push_back("system: classify the ticket into billing or technical | tools: | user: my invoice " +
                    std::to_string(i));
    shapes.push_back(0);
  }
  shapes[5] = -1;  // an unknown shape (not a teacher's answer) goes where its signature puts it
  ClusterOptions o;
  o.k = 1;  // everything in one cluster: 40 tool calls among 120
  const Clustering split = cluster_texts(texts, o, shapes);
  EXPECT_EQ(split.k, 2);
  EXPECT_EQ(split.shape_splits, 1);
  EXPECT_NE(split.method.find("mixed answer shapes"), std::string::npos) << split.method;
  std::vector<int> truth;
  for (size_t i = 0; i < texts.size(); ++i) truth.push_back(i % 3 == 0 ? 1 : 0);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(split.labels, truth), 1.0);

  o.split_mixed_shapes = false;
  EXPECT_EQ(cluster_texts(texts, o, shapes).k, 1);
  o.split_mixed_shapes = true;
  EXPECT_EQ(cluster_texts(texts, o).k, 1);  // no shapes given
  // A few calls of another shape (under 10%) are not a reason to split.
  std::vector<int> mostly_text(texts.size(), 0);
  for (int i = 0; i < 9; ++i) mostly_text[static_cast<size_t>(3 * i)] = 2;
  EXPECT_EQ(cluster_texts(texts, o, mostly_text).k, 1);
  EXPECT_THROW(cluster_texts(texts, o, std::vector<int>(3, 0)), std::exception);
}

// Shapes the signatures cannot tell apart (the same text answered both ways) stay together: the
// gateway could not route them apart.
TEST(ConvertClusterTexts, KeepsShapesTheSignaturesCannotSeparate) {
  std::vector<std::string> texts;
  std::vector<int> shapes;
  for (int i = 0; i < 60; ++i) {
    texts.push_back("system: you are a helpful assistant | tools: get_weather | user: what about tomorrow " +
                    std::to_string(i % 2));
    shapes.push_back(i % 2 == 0 ? 2 : 0);
  }
  for (int i = 0; i < 60; ++i) shapes.push_back(0), texts.push_back("system: classify | tools: | user: invoice");
  ClusterOptions o;
  o.k = 1;
  const Clustering c = cluster_texts(texts, o, shapes);
  // The classify calls split off (they hold none of the tool calls), the helpful-assistant calls,
  // half tool calls whatever their text, stay one cluster.
  EXPECT_LE(c.k, 2);
  for (size_t i = 1; i < 60; ++i) EXPECT_EQ(c.labels[i], c.labels[0]);
}

// A logged call of an agent: its system prompt, the tools it offers, the user's request, and the
// teacher's answer (a call of `tool`, or the text `answer`).
LoggedCall agent_call(int64_t id, const std::string& system, const std::vector<std::string>& tools,
                      const std::string& user, const std::string& tool, const std::string& answer = "") {
  LoggedCall c;
  c.id = id;
  c.messages = nlohmann::ordered_json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}});
  for (const std::string& t : tools) {
    c.tools.push_back({{"type", "function"}, {"function", {{"name", t}, {"parameters", {{"type", "object"}}}}}});
  }
  c.answer = {{"role", "assistant"}, {"content", answer}};
  if (!tool.empty()) {
    c.answer["content"] = nullptr;
    c.answer["tool_calls"] = nlohmann::ordered_json::array(
        {{{"id", "call_1"}, {"type", "function"}, {"function", {{"name", tool}, {"arguments", "{}"}}}}});
  }
  c.from_teacher = true;
  return c;
}

// Two agents (other system prompts) filling the same tools are one task; a third agent calling
// other tools, and a classifier answering text, are others. k-means puts each prompt apart; the
// merge joins the first two, and the gateway's classifier keeps a centroid for each of them.
TEST(ConvertClusterCalls, MergesToolCallClustersThatCallTheSameTools) {
  const std::vector<std::string> travel = {"get_weather", "book_table"}, office = {"send_email", "lookup_order"};
  const std::string jarvis = "You are Jarvis, an executive assistant agent. Call exactly one tool per request.";
  const std::string helper = "Answer the requests as best you can; call a tool with arguments from the message.";
  const std::string clerk = "You are the back-office clerk bot for Acme. Always use tools for mail and orders.";
  const std::string sorter = "Classify the ticket into billing, sales or technical. Reply with the label only.";
  std::vector<LoggedCall> calls;
  std::vector<int> truth;
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(i);
    const bool weather = i % 2 == 0;
    const std::string travel_user = weather ? "what is the weather in city " + n : "book a table for " + n + " people";
    calls.push_back(agent_call(4 * i, jarvis, travel, travel_user, weather ? "get_weather" : "book_table"));
    truth.push_back(0);
    calls.push_back(agent_call(4 * i + 1, helper, travel, travel_user, weather ? "get_weather" : "book_table"));
    truth.push_back(0);
    const std::string office_user = weather ? "email the report " + n + " to sam" : "where is order " + n;
    calls.push_back(agent_call(4 * i + 2, clerk, office, office_user, weather ? "send_email" : "lookup_order"));
    truth.push_back(1);
    calls.push_back(agent_call(4 * i + 3, sorter, {}, "my invoice " + n + " is wrong", "", "billing"));
    truth.push_back(2);
  }
  ClusterOptions o;
  o.k = 4;  // one cluster per prompt before merging
  o.merge_same_contracts = false;
  const Clustering apart = cluster_calls(calls, o);
  ASSERT_EQ(apart.k, 4);
  EXPECT_EQ(apart.contract_merges, 0);

  o.merge_same_contracts = true;
  const Clustering merged = cluster_calls(calls, o);
  EXPECT_EQ(merged.k, 3);
  EXPECT_EQ(merged.contract_merges, 1);
  EXPECT_NE(merged.method.find("with the same answer contract"), std::string::npos) << merged.method;
  EXPECT_DOUBLE_EQ(adjusted_rand_index(merged.labels, truth), 1.0);
  const ClusterSummary& travel_cluster = merged.clusters[static_cast<size_t>(merged.labels[0])];
  ASSERT_EQ(travel_cluster.parts.size(), 2u);
  EXPECT_EQ(travel_cluster.parts[0].size(), 40u);
  EXPECT_EQ(travel_cluster.parts[1].size(), 40u);
  EXPECT_EQ(travel_cluster.members.size(), 80u);
  for (const ClusterSummary& c : merged.clusters) {
    if (c.id != travel_cluster.id) {
      EXPECT_EQ(c.parts.size(), 1u);
    }
  }

  // The classifier: one centroid per part; a new call of either travel agent reaches the merged
  // cluster, the clerk's its own.
  const gateway::CentroidClassifier classifier = make_task_classifier(merged);
  EXPECT_EQ(classifier.centroids().size(), 4u);
  const auto cluster_of = [&](const LoggedCall& c) { return classifier.classify_signature(task_signature(c)); };
  EXPECT_EQ(cluster_of(agent_call(1000, jarvis, travel, "book a table for 7 people", "")), travel_cluster.id);
  EXPECT_EQ(cluster_of(agent_call(1001, helper, travel, "what is the weather in city 9", "")), travel_cluster.id);
  EXPECT_EQ(cluster_of(agent_call(1002, clerk, office, "where is order 77", "")), merged.labels[2]);

  // Agents that call other tools, or answer in text, stay apart even with the merge.
  std::vector<LoggedCall> two;
  for (int i = 0; i < 40; ++i) {
    two.push_back(agent_call(i, jarvis, travel, "book a table for " + std::to_string(i), "book_table"));
    two.push_back(agent_call(100 + i, clerk, office, "where is order " + std::to_string(i), "lookup_order"));
  }
  o.k = 2;
  EXPECT_EQ(cluster_calls(two, o).k, 2);
}

// Two word-problem prompts (final numbers) are one task, and so are two extraction prompts with
// the same JSON keys; two classification prompts answering labels (exact text) stay apart, even
// with the same labels: a text answer carries no contract to compare.
TEST(ConvertClusterCalls, MergesFinalNumbersAndJsonKeysButNotLabels) {
  const std::vector<std::pair<std::string, std::string>> prompts = {
      {"You solve arithmetic word problems and end with the answer sentence.", "number"},
      {"Math tutor agent: work through the problem step by step before answering.", "number"},
      {"Extract the customer name and email from the message as a JSON object.", "json"},
      {"Pull out the contact fields mentioned by the writer and return them in JSON.", "json"},
      {"Classify the support ticket into billing or technical.", "label"},
      {"Route this inbound message to a queue: billing or technical.", "label"}};
  std::vector<LoggedCall> calls;
  std::vector<int> truth;
  for (int i = 0; i < 30; ++i) {
    for (size_t p = 0; p < prompts.size(); ++p) {
      const std::string n = std::to_string(i), kind = prompts[p].second;
      const std::string answer = kind == "number" ? n + " + 2 = " + std::to_string(i + 2) + ". The answer is " +
                                                        std::to_string(i + 2) + "."
                                 : kind == "json" ? R"({"name":"Ana )" + n + R"(","email":null})"
                                                  : (i % 2 ? "billing" : "technical");
      calls.push_back(agent_call(static_cast<int64_t>(calls.size()), prompts[p].first, {}, "message number " + n, "", answer));
      truth.push_back(kind == "label" ? static_cast<int>(p) : kind == "number" ? 0 : 2);
    }
  }
  ClusterOptions o;
  o.k = 6;
  const Clustering c = cluster_calls(calls, o);
  EXPECT_EQ(c.k, 4);
  EXPECT_EQ(c.contract_merges, 2);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(c.labels, truth), 1.0);
}

TEST(ConvertClusterKMeans, MoreClustersThanDistinctPointsLeavesNoneEmpty) {
  const std::vector<SparseVector> points(5, SparseVector{{0}, {1.0f}});
  const KMeansResult r = kmeans(points, 1, 3, 1);
  std::vector<int> sizes(3, 0);
  for (int l : r.labels) ++sizes[static_cast<size_t>(l)];
  for (int s : sizes) EXPECT_GT(s, 0);
}

TEST(ConvertClustersFile, RoundTripsAndNamesABadField) {
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 6; ++i) {
    LoggedCall c;
    c.id = 10 + i;
    c.messages =
        nlohmann::ordered_json::array({{{"role", "user"}, {"content", i % 2 ? "add two numbers" : "write a poem"}}});
    c.latency_ms = 100.0 * (i + 1);
    c.prompt_tokens = 10;
    c.completion_tokens = 2;
    c.from_teacher = i < 4;  // calls 10..13
    calls.push_back(c);
  }
  ClusterOptions o;
  o.k = 2;
  const ClustersFile f = make_clusters_file(calls, cluster_calls(calls, o), "calls.db", {"teacher"});
  ASSERT_EQ(f.clusters.size(), 2u);
  const std::string path = test::temp_path("clusters.json");
  write_clusters_file(path, f);
  const ClustersFile back = read_clusters_file(path);
  EXPECT_EQ(clusters_to_json(back), clusters_to_json(f));
  EXPECT_EQ(back.calls, 6);
  const auto of = cluster_of_call(back);
  EXPECT_EQ(of.size(), 6u);
  EXPECT_EQ(of.at(10), of.at(12));
  EXPECT_NE(of.at(10), of.at(11));
  // The poem cluster (ids 10, 12, 14): teacher answered 10 and 12, at 100 and 300 ms.
  const ClusterRecord& poems = back.clusters[static_cast<size_t>(of.at(10))];
  EXPECT_EQ(poems.call_ids, (std::vector<int64_t>{10, 12, 14}));
  EXPECT_EQ(poems.teacher_calls, 2);
  EXPECT_DOUBLE_EQ(poems.mean_latency_ms, 200.0);
  EXPECT_EQ(poems.prompt_tokens, 30);
  EXPECT_DOUBLE_EQ(poems.volume, 0.5);
  auto bad = clusters_to_json(f);
  bad["clusters"][1]["size"] = "many";
  try {
    clusters_from_json(bad, "c.json");
    FAIL() << "accepted a bad size";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("c.json.clusters[1]: 'size'"), std::string::npos) << e.what();
  }
}

// Embeds a text as one of three axes by the task its signature names (the way a good embedding
// model would place them), counting the calls.
class AxisEmbedder : public Backend {
 public:
  std::string model_id() const override { return "axes"; }
  std::unique_ptr<CallHandle> chat(const ChatRequest&, ChatEventSink) override { return nullptr; }
  std::unique_ptr<CallHandle> complete(const CompletionRequest&, ChatEventSink) override { return nullptr; }
  EmbeddingResult embed(const EmbeddingRequest& request) override {
    ++calls;
    EXPECT_EQ(request.model, "axes");
    EmbeddingResult r;
    for (const auto& input : request.inputs) {
      std::vector<float> v(4, 0.0f);
      v[input.text.find("classify") != std::string::npos  ? 0
        : input.text.find("extract") != std::string::npos ? 1
                                                          : 2] = 1;
      v[3] = 0.1f;
      r.embeddings.push_back(v);
    }
    return r;
  }
  int calls = 0;
};

TEST(ConvertClusterTexts, UsesAnEmbeddingBackendWhenGiven) {
  AxisEmbedder embedder;
  ClusterOptions o;
  o.embedder = &embedder;
  o.embed_batch = 8;
  const Clustering c = cluster_texts(task_texts(), o);
  EXPECT_EQ(c.vectors, "embedding:axes");
  EXPECT_EQ(embedder.calls, 4);  // 30 texts in batches of 8
  EXPECT_EQ(c.k, 3);
  std::vector<int> truth;
  for (int i = 0; i < 30; ++i) truth.push_back(i % 3);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(c.labels, truth), 1.0);
  EXPECT_EQ(c.clusters[0].top_terms.size(), 5u);  // labels still come from TF-IDF
}

}  // namespace
}  // namespace rpu::convert
