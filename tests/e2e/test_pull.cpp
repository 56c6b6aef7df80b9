// `rpu pull` as a user runs it, against a hub in the test process (tests/support/hub_server.h):
// pull a GGUF then `rpu run ORG/NAME` gives the same text as the file itself; a file size limit
// (ulimit -f, a real EFBIG from write) keeps only the partial download, which the next pull
// resumes; 401, offline mode and a bad name are one-line errors; perplexity and quantize take
// pulled names too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "hub/sha256.h"
#include "hub_server.h"
#include "test_util.h"

namespace rpu::test {
namespace {

namespace fs = std::filesystem;

class PullCli : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    cache = temp_path("pull_cli_" + std::to_string(n++));
    gguf = read_file(fixture("stories260K/stories260K.gguf"));
    commit = hub.add_repo("karpathy/stories260K-GGUF", {{"stories260K.gguf", gguf}, {"README.md", "# stories", false}});
  }
  std::string env(const std::string& extra = "") const {
    return extra + "HF_ENDPOINT=" + hub.endpoint() + " HF_HUB_CACHE=" + cache + " HF_TOKEN= HF_HOME=" + cache + "/home";
  }
  fs::path repo() const { return fs::path(cache) / "models--karpathy--stories260K-GGUF"; }
  static bool one_line(const std::string& err) { return !err.empty() && err.find('\n') == err.size() - 1; }

  TestHub hub;
  std::string cache, gguf, commit;
};

TEST_F(PullCli, PullThenRunByNameGivesTheFilesText) {
  const CommandResult pulled = run_rpu({"pull", "karpathy/stories260K-GGUF"}, env());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  const std::string snapshot_file = (repo() / "snapshots" / commit / "stories260K.gguf").string();
  EXPECT_NE(pulled.out.find(snapshot_file), std::string::npos) << pulled.out;
  EXPECT_EQ(read_file(snapshot_file), gguf);
  EXPECT_TRUE(fs::is_symlink(snapshot_file));
  EXPECT_EQ(read_file((repo() / "refs/main").string()), commit);

  const std::vector<std::string> flags = {"-p", "Once upon a time", "-n", "40", "--temp", "0"};
  std::vector<std::string> by_name = {"run", "karpathy/stories260K-GGUF"}, by_file = {"run", fixture("stories260K/stories260K.gguf")};
  by_name.insert(by_name.end(), flags.begin(), flags.end());
  by_file.insert(by_file.end(), flags.begin(), flags.end());
  const CommandResult named = run_rpu(by_name, env());
  const CommandResult file = run_rpu(by_file);
  ASSERT_EQ(named.exit_code, 0) << named.err;
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_EQ(named.out, file.out);
  EXPECT_GT(named.out.size(), 20u);
  const CommandResult info = run_rpu({"info", "karpathy/stories260K-GGUF"}, env());
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("GGUF version: 3"), std::string::npos);

  // A second pull downloads nothing; offline, the cache answers without the hub.
  hub.clear_requests();
  const CommandResult again = run_rpu({"pull", "karpathy/stories260K-GGUF"}, env());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("1 file, 0 downloaded"), std::string::npos) << again.out;
  EXPECT_EQ(hub.count("cdn", "GET"), 0);
  EXPECT_EQ(hub.count("hub", "HEAD"), 0);
  hub.clear_requests();
  const CommandResult offline = run_rpu({"pull", "karpathy/stories260K-GGUF"}, env("HF_HUB_OFFLINE=1 "));
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_NE(offline.out.find("offline"), std::string::npos);
  EXPECT_TRUE(hub.requests().empty());
}

// rpu perplexity and rpu quantize take a pulled name as rpu run does: the cached file's output.
TEST_F(PullCli, PerplexityAndQuantizeTakeAPulledName) {
  ASSERT_EQ(run_rpu({"pull", "karpathy/stories260K-GGUF"}, env()).exit_code, 0);
  const std::string text = std::string(RPU_SOURCE_DIR) + "/tests/data/perplexity/stories.txt";
  const std::vector<std::string> flags = {"-f", text, "-c", "64", "--chunks", "2", "-t", "2"};
  std::vector<std::string> by_name = {"perplexity", "karpathy/stories260K-GGUF"}, by_file = {"perplexity", fixture("stories260K/stories260K.gguf")};
  by_name.insert(by_name.end(), flags.begin(), flags.end());
  by_file.insert(by_file.end(), flags.begin(), flags.end());
  const CommandResult named = run_rpu(by_name, env()), file = run_rpu(by_file);
  ASSERT_EQ(named.exit_code, 0) << named.err;
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_EQ(named.out, file.out);
  EXPECT_NE(named.out.find("Final estimate: PPL = "), std::string::npos) << named.out;

  const std::string from_name = temp_path("pulled_q8.gguf"), from_file = temp_path("file_q8.gguf");
  const CommandResult q_named = run_rpu({"quantize", "karpathy/stories260K-GGUF", from_name, "q8_0"}, env());
  ASSERT_EQ(q_named.exit_code, 0) << q_named.err;
  ASSERT_EQ(run_rpu({"quantize", fixture("stories260K/stories260K.gguf"), from_file, "q8_0"}).exit_code, 0);
  EXPECT_EQ(read_file(from_name), read_file(from_file));

  const CommandResult missing = run_rpu({"quantize", "karpathy/other", from_name, "q8_0"}, env());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("run rpu pull karpathy/other"), std::string::npos) << missing.err;
}

