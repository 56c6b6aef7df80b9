// rpu pull's names and choices without the network: ORG/NAME[:QUANT] parsing, which files of a
// repository a reference means, and the cache's layout (relative links, refs).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "hub/cache.h"
#include "hub/reference.h"
#include "hub/sha256.h"
#include "test_util.h"

namespace rpu::hub {
namespace {

namespace fs = std::filesystem;

std::vector<RepoFile> named(std::initializer_list<const char*> paths) {
  std::vector<RepoFile> files;
  for (const char* p : paths) files.push_back(RepoFile{p, 10, true, "", ""});
  return files;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HubReference, ParsesOrgNameAndQuant) {
  auto r = parse_model_reference("unsloth/Qwen3-0.6B-GGUF:q4_k_m");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "unsloth/Qwen3-0.6B-GGUF");
  EXPECT_EQ(r->quant, "q4_k_m");
  r = parse_model_reference("hf.co/HuggingFaceTB/SmolLM2-135M");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "HuggingFaceTB/SmolLM2-135M");
  EXPECT_EQ(r->quant, "");
  for (const char* bad : {"model.gguf", "a/b/c", "/abs/path", "org/", "/name", "org/na me", "org/..", "org/a--b", "org/-x",
                          "org/name:", "org/name:Q4/K", "./x.gguf", "../m/x"}) {
    EXPECT_FALSE(parse_model_reference(bad)) << bad;
  }
  EXPECT_NE(error_of([] { model_reference_or_fail("org/na me"); }).find("'na me' has the character ' '"), std::string::npos);
  EXPECT_NE(error_of([] { model_reference_or_fail("justaname"); }).find("ORG/NAME[:QUANT]"), std::string::npos);
}

TEST(HubReference, QuantOfFileNames) {
  EXPECT_EQ(quant_of("Qwen3-0.6B-Q4_K_M.gguf"), "Q4_K_M");
  EXPECT_EQ(quant_of("qwen2.5-0.5b-instruct-q8_0.gguf"), "Q8_0");
  EXPECT_EQ(quant_of("model.IQ3_XXS.gguf"), "IQ3_XXS");
  EXPECT_EQ(quant_of("SmolLM2-135M-Instruct-f16.gguf"), "F16");
  EXPECT_EQ(quant_of("stories260K.gguf"), "");
}

TEST(HubReference, PicksTheGgufOfTheQuant) {
  const auto files = named({"README.md", "m-Q4_K_S.gguf", "m-Q4_K_M.gguf", "m-Q8_0.gguf", "mmproj-m-f16.gguf"});
  EXPECT_EQ(select_files({"o/m", "q8_0"}, files).model_path, "m-Q8_0.gguf");
  EXPECT_EQ(select_files({"o/m", "Q4_K_M"}, files).model_path, "m-Q4_K_M.gguf");
  EXPECT_EQ(select_files({"o/m", ""}, files).model_path, "m-Q4_K_M.gguf");  // the default, as ollama
  EXPECT_EQ(select_files({"o/m", ""}, files).files.size(), 1u);
  const std::string none = error_of([&] { select_files({"o/m", "Q5_K_M"}, files); });
  EXPECT_NE(none.find("no GGUF file of quant Q5_K_M (quants: Q4_K_M, Q4_K_S, Q8_0)"), std::string::npos) << none;
  const std::string no_default = error_of([] { select_files({"o/m", ""}, named({"a-Q8_0.gguf", "a-F16.gguf"})); });
  EXPECT_NE(no_default.find("none is Q4_K_M: name one as o/m:QUANT (quants: F16, Q8_0)"), std::string::npos) << no_default;
  EXPECT_EQ(select_files({"o/m", ""}, named({"stories260K.gguf", "README.md"})).model_path, "stories260K.gguf");
  const std::string several = error_of([] { select_files({"o/m", "Q8_0"}, named({"a-Q8_0.gguf", "b/a-Q8_0.gguf"})); });
  EXPECT_NE(several.find("2 GGUF files match quant Q8_0"), std::string::npos) << several;
}

TEST(HubReference, PicksAModelFolderFiles) {
  const auto files = named({"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                            "model.safetensors.index.json", "README.md", "pytorch_model.bin", "onnx/model.onnx",
                            "chat_template.jinja", ".gitattributes", "sub/config.json"});
  const FileSelection s = select_files({"o/m", ""}, files);
  EXPECT_EQ(s.model_path, "");
  std::vector<std::string> paths;
  for (const RepoFile& f : s.files) paths.push_back(f.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"config.json", "generation_config.json", "tokenizer.json",
                                             "tokenizer_config.json", "model-00001-of-00002.safetensors",
                                             "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                                             "chat_template.jinja"}));
  const std::string unusable = error_of([] { select_files({"o/m", ""}, named({"README.md", "pytorch_model.bin", "config.json"})); });
  EXPECT_NE(unusable.find("o/m has no usable model files"), std::string::npos) << unusable;
  const std::string quant = error_of([&] { select_files({"o/m", "Q4_0"}, files); });
  EXPECT_NE(quant.find("has no GGUF files, so it has no quant Q4_0"), std::string::npos) << quant;
}

TEST(HubCache, LayoutIsHuggingFaceHubs) {
  const std::string dir = test::temp_path("hub_cache_layout");
  const HubCache cache(dir, "org/name");
  EXPECT_EQ(cache.repo_dir(), fs::path(dir) / "models--org--name");
  const std::string commit(40, 'a');
  fs::create_directories(cache.blob("e1").parent_path());
  test::write_file(cache.blob("e1").string(), "one");
  test::write_file(cache.blob("e2").string(), "two");
  cache.link(commit, "f.gguf", "e1");
  cache.link(commit, "sub/dir/g.json", "e2");
  cache.link(commit, "f.gguf", "e1");  // again: replaced, not an error
  EXPECT_EQ(fs::read_symlink(cache.snapshot_dir(commit) / "f.gguf"), fs::path("../../blobs/e1"));
  EXPECT_EQ(fs::read_symlink(cache.snapshot_dir(commit) / "sub/dir/g.json"), fs::path("../../../../blobs/e2"));
  EXPECT_EQ(test::read_file((cache.snapshot_dir(commit) / "sub/dir/g.json").string()), "two");
  cache.write_ref("main", commit);
  EXPECT_EQ(test::read_file((cache.repo_dir() / "refs/main").string()), commit);  // no newline, as huggingface_hub
  EXPECT_EQ(cache.read_ref("main"), commit);
  EXPECT_FALSE(cache.read_ref("other"));
  const auto files = cache.snapshot_files(commit);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "f.gguf");
  EXPECT_EQ(files[1].path, "sub/dir/g.json");

  HubSettings settings;
  settings.cache_dir = dir;
  std::string why;
  EXPECT_EQ(find_cached_model(settings, {"org/name", ""}, "main", &why), (cache.snapshot_dir(commit) / "f.gguf").string());
  EXPECT_FALSE(find_cached_model(settings, {"org/other", ""}, "main", &why));
  EXPECT_NE(why.find("org/other is not in the cache"), std::string::npos) << why;
}

TEST(HubCache, SafePaths) {
  EXPECT_TRUE(is_safe_repo_path("a/b.gguf"));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "a/\n"}) {
    EXPECT_FALSE(is_safe_repo_path(bad)) << bad;
  }
  EXPECT_TRUE(is_commit_hash(std::string(40, 'f')));
  EXPECT_FALSE(is_commit_hash("main"));
}

TEST(HubSha256, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace rpu::hub
