// rpu convert-hf and Hugging Face folders as model paths, as a user runs them: the converted
// file and the folder itself give the same greedy text; bad input gives one line, exit 1 and
// no output file.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "hf_folder.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

std::string folder(const std::string& model_type, int shards) {
  test::HfSpec spec;
  spec.model_type = model_type;
  spec.shards = shards;
  spec.dtype = "BF16";
  const std::string dir = test::temp_path("hf_e2e_" + model_type);
  test::write_hf_folder(test::random_hf_arrays(spec), dir);
  return dir;
}

class ConvertHfTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ConvertHfTest, ConvertedFileAndFolderGiveTheSameGreedyText) {
  const std::string dir = folder(GetParam(), 2);
  const std::string out = test::temp_path(std::string("converted_") + GetParam() + ".gguf");
  const auto convert = test::run_rpu({"convert-hf", dir, out, "--type", "q8_0", "-t", "2"});
  ASSERT_EQ(convert.exit_code, 0) << convert.err;
  EXPECT_NE(convert.err.find("converted"), std::string::npos) << convert.err;
  // Raw continuation, then the model's chat template (what `rpu run` applies by default).
  for (const bool raw : {true, false}) {
    std::vector<std::string> args = {"run", out, "-p", "Hello world", "-n", "24", "--temp", "0", "-t", "2"};
    if (raw) args.push_back("--raw");
    const auto from_file = test::run_rpu(args);
    ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
    args[1] = dir;  // the folder, converted in memory to the default type, Q8_0
    const auto from_folder = test::run_rpu(args);
    ASSERT_EQ(from_folder.exit_code, 0) << from_folder.err;
    EXPECT_EQ(from_folder.out, from_file.out);
    if (raw) {
      EXPECT_EQ(from_file.out.rfind("Hello world", 0), 0u) << from_file.out;
    }
    args.insert(args.end(), {"--type", "f16"});
    const auto f16 = test::run_rpu(args);
    EXPECT_EQ(f16.exit_code, 0) << f16.err;
  }
  const auto typed_file = test::run_rpu({"run", out, "-p", "x", "--type", "q4_0"});
  EXPECT_NE(typed_file.err.find("--type applies to Hugging Face model folders"), std::string::npos) << typed_file.err;

  const auto info = test::run_rpu({"info", dir});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find(std::string("general.architecture")), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Archs, ConvertHfTest,
                         ::testing::Values("llama", "qwen2", "qwen3", "smollm3", "phi3", "gemma2", "gemma3_text"));

// rpu serve --models DIR with a Hugging Face folder beside its converted GGUF: both listed,
// the folder converted on first use to --type, both answering with the same greedy text.
TEST(ConvertHfServe, AFolderInServeModelsAnswersLikeItsConvertedFile) {
  const std::string models = test::temp_path("hf_models");
  std::filesystem::create_directories(models);
  test::HfSpec spec;
  spec.model_type = "qwen3";
  test::write_hf_folder(test::random_hf_arrays(spec), models + "/qwen3-folder");
  const auto convert = test::run_rpu({"convert-hf", models + "/qwen3-folder", models + "/qwen3-file.gguf", "--type", "q4_0"});
  ASSERT_EQ(convert.exit_code, 0) << convert.err;
  test::ServerProcess server({"--models", models, "--type", "q4_0", "--threads", "2"});
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(60, 0);
  const auto listed = client.Get("/v1/models");
  ASSERT_TRUE(listed);
  EXPECT_NE(listed->body.find("\"qwen3-folder\""), std::string::npos) << listed->body;
  EXPECT_NE(listed->body.find("\"qwen3-file\""), std::string::npos) << listed->body;
  std::vector<std::string> texts;
  for (const char* model : {"qwen3-folder", "qwen3-file"}) {
    const nlohmann::json ask = {{"model", model}, {"prompt", "Hello world"}, {"max_tokens", 16}, {"temperature", 0}};
    const auto r = client.Post("/v1/completions", ask.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    texts.push_back(nlohmann::json::parse(r->body)["choices"][0]["text"].get<std::string>());
  }
  EXPECT_EQ(texts[0], texts[1]);
  EXPECT_FALSE(texts[0].empty());
}

TEST(ConvertHfErrors, OneLineExitOneAndNoOutputFile) {
  const std::string dir = folder("qwen2", 1);
  const std::string out = test::temp_path("never.gguf");
  auto expect_refused = [&](const std::vector<std::string>& args, const std::string& fragment) {
    const auto r = test::run_rpu(args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".partial"));
  };
  expect_refused({"convert-hf", dir, out, "--type", "q9_9"}, "unknown type 'q9_9'");
  expect_refused({"convert-hf", dir + "/nope", out}, "nope");
  expect_refused({"convert-hf", dir, test::temp_path("no/such/dir/x.gguf")}, "does not exist");
  const std::string config = test::read_file(dir + "/config.json");
  std::string gemma = config;
  gemma.replace(gemma.find("\"qwen2\""), 7, "\"falcon\"");
  test::write_file(dir + "/config.json", gemma);
  expect_refused({"convert-hf", dir, out}, "architecture 'falcon' (config.json model_type) is not supported");
  expect_refused({"run", dir, "-p", "x"}, "architecture 'falcon'");
  test::write_file(dir + "/config.json", config);
  test::write_file(dir + "/model.safetensors", "short");
  expect_refused({"convert-hf", dir, out}, "model.safetensors: truncated");
}

// A write that fails part way (a file size limit: write(2) returns EFBIG, as a full disk gives
// ENOSPC) is one line naming the file, exit 1, and neither the output nor its .partial left.
TEST(ConvertHfErrors, AFailedWriteLeavesNoFile) {
  const std::string dir = folder("qwen3", 1);
  const std::string out = test::temp_path("limited.gguf");
  for (const char* command : {"convert-hf", "quantize"}) {
    std::vector<std::string> args = {command, dir, out, "--type", "f32"};
    if (std::string(command) == "quantize") {
      ASSERT_EQ(test::run_rpu({"convert-hf", dir, out + ".src", "--type", "f32"}).exit_code, 0);
      args = {command, out + ".src", out, "f32"};
    }
    const auto r = test::run_rpu(args, "ulimit -f 64;");  // 32 or 64 KiB; the model is about 400 KiB
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.err;
    EXPECT_NE(r.err.find("cannot write '" + out + "': File too large"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << command;
    EXPECT_FALSE(std::filesystem::exists(out + ".partial")) << command;
  }
}

}  // namespace
}  // namespace rpu