TEST_F(PullCli, NamesThatAreNotPulledOrNotNames) {
  const CommandResult run = run_rpu({"run", "karpathy/other", "-p", "x"}, env());
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("'karpathy/other' is not a file, and karpathy/other is not in the cache"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("run rpu pull karpathy/other"), std::string::npos) << run.err;
  EXPECT_TRUE(one_line(run.err)) << run.err;
  const CommandResult bad = run_rpu({"pull", "no-org-here"}, env());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("a model on the hub is named ORG/NAME[:QUANT]"), std::string::npos) << bad.err;
  const CommandResult offline = run_rpu({"pull", "karpathy/stories260K-GGUF"}, env("HF_HUB_OFFLINE=1 "));
  EXPECT_EQ(offline.exit_code, 1);
  EXPECT_NE(offline.err.find("HF_HUB_OFFLINE is set and karpathy/stories260K-GGUF is not in the cache"), std::string::npos)
      << offline.err;
  EXPECT_TRUE(hub.requests().empty());
  const CommandResult quant = run_rpu({"pull", "karpathy/stories260K-GGUF:Q4_0"}, env());
  EXPECT_EQ(quant.exit_code, 1);
  EXPECT_NE(quant.err.find("no GGUF file of quant Q4_0 (quants: stories260K.gguf)"), std::string::npos) << quant.err;
}

TEST_F(PullCli, UnauthorizedIsOneLineNamingHfToken) {
  hub.require_token("hf_secret");
  const CommandResult denied = run_rpu({"pull", "karpathy/stories260K-GGUF"}, env());
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.err.find("401 Unauthorized"), std::string::npos) << denied.err;
  EXPECT_NE(denied.err.find("HF_TOKEN"), std::string::npos) << denied.err;
  EXPECT_TRUE(one_line(denied.err)) << denied.err;
  // The token file under HF_HOME is read when HF_TOKEN is not set.
  fs::create_directories(cache + "/home");
  write_file(cache + "/home/token", "hf_secret\n");
  const CommandResult allowed = run_rpu({"pull", "karpathy/stories260K-GGUF"}, env());
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
}

// On a terminal (a pty from script(1)) the pull draws a progress bar on stderr.
TEST_F(PullCli, ProgressBarOnATerminal) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "script(1) is not installed";
  const std::string out = temp_path("pull_tty.txt");
  const std::string command = "script -qec \"" + env() + " " + RPU_BINARY + " pull karpathy/stories260K-GGUF\" /dev/null > " + out;
  ASSERT_EQ(std::system(command.c_str()), 0);
  const std::string screen = read_file(out);
  EXPECT_NE(screen.find("pull karpathy/stories260K-GGUF ["), std::string::npos) << screen;
  EXPECT_NE(screen.find("file 1/1"), std::string::npos) << screen;
  EXPECT_NE(screen.find("1 file, 1 downloaded"), std::string::npos) << screen;
}

// A file size limit makes write() fail with EFBIG, as a full disk fails with ENOSPC: the pull
// stops with one line, keeps blobs/{sha}.incomplete and makes no blob, link or ref; the next pull
// resumes it with a Range request.
TEST_F(PullCli, FileSizeLimitKeepsOnlyThePartialDownload) {
  const CommandResult limited = run_rpu({"pull", "karpathy/stories260K-GGUF"}, "ulimit -f 400; " + env());
  EXPECT_EQ(limited.exit_code, 1) << limited.out;
  EXPECT_NE(limited.err.find("File too large (disk full or file size limit)"), std::string::npos) << limited.err;
  EXPECT_NE(limited.err.find("the next rpu pull resumes"), std::string::npos) << limited.err;
  EXPECT_TRUE(one_line(limited.err)) << limited.err;
  const std::string sha = hub::sha256_hex(gguf);
  const fs::path partial = repo() / "blobs" / (sha + ".incomplete");
  ASSERT_TRUE(fs::exists(partial));
  const uint64_t kept = fs::file_size(partial);
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, gguf.size());
  EXPECT_FALSE(fs::exists(repo() / "blobs" / sha));
  EXPECT_FALSE(fs::exists(repo() / "snapshots" / commit / "stories260K.gguf"));
  EXPECT_FALSE(fs::exists(repo() / "refs/main"));

  hub.clear_requests();
  const CommandResult resumed = run_rpu({"pull", "karpathy/stories260K-GGUF"}, env());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_file((repo() / "snapshots" / commit / "stories260K.gguf").string()), gguf);
  ASSERT_EQ(hub.count("cdn", "GET"), 1);
  for (const auto& q : hub.requests()) {
    if (q.server == "cdn") EXPECT_EQ(q.range, "bytes=" + std::to_string(kept) + "-");
  }
}

}  // namespace
}  // namespace rpu::test
