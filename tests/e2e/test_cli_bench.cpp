// rpu bench on the fixture model with tiny sizes: a llama-bench style table with positive
// throughputs, valid JSON whose roofline bytes match the file's matrices, clean errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "kernels/kernels.h"
#include "test_util.h"

namespace rpu {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");

TEST(CliBenchTest, PrintsATableWithPositiveThroughput) {
  const auto r = test::run_rpu({"bench", kModel, "-p", "16", "-n", "4", "-r", "2", "-t", "2", "--bandwidth-mib", "32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| model | size | params | type | threads | test | t/s |"), std::string::npos) << r.out;
  for (const char* test : {"| pp16 |", "| tg4 |"}) {
    const size_t at = r.out.find(test);
    ASSERT_NE(at, std::string::npos) << r.out;
    const size_t value = at + std::string(test).size();
    EXPECT_GT(std::stod(r.out.substr(value + 1)), 0.0) << r.out;
  }
  EXPECT_NE(r.out.find("| F32 |"), std::string::npos) << r.out;  // the type holding most bytes
  EXPECT_NE(r.out.find("memory read bandwidth:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("generation roofline:"), std::string::npos) << r.out;
}

TEST(CliBenchTest, JsonOutputIsValidAndConsistent) {
  const auto r = test::run_rpu({"bench", kModel, "-p", "8", "-n", "3", "-r", "3", "-t", "1", "-o", "json", "--bandwidth-mib", "32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["threads"], 1);
  ASSERT_EQ(j["tests"].size(), 2u);
  EXPECT_EQ(j["tests"][0]["test"], "pp8");
  EXPECT_EQ(j["tests"][1]["test"], "tg3");
  for (const auto& t : j["tests"]) {
    EXPECT_GT(t["avg_ts"].get<double>(), 0.0);
    EXPECT_GE(t["stddev_ts"].get<double>(), 0.0);
    ASSERT_EQ(t["samples_ts"].size(), 3u);
  }
  EXPECT_GT(j["bandwidth"]["bytes_per_second"].get<double>(), 0.0);
  EXPECT_EQ(j["bandwidth"]["buffer_bytes"], 32u << 20);
  // Independently: every 2-D tensor except the embedding table (the head is untied here).
  const GgufFile f = GgufFile::open(kModel);
  uint64_t bytes = 0, params = 0;
  for (const auto& t : f.tensors()) {
    params += t.n_elements;
    if (t.shape.size() == 2 && t.name != "token_embd.weight") bytes += t.n_bytes;
  }
  EXPECT_EQ(j["n_params"], params);
  EXPECT_EQ(j["roofline"]["weight_bytes_per_token"], bytes);
  const double roofline = j["bandwidth"]["bytes_per_second"].get<double>() / static_cast<double>(bytes);
  EXPECT_NEAR(j["roofline"]["tokens_per_second"].get<double>(), roofline, 1e-6 * roofline);
  // The share: each generation repetition against the bandwidth read just before it. The best
  // of all probe passes (those included) is the roofline.
  const auto& tg = j["tests"][1];
  ASSERT_EQ(tg["samples_bandwidth"].size(), 3u);
  EXPECT_FALSE(j["tests"][0].contains("samples_bandwidth")) << "only generation is bandwidth-bound";
  EXPECT_EQ(j["bandwidth"]["passes"], 2 * 3 + 5);
  std::vector<double> shares;
  for (int i = 0; i < 3; ++i) {
    const double bandwidth = tg["samples_bandwidth"][i].get<double>();
    EXPECT_LE(bandwidth, j["bandwidth"]["bytes_per_second"].get<double>());
    shares.push_back(tg["samples_ts"][i].get<double>() * static_cast<double>(bytes) / bandwidth);
  }
  std::sort(shares.begin(), shares.end());  // the median
  EXPECT_NEAR(j["roofline"]["generation_share"].get<double>(), shares[1], 1e-9 * shares[1]);
  EXPECT_FALSE(j.contains("int8_roofline")) << "an F32 file has no int8 work";
}

// A quantized file: prompt processing as a share of the int8 multiply-add peak, with the
// multiply-adds per token counted from the model's shape (the layer matrices; the output head
// computes one token's logits per prompt, not every token's).
TEST(CliBenchTest, QuantizedPromptsAreMeasuredAgainstTheInt8Peak) {
  if (active_kernels().int8_peak_loop == nullptr) GTEST_SKIP() << active_kernels().name << " has no int8 peak loop";
  const std::string path = test::temp_path("bench_tiny_q8.gguf");
  ASSERT_EQ(test::run_rpu({"synth", "--like", "tiny", "--type", "Q8_0", path}).exit_code, 0);
  const auto r = test::run_rpu({"bench", path, "-p", "16", "-n", "0", "-r", "2", "-t", "2", "-o", "json", "--bandwidth-mib", "32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const GgufFile f = GgufFile::open(path);
  const auto u = [&](const char* key) { return static_cast<uint64_t>(f.find(key)->as_uint(key)); };
  const uint64_t embd = u("llama.embedding_length"), ff = u("llama.feed_forward_length");
  const uint64_t head_dim = embd / u("llama.attention.head_count"), kv = u("llama.attention.head_count_kv") * head_dim;
  const uint64_t per_layer = embd * embd * 2 + embd * kv * 2 + embd * ff * 3;  // q, o; k, v; gate, up, down
  ASSERT_TRUE(j.contains("int8_roofline")) << r.out;
  EXPECT_EQ(j["int8_roofline"]["macs_per_prompt_token"], u("llama.block_count") * per_layer);
  const double peak = j["int8_roofline"]["peak_macs_per_second"].get<double>();
  EXPECT_GT(peak, 0.0);
  const double expected = j["tests"][0]["avg_ts"].get<double>() * static_cast<double>(u("llama.block_count") * per_layer) / peak;
  EXPECT_NEAR(j["int8_roofline"]["prompt_share"].get<double>(), expected, 1e-9 * expected);
  const auto md = test::run_rpu({"bench", path, "-p", "16", "-n", "0", "-r", "1", "--bandwidth-mib", "32"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("int8 multiply-add peak:"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("prompt processing reaches"), std::string::npos) << md.out;
  std::filesystem::remove(path);
}

TEST(CliBenchTest, ProfileReadsEveryMatrixOncePerGeneratedToken) {
  const auto r = test::run_rpu({"bench", kModel, "-p", "8", "-n", "3", "-r", "1", "-t", "2", "-o", "json", "--profile",
                                "--bandwidth-mib", "32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["profiles"].size(), 2u);
  const auto& tg = j["profiles"][1];
  EXPECT_EQ(tg["test"], "tg3");
  EXPECT_EQ(tg["layers"].size(), 5u);  // stories260K has 5 layers
  uint64_t matmul_bytes = 0;
  for (const auto& [name, op] : tg["operations"].items()) {
    if (name.rfind("matmul", 0) == 0) matmul_bytes += op["bytes"].get<uint64_t>();
  }
  EXPECT_EQ(matmul_bytes, 3 * j["roofline"]["weight_bytes_per_token"].get<uint64_t>());
  EXPECT_EQ(tg["operations"]["sampling"]["calls"], 3);
  const auto md = test::run_rpu({"bench", kModel, "-p", "0", "-n", "2", "-r", "1", "--profile", "--bandwidth-mib", "32"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("profile of tg2"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| matmul output head |"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("% of bandwidth |"), std::string::npos) << md.out;
}

TEST(CliBenchTest, BadInputsGiveOneClearLine) {
  for (const auto& [args, needle] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"bench", kModel, "-o", "xml"}, "--output"},
           {{"bench", "/nonexistent/m.gguf"}, "/nonexistent/m.gguf"},
           {{"bench", kModel, "-r", "0"}, "--repetitions"},
           {{"bench", kModel, "-p", "-3"}, "--n-prompt"}}) {
    const auto r = test::run_rpu(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace rpu
