// rpu convert-hf and Hugging Face folders as model paths, as a user runs them: the converted
// file and the folder itself give the same greedy text; bad input gives one line, exit 1 and
// no output file.
#include <gtest/gtest.h>

#include <filesystem>

#include "hf_folder.h"
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
  const std::vector<std::string> flags = {"-p", "Hello world", "-n", "24", "--temp", "0", "-t", "2"};
  auto args = std::vector<std::string>{"run", out};
  args.insert(args.end(), flags.begin(), flags.end());
  const auto from_file = test::run_rpu(args);
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  args[1] = dir;  // the folder, converted in memory to the default type, Q8_0
  const auto from_folder = test::run_rpu(args);
  ASSERT_EQ(from_folder.exit_code, 0) << from_folder.err;
  EXPECT_EQ(from_folder.out, from_file.out);
  EXPECT_GT(from_file.out.size(), std::string("Hello world").size());
  args.insert(args.end(), {"--type", "f16"});
  const auto f16 = test::run_rpu(args);
  EXPECT_EQ(f16.exit_code, 0) << f16.err;

  const auto info = test::run_rpu({"info", dir});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find(std::string("general.architecture")), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Archs, ConvertHfTest, ::testing::Values("llama", "qwen2", "qwen3"));

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

}  // namespace
}  // namespace rpu
