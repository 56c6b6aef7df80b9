// rpu serve with an encoder (bert) model end to end: the `bge-tiny` synth preset (bge-small's
// WordPiece vocabulary and CLS pooling on a 2 x 64 body) answers /v1/embeddings for a batch of
// inputs with unit vectors of its width, the same whether an input comes alone or batched;
// chat and completion requests get a 400 naming /v1/embeddings; `rpu run` refuses the model.
#include <gtest/gtest.h>

#include <cmath>

#include "gateway_util.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

constexpr const char* kKey = "test-key";

class EncoderServerTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    model_path_ = test::temp_path(std::string("bge-tiny-") + GetParam() + ".gguf");
    const auto synth = test::run_rpu({"synth", model_path_, "--like", "bge-tiny", "--type", GetParam(), "--seed", "3"});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
    server_ = std::make_unique<test::ServerProcess>(
        std::vector<std::string>{model_path_, "--alias", "bge", "--parallel", "4", "--threads", "2", "--api-key", kKey});
  }
  std::string model_path_;
  std::unique_ptr<test::ServerProcess> server_;
};

std::vector<double> vector_of(const nlohmann::json& item) {
  std::vector<double> v;
  for (const auto& x : item.at("embedding")) v.push_back(x.get<double>());
  return v;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += a[i] * b[i];
  return d;
}

TEST_P(EncoderServerTest, EmbedsABatchAndRefusesGeneration) {
  const std::vector<std::string> texts = {"The cat sat on the mat.", "A dog barked at the mailman!",
                                          "The cat sat on the mat.", "embeddings of text, 42 times over",
                                          "short"};
  const auto r = test::http_post(server_->url(), "/v1/embeddings", {{"model", "bge"}, {"input", texts}}, kKey);
  ASSERT_EQ(r.status, 200) << r.body << "\n" << server_->log();
  ASSERT_EQ(r.json.at("data").size(), texts.size());
  EXPECT_EQ(r.json.at("model"), "bge");
  EXPECT_GT(r.json.at("usage").at("prompt_tokens").get<int>(), static_cast<int>(2 * texts.size()));
  std::vector<std::vector<double>> vectors;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto& item = r.json.at("data")[i];
    EXPECT_EQ(item.at("index"), static_cast<int>(i));
    vectors.push_back(vector_of(item));
    ASSERT_EQ(vectors.back().size(), 64u);
    EXPECT_NEAR(dot(vectors.back(), vectors.back()), 1.0, 1e-4) << i;
  }
  EXPECT_NEAR(dot(vectors[0], vectors[2]), 1.0, 1e-6);  // the same text
  EXPECT_LT(dot(vectors[0], vectors[1]), 0.9999);       // different texts

  // One input alone gives what it gave in the batch.
  const auto alone = test::http_post(server_->url(), "/v1/embeddings", {{"model", "bge"}, {"input", texts[3]}}, kKey);
  ASSERT_EQ(alone.status, 200) << alone.body;
  const std::vector<double> single = vector_of(alone.json.at("data")[0]);
  for (size_t j = 0; j < single.size(); ++j) EXPECT_NEAR(single[j], vectors[3][j], 1e-5);

  const auto chat = test::http_post(server_->url(), "/v1/chat/completions",
                                    {{"model", "bge"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}, kKey);
  EXPECT_EQ(chat.status, 400) << chat.body;
  EXPECT_EQ(chat.json["error"]["message"], "model bge is an embedding model; use /v1/embeddings") << chat.body;
  const auto completion = test::http_post(server_->url(), "/v1/completions", {{"model", "bge"}, {"prompt", "hi"}}, kKey);
  EXPECT_EQ(completion.status, 400) << completion.body;
  EXPECT_EQ(completion.json["error"]["message"], "model bge is an embedding model; use /v1/embeddings");

  const auto too_long = test::http_post(server_->url(), "/v1/embeddings",
                                        {{"model", "bge"}, {"input", std::vector<int>(600, 2000)}}, kKey);
  EXPECT_EQ(too_long.status, 400) << too_long.body;
  EXPECT_TRUE(server_->running()) << server_->log();
  EXPECT_NE(server_->log().find("is an embedding model (bert, cls pooling)"), std::string::npos) << server_->log();
}

// The official openai npm client's embeddings scenario (tests/peers/server/scenarios.mjs:
// float and base64 encodings, repeated inputs equal) against the encoder.
TEST_P(EncoderServerTest, OfficialOpenAIClientEmbeds) {
  if (!test::node_peers_installed()) GTEST_SKIP() << "tests/peers/node_modules missing (run scripts/install-deps.sh)";
  const test::NodeResult r = test::run_node("scenarios.mjs", {"embeddings", server_->url(), kKey, "bge"});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- server log ---\n" << server_->log();
}

TEST_P(EncoderServerTest, RunRefusesAnEmbeddingModel) {
  const auto run = test::run_rpu({"run", model_path_, "-p", "hello"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("is an embedding model"), std::string::npos) << run.err;
}

INSTANTIATE_TEST_SUITE_P(Types, EncoderServerTest, ::testing::Values("F32", "Q8_0"));

}  // namespace
}  // namespace rpu
