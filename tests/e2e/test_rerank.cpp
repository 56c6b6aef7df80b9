// Reranking end to end on the `rerank-tiny` synth cross-encoder (ms-marco-MiniLM's vocabulary and
// head on a small body): POST /v1/rerank on `rpu serve` (and its other paths) against the oracle
// `rpu rerank --json` on the same file, its order, top_n and return_documents; bad requests as
// 400s naming the field; a model that is not a reranker refused; through `rpu gateway` to a local
// and a remote cross-encoder, and as the knowledge bases' reranker (knowledge_reranker:); and the
// CLI's bad input (`rpu rerank`, `rpu kb search --rerank`). Plain HTTP (httplib): the official
// openai client has no rerank call.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "gateway_util.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kQuery = "how do small models answer from documents";
const std::vector<std::string> kDocuments = {
    "A small model reads retrieved passages and answers with citations.",
    "The weather in Lisbon is mild in winter.",
    "Retrieval puts the best chunks of a knowledge base into the prompt.",
    "Quantization stores weights in fewer bits.",
    "Cross-encoders read the query and a document together.",
    "cat",
};

class RerankTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::temp_path("rerank"));
    fs::create_directories(*dir_);
    for (const auto& [preset, name] : {std::pair{"rerank-tiny", "rerank-tiny.gguf"}, std::pair{"bge-tiny", "bge-tiny.gguf"}}) {
      const auto synth = test::run_rpu({"synth", *dir_ + "/" + name, "--like", preset, "--type", "F32", "--seed", "5"});
      ASSERT_EQ(synth.exit_code, 0) << synth.err;
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string reranker() { return *dir_ + "/rerank-tiny.gguf"; }
  static std::string embedder() { return *dir_ + "/bge-tiny.gguf"; }
  static std::string dir() { return *dir_; }

  // The oracle: `rpu rerank --json` on the same file, scores by document index.
  static std::map<int, double> cli_scores(int* prompt_tokens = nullptr) {
    std::vector<std::string> args = {"rerank", reranker(), "-q", kQuery, "--json", "--threads", "1"};
    args.insert(args.end(), kDocuments.begin(), kDocuments.end());
    const auto r = test::run_rpu(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json body = json::parse(r.out);
    std::map<int, double> scores;
    for (const json& item : body["results"]) scores[item["index"].get<int>()] = item["relevance_score"].get<double>();
    if (prompt_tokens != nullptr) *prompt_tokens = body["usage"]["prompt_tokens"].get<int>();
    return scores;
  }

  static json rerank_body(const std::string& model) {
    return {{"model", model}, {"query", kQuery}, {"documents", kDocuments}};
  }

  // The results are best first, each index once, each score the oracle's.
  static void expect_oracle_scores(const json& body, const std::map<int, double>& oracle, size_t count) {
    ASSERT_TRUE(body["results"].is_array()) << body.dump();
    ASSERT_EQ(body["results"].size(), count) << body.dump();
    std::set<int> seen;
    double previous = 1e300;
    for (const json& item : body["results"]) {
      const int index = item["index"].get<int>();
      ASSERT_TRUE(oracle.count(index)) << index;
      EXPECT_TRUE(seen.insert(index).second) << "index " << index << " twice";
      const double score = item["relevance_score"].get<double>();
      EXPECT_NEAR(score, oracle.at(index), 1e-5) << "document " << index;
      EXPECT_LE(score, previous) << "not sorted by score: " << body.dump();
      previous = score;
    }
  }

  static std::string* dir_;
};

std::string* RerankTest::dir_ = nullptr;

TEST_F(RerankTest, ServeScoresEqualTheCliBestFirstOnEveryPath) {
  int cli_tokens = 0;
  const std::map<int, double> oracle = cli_scores(&cli_tokens);
  ASSERT_EQ(oracle.size(), kDocuments.size());
  test::ServerProcess server({reranker(), "--threads", "2"});
  const auto r = test::http_post(server.url(), "/v1/rerank", rerank_body("rerank-tiny"));
  ASSERT_EQ(r.status, 200) << r.body << "\n" << server.log();
  EXPECT_EQ(r.json["model"], "rerank-tiny");
  EXPECT_EQ(r.json["object"], "list");
  expect_oracle_scores(r.json, oracle, kDocuments.size());
  EXPECT_FALSE(r.json["results"][0].contains("document")) << "documents only when asked for";
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], cli_tokens);
  EXPECT_EQ(r.json["usage"]["total_tokens"], cli_tokens);
  // The scores spread: random weights still tell these documents apart.
  double lo = 1e300, hi = -1e300;
  for (const auto& [_, s] : oracle) lo = std::min(lo, s), hi = std::max(hi, s);
  EXPECT_GT(hi - lo, 1e-4);

  // llama-server's and Jina/Cohere clients' other paths answer the same.
  for (const char* path : {"/rerank", "/v1/reranking", "/reranking"}) {
    const auto again = test::http_post(server.url(), path, rerank_body("rerank-tiny"));
    ASSERT_EQ(again.status, 200) << path << ": " << again.body;
    expect_oracle_scores(again.json, oracle, kDocuments.size());
  }

  // top_n keeps the best n; return_documents adds each document's text.
  json body = rerank_body("rerank-tiny");
  body["top_n"] = 2;
  body["return_documents"] = true;
  const auto top = test::http_post(server.url(), "/v1/rerank", body);
  ASSERT_EQ(top.status, 200) << top.body;
  expect_oracle_scores(top.json, oracle, 2);
  std::vector<std::pair<double, int>> best;
  for (const auto& [i, s] : oracle) best.emplace_back(-s, i);
  std::sort(best.begin(), best.end());
  for (size_t k = 0; k < 2; ++k) {
    const json& item = top.json["results"][k];
    EXPECT_EQ(item["index"].get<int>(), best[k].second);
    EXPECT_EQ(item["document"]["text"], kDocuments[static_cast<size_t>(item["index"].get<int>())]);
  }
  body["top_n"] = 100;  // more than there are: all of them
  const auto all = test::http_post(server.url(), "/v1/rerank", body);
  ASSERT_EQ(all.status, 200) << all.body;
  expect_oracle_scores(all.json, oracle, kDocuments.size());
  EXPECT_TRUE(server.running()) << server.log();
}

// Scores by document index from a /v1/rerank response.
std::map<int, double> scores_of(const json& body) {
  std::map<int, double> scores;
  for (const json& item : body["results"]) scores[item["index"].get<int>()] = item["relevance_score"].get<double>();
  return scores;
}

// `rpu serve CHAT --rerank RR`: the reranker answers /v1/rerank by its file stem or when no
// model is named, with the scores the same file gives served alone (the oracle); /v1/models
// lists both; the chat model named on /v1/rerank is a 400 naming `model`, and still chats.
TEST_F(RerankTest, ServeRerankBesideAChatModelAnswersByItsNameOrNoName) {
  std::map<int, double> oracle;
  {
    test::ServerProcess alone({reranker(), "--threads", "1"});
    const auto r = test::http_post(alone.url(), "/v1/rerank", rerank_body("rerank-tiny"));
    ASSERT_EQ(r.status, 200) << r.body;
    oracle = scores_of(r.json);
    ASSERT_EQ(oracle.size(), kDocuments.size());
  }
  const std::string docs = dir() + "/serve-docs", kb = dir() + "/serve.kb";
  fs::create_directories(docs);
  test::write_file(docs + "/jargon.txt", "A kludge is a clumsy but working solution.\n\nA hack is a clever solution.\n");
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  ASSERT_EQ(test::run_rpu({"kb", "add", kb, docs}).exit_code, 0);
  test::ServerProcess server({"--threads", "1", "--rerank", reranker(), "--kb", "docs=" + kb});  // the built-in chat model
  const auto models = test::http_get(server.url(), "/v1/models");
  ASSERT_EQ(models.status, 200) << models.body;
  std::set<std::string> ids;
  for (const json& m : models.json["data"]) ids.insert(m["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"rpu-arith", "rerank-tiny"})) << models.body;

  for (const json& body : {rerank_body("rerank-tiny"), json{{"query", kQuery}, {"documents", kDocuments}}}) {
    const auto r = test::http_post(server.url(), "/v1/rerank", body);
    ASSERT_EQ(r.status, 200) << body.dump() << " -> " << r.body << "\n" << server.log();
    EXPECT_EQ(r.json["model"], "rerank-tiny");
    expect_oracle_scores(r.json, oracle, kDocuments.size());
  }
  const auto chat_model = test::http_post(server.url(), "/v1/rerank", rerank_body("rpu-arith"));
  EXPECT_EQ(chat_model.status, 400) << chat_model.body;
  EXPECT_EQ(chat_model.json["error"]["param"], "model") << chat_model.body;
  EXPECT_NE(chat_model.body.find("'rpu-arith' is not a reranking model"), std::string::npos) << chat_model.body;

  // The chat model still answers chats (also under another name, the server being lenient);
  // the reranker named on a chat call says where to go.
  for (const char* model : {"rpu-arith", "gpt-4o-mini"}) {
    const auto chat = test::http_post(server.url(), "/v1/chat/completions", test::chat_body(model, "2+3=", 4));
    EXPECT_EQ(chat.status, 200) << model << ": " << chat.body;
    EXPECT_EQ(chat.json["model"], "rpu-arith") << chat.body;
  }
  const auto chat_reranker = test::http_post(server.url(), "/v1/chat/completions", test::chat_body("rerank-tiny", "hi", 4));
  EXPECT_EQ(chat_reranker.status, 400) << chat_reranker.body;
  EXPECT_NE(chat_reranker.body.find("/v1/rerank"), std::string::npos) << chat_reranker.body;

  // Knowledge searches are reranked by the same model, reported by the name it is served under.
  json with_docs = test::chat_body("rpu-arith", "What is a kludge?", 4);
  with_docs["knowledge"] = {{"kb", "docs"}, {"k", 1}, {"mode", "bm25"}};
  const auto answer = test::http_post(server.url(), "/v1/chat/completions", with_docs);
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(answer.json["rpu"]["knowledge"]["reranker"], "rerank-tiny") << answer.body;
  EXPECT_TRUE(server.running()) << server.log();
}

// Cohere-style documents ({"text": ..., other fields}) score as their text does as a plain
// string (oracle: the same request with strings), mixed with strings; return_documents gives
// each back in the shape it was sent; a document object without a string text is a 400.
TEST_F(RerankTest, CohereDocumentObjectsScoreAsTheirTextAndComeBackInTheirShape) {
  test::ServerProcess server({reranker(), "--threads", "1"});
  const auto strings = test::http_post(server.url(), "/v1/rerank", rerank_body("rerank-tiny"));
  ASSERT_EQ(strings.status, 200) << strings.body;
  const std::map<int, double> oracle = scores_of(strings.json);
  json documents = json::array();
  for (size_t i = 0; i < kDocuments.size(); ++i) {
    if (i % 2 == 0) {
      documents.push_back({{"text", kDocuments[i]}, {"id", "doc-" + std::to_string(i)}});
    } else {
      documents.push_back(kDocuments[i]);
    }
  }
  const json body = {{"model", "rerank-tiny"}, {"query", kQuery}, {"documents", documents}, {"return_documents", true}};
  const auto r = test::http_post(server.url(), "/v1/rerank", body);
  ASSERT_EQ(r.status, 200) << r.body;
  expect_oracle_scores(r.json, oracle, kDocuments.size());
  for (const json& item : r.json["results"]) {
    const size_t i = item["index"].get<size_t>();
    const json expected = i % 2 == 0 ? documents[i] : json{{"text", kDocuments[i]}};
    EXPECT_EQ(item["document"], expected) << r.body;
  }
  for (const json& bad : {json::array({json{{"text", "a"}}, json{{"title", "no text"}}}), json::array({json{{"text", nullptr}}}),
                          json::array({json::array({"a"})})}) {
    const auto refused = test::http_post(server.url(), "/v1/rerank", {{"query", "q"}, {"documents", bad}});
    EXPECT_EQ(refused.status, 400) << bad.dump() << " -> " << refused.body;
    EXPECT_EQ(refused.json["error"]["param"], "documents") << refused.body;
  }
  EXPECT_TRUE(server.running()) << server.log();
}

TEST_F(RerankTest, BadRequestsAre400sNamingTheField) {
  test::ServerProcess server({reranker(), "--threads", "1"});
  struct Case {
    json body;
    std::string param;
  };
  const std::vector<Case> cases = {
      {{{"model", "rerank-tiny"}, {"query", "q"}, {"documents", json::array()}}, "documents"},
      {{{"model", "rerank-tiny"}, {"query", "q"}}, "documents"},
      {{{"model", "rerank-tiny"}, {"query", "q"}, {"documents", "one string"}}, "documents"},
      {{{"model", "rerank-tiny"}, {"query", "q"}, {"documents", {"a", 7}}}, "documents"},
      {{{"model", "rerank-tiny"}, {"query", "q"}, {"documents", json::array({json{{"title", "a"}}})}}, "documents"},
      {{{"model", "rerank-tiny"}, {"query", "q"}, {"documents", json::array({json{{"text", 1}}})}}, "documents"},
      {{{"model", "rerank-tiny"}, {"documents", {"a"}}}, "query"},
      {{{"model", "rerank-tiny"}, {"query", 3}, {"documents", {"a"}}}, "query"},
      {{{"model", "rerank-tiny"}, {"query", "q"}, {"documents", {"a"}}, {"top_n", 0}}, "top_n"},
      {{{"model", "rerank-tiny"}, {"query", "q"}, {"documents", {"a"}}, {"top_n", "2"}}, "top_n"},
      {{{"model", "rerank-tiny"}, {"query", "q"}, {"documents", {"a"}}, {"return_documents", "yes"}}, "return_documents"},
  };
  for (const Case& c : cases) {
    const auto r = test::http_post(server.url(), "/v1/rerank", c.body);
    EXPECT_EQ(r.status, 400) << c.body.dump() << " -> " << r.body;
    EXPECT_TRUE(test::is_openai_error(r.json)) << r.body;
    EXPECT_EQ(r.json["error"]["param"], c.param) << c.body.dump() << " -> " << r.body;
  }
  const auto not_object = test::http_post(server.url(), "/v1/rerank", json::array({1, 2}));
  EXPECT_EQ(not_object.status, 400) << not_object.body;
  // The reranker does not chat or embed, and says where to go.
  const auto chat = test::http_post(server.url(), "/v1/chat/completions", test::chat_body("rerank-tiny", "hi", 4));
  EXPECT_EQ(chat.status, 400) << chat.body;
  EXPECT_NE(chat.body.find("/v1/rerank"), std::string::npos) << chat.body;
  const auto embed = test::http_post(server.url(), "/v1/embeddings", {{"model", "rerank-tiny"}, {"input", "a"}});
  EXPECT_EQ(embed.status, 400) << embed.body;
  // A request without a model is answered by the one model served (TEI clients send none).
  const auto unnamed = test::http_post(server.url(), "/v1/rerank", {{"query", "q"}, {"documents", {"a", "b"}}});
  EXPECT_EQ(unnamed.status, 200) << unnamed.body;
  EXPECT_EQ(unnamed.json["model"], "rerank-tiny");
  EXPECT_TRUE(server.running()) << server.log();
}

TEST_F(RerankTest, AModelThatIsNotARerankerIsRefusedNamingIt) {
  {
    test::ServerProcess chat_model({"--threads", "1"});  // the built-in arithmetic decoder
    const auto r = test::http_post(chat_model.url(), "/v1/rerank", rerank_body("rpu-arith"));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.json["error"]["param"], "model") << r.body;
    EXPECT_NE(r.json["error"]["message"].get<std::string>().find("'rpu-arith' is not a reranking model"), std::string::npos)
        << r.body;
  }
  test::ServerProcess embedding_model({embedder(), "--threads", "1"});  // an encoder with cls pooling
  const auto r = test::http_post(embedding_model.url(), "/v1/rerank", rerank_body("bge-tiny"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json["error"]["param"], "model") << r.body;
  EXPECT_NE(r.body.find("bge-tiny"), std::string::npos) << r.body;
}

TEST_F(RerankTest, CliBadInputIsAClearErrorAndANonZeroExit) {
  const auto not_reranker = test::run_rpu({"rerank", embedder(), "-q", "q", "a", "b"});
  EXPECT_NE(not_reranker.exit_code, 0);
  EXPECT_NE(not_reranker.err.find("bge-tiny.gguf"), std::string::npos) << not_reranker.err;
  EXPECT_NE(not_reranker.err.find("must be a cross-encoder"), std::string::npos) << not_reranker.err;

  const auto no_documents = test::run_rpu({"rerank", reranker(), "-q", "q"});
  EXPECT_NE(no_documents.exit_code, 0);
  EXPECT_NE(no_documents.err.find("no documents to rank"), std::string::npos) << no_documents.err;
  const std::string empty = dir() + "/empty.txt";
  test::write_file(empty, "\n\n");
  const auto empty_file = test::run_rpu({"rerank", reranker(), "-q", "q", "-f", empty});
  EXPECT_NE(empty_file.exit_code, 0);
  EXPECT_NE(empty_file.err.find("no documents to rank"), std::string::npos) << empty_file.err;

  const auto missing = test::run_rpu({"rerank", reranker(), "-q", "q", "-f", dir() + "/no-such.txt"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no-such.txt': cannot be read"), std::string::npos) << missing.err;
  const auto folder = test::run_rpu({"rerank", reranker(), "-q", "q", "-f", dir()});
  EXPECT_NE(folder.exit_code, 0);
  EXPECT_NE(folder.err.find("is a folder"), std::string::npos) << folder.err;

  // -f documents join the arguments; --top-n keeps the best.
  const std::string file = dir() + "/docs.txt";
  test::write_file(file, "first document\r\nsecond document\n");
  const auto ok = test::run_rpu({"rerank", reranker(), "-q", "q", "zeroth", "-f", file, "--json", "--top-n", "2"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const json body = json::parse(ok.out);
  ASSERT_EQ(body["results"].size(), 2u);
  EXPECT_GE(body["results"][0]["relevance_score"].get<double>(), body["results"][1]["relevance_score"].get<double>());
}

TEST_F(RerankTest, KbSearchRerankRefusesAModelThatIsNotAReranker) {
  const std::string kb = dir() + "/cats.kb", docs = dir() + "/cats";
  fs::create_directories(docs);
  test::write_file(docs + "/cats.txt", "The cat sat on the mat.\n\nA cat and a dog.\n\nCat food is sold here.\n");
  ASSERT_EQ(test::run_rpu({"kb", "create", kb, "--chunk-tokens", "16", "--overlap", "0"}).exit_code, 0);
  ASSERT_EQ(test::run_rpu({"kb", "add", kb, docs}).exit_code, 0);
  const auto refused = test::run_rpu({"kb", "search", kb, "cat", "--rerank", embedder()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("--rerank '" + embedder() + "'"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("must be a cross-encoder"), std::string::npos) << refused.err;
  const auto missing = test::run_rpu({"kb", "search", kb, "cat", "--rerank", dir() + "/nope.gguf"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no such file"), std::string::npos) << missing.err;
  // A cross-encoder rescores the first stage, through the same scheduler job as /v1/rerank.
  const auto reranked = test::run_rpu({"kb", "search", kb, "cat", "--rerank", reranker(), "--json", "-k", "2"});
  ASSERT_EQ(reranked.exit_code, 0) << reranked.err;
  EXPECT_EQ(json::parse(reranked.out).size(), 2u) << reranked.out;
}

// The gateway: a route whose target is a local cross-encoder, one whose target is `rpu serve`
// of the same file as an upstream (RemoteBackend's POST /rerank), a route to a chat model
// refusing; the knowledge bases reranked by `knowledge_reranker:` for a route's default.
TEST_F(RerankTest, ThroughTheGatewayToLocalAndRemoteRerankers) {
  const std::map<int, double> oracle = cli_scores();
  test::ServerProcess upstream({reranker(), "--threads", "1", "--alias", "remote-ranker"});
  const std::string docs = dir() + "/gw-docs", kb = dir() + "/gw.kb";
  fs::create_directories(docs);
  test::write_file(docs + "/jargon.txt", "A kludge is a clumsy but working solution.\n\nA hack is a clever solution.\n");
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  ASSERT_EQ(test::run_rpu({"kb", "add", kb, docs}).exit_code, 0);
  const std::string config = dir() + "/gateway.yaml";
  test::write_file(config, R"(models:
  ranker: {local: )" + reranker() + R"(, parallel: 2, threads: 1}
  general: {local: builtin, parallel: 2, threads: 1}
upstreams:
  far: {url: )" + upstream.url() + R"(/v1, model: remote-ranker}
knowledge_bases:
  docs: gw.kb
knowledge_reranker: ranker
routes:
  - name: rank
    target: ranker
    aliases: [rank-model]
  - name: rank-far
    target: far
    aliases: [far-model]
  - name: with-docs
    target: general
    aliases: [docs-model]
    knowledge: {kb: docs, k: 1, mode: bm25}
  - name: plain
    target: general
default_route: plain
)");
  auto gateway = test::start_gateway(config);
  json objects = json::array();  // Cohere's shape: the upstream is sent their texts
  for (const std::string& d : kDocuments) objects.push_back({{"text", d}, {"source", "test"}});
  for (const char* model : {"rank-model", "far-model"}) {
    const auto r = test::http_post(gateway->url(), "/v1/rerank", rerank_body(model));
    ASSERT_EQ(r.status, 200) << model << ": " << r.body << "\n" << gateway->log();
    expect_oracle_scores(r.json, oracle, kDocuments.size());
    const json cohere = {{"model", model}, {"query", kQuery}, {"documents", objects}, {"return_documents", true}};
    const auto c = test::http_post(gateway->url(), "/v1/rerank", cohere);
    ASSERT_EQ(c.status, 200) << model << ": " << c.body;
    expect_oracle_scores(c.json, oracle, kDocuments.size());
    EXPECT_EQ(c.json["results"][0]["document"], objects[c.json["results"][0]["index"].get<size_t>()]) << c.body;
  }
  const auto refused = test::http_post(gateway->url(), "/v1/rerank", rerank_body("anything"));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.json["error"]["param"], "model") << refused.body;
  const auto bad = test::http_post(gateway->url(), "/v1/rerank", {{"model", "rank-model"}, {"query", "q"}, {"documents", json::array()}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json["error"]["param"], "documents") << bad.body;

  // The route's knowledge default is reranked by the configured cross-encoder.
  const auto answer = test::http_post(gateway->url(), "/v1/chat/completions", test::chat_body("docs-model", "What is a kludge?", 8));
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(answer.json["rpu"]["knowledge"]["reranker"], "ranker") << answer.body;
  EXPECT_EQ(answer.json["rpu"]["knowledge"]["sources"].size(), 1u) << answer.body;
  const auto metrics = test::http_get(gateway->url(), "/metrics");
  EXPECT_GE(test::metric_value(metrics.body, "rpu_requests_total", {{"endpoint", "rerank"}}), 6) << metrics.body;
  gateway.reset();

  const std::string wrong = test::write_config(
      "wrong.yaml", "models:\n  general: {local: builtin}\nknowledge_bases:\n  docs: " + kb +
                        "\nknowledge_reranker: nope\nroutes: [{name: a, target: general}]\n");
  const auto r = test::run_rpu({"gateway", "--config", wrong});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("wrong.yaml:5: knowledge_reranker: 'nope' is not defined under models: or upstreams:"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace rpu
