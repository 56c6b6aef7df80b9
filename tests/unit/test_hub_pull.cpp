// rpu pull's protocol against a hub in the test process (tests/support/hub_server.h, real HTTP
// on loopback, a second server as the CDN): listing, HEAD + redirect to the CDN, the cache on
// disk, resume with Range after a dropped connection, sha256 mismatch, 401, 404, offline mode.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include <filesystem>

#include "core/error.h"
#include "hub/cache.h"
#include "hub/pull.h"
#include "hub/sha256.h"
#include "hub_server.h"
#include "scripted_upstream.h"
#include "test_util.h"

namespace rpu::hub {
namespace {

namespace fs = std::filesystem;
using test::HubFile;
using test::TestHub;

std::string bytes(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u + static_cast<uint32_t>(seed);
  for (char& c : s) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

class HubPull : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    settings.cache_dir = test::temp_path("hub_pull_" + std::to_string(n++));
    settings.endpoint = hub.endpoint();
    settings.download_retries = 0;
    settings.metadata_timeout_s = settings.download_timeout_s = 5;
  }
  std::string pull_error(const ModelReference& ref) {
    try {
      pull_model(settings, ref);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  TestHub hub;
  HubSettings settings;
};

TEST_F(HubPull, GgufRepoByQuantIntoTheCacheLayout) {
  const std::string q4 = bytes(300000, 1), q8 = bytes(200000, 2);
  const std::string commit = hub.add_repo("org/m-GGUF", {{"m-Q4_K_M.gguf", q4}, {"m-Q8_0.gguf", q8}, {"README.md", "hi", false}});
  const PullResult r = pull_model(settings, {"org/m-GGUF", "Q8_0"});
  const HubCache cache(settings.cache_dir, "org/m-GGUF");
  EXPECT_EQ(r.commit, commit);
  EXPECT_EQ(r.path, (cache.snapshot_dir(commit) / "m-Q8_0.gguf").string());
  EXPECT_EQ(r.downloaded, 1u);
  EXPECT_EQ(r.downloaded_bytes, q8.size());
  const fs::path repo = fs::path(settings.cache_dir) / "models--org--m-GGUF";
  EXPECT_EQ(fs::read_symlink(repo / "snapshots" / commit / "m-Q8_0.gguf"), fs::path("../../blobs") / sha256_hex(q8));
  EXPECT_EQ(test::read_file((repo / "blobs" / sha256_hex(q8)).string()), q8);
  EXPECT_EQ(test::read_file((repo / "refs/main").string()), commit);
  EXPECT_FALSE(fs::exists(repo / "snapshots" / commit / "m-Q4_K_M.gguf"));
  EXPECT_FALSE(fs::exists(repo / "blobs" / (sha256_hex(q8) + ".incomplete")));
  // The listing, a HEAD of the resolve URL at the commit, then the CDN; the token never reaches
  // the CDN (none is set here; see TokenGoesToTheHubOnly).
  EXPECT_EQ(hub.count("hub", "GET", "/api/models/org/m-GGUF/revision/main"), 1);
  EXPECT_EQ(hub.count("hub", "HEAD", "/org/m-GGUF/resolve/" + commit + "/m-Q8_0.gguf"), 1);
  EXPECT_EQ(hub.count("cdn", "GET", "/blobs/" + sha256_hex(q8)), 1);

  // Again: nothing downloaded, no file asked for; the default quant (Q4_K_M) is a new file.
  hub.clear_requests();
  EXPECT_EQ(pull_model(settings, {"org/m-GGUF", "q8_0"}).downloaded, 0u);
  EXPECT_EQ(hub.count("hub", "HEAD"), 0);
  EXPECT_EQ(hub.count("cdn", "GET"), 0);
  EXPECT_EQ(pull_model(settings, {"org/m-GGUF", ""}).path, (cache.snapshot_dir(commit) / "m-Q4_K_M.gguf").string());
}

TEST_F(HubPull, ModelFolderSkipsWhatAModelDoesNotNeed) {
  const std::string commit = hub.add_repo(
      "org/folder", {{"config.json", "{\"model_type\":\"llama\"}", false}, {"tokenizer.json", "{}", false},
                     {"model.safetensors", bytes(5000, 3)}, {"pytorch_model.bin", bytes(5000, 4)},
                     {"README.md", "# hi", false}, {"onnx/model.onnx", bytes(100, 5)}});
  const PullResult r = pull_model(settings, {"org/folder", ""});
  const HubCache cache(settings.cache_dir, "org/folder");
  EXPECT_EQ(r.path, cache.snapshot_dir(commit).string());
  EXPECT_EQ(r.files, 3u);
  std::vector<std::string> have;
  for (const RepoFile& f : cache.snapshot_files(commit)) have.push_back(f.path);
  EXPECT_EQ(have, (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer.json"}));
  // A git (non-LFS) file is named by its ETag and served by the hub itself.
  EXPECT_EQ(test::read_file((cache.snapshot_dir(commit) / "config.json").string()), "{\"model_type\":\"llama\"}");
  EXPECT_EQ(hub.count("hub", "GET", "/resolve/" + commit + "/config.json"), 1);
  EXPECT_EQ(hub.count("cdn", "GET"), 1);
}

TEST_F(HubPull, DroppedConnectionIsResumedWithARangeRequest) {
  const std::string data = bytes(400000, 6);
  const std::string commit = hub.add_repo("org/r", {{"r-Q4_K_M.gguf", data}});
  hub.drop_after("r-Q4_K_M.gguf", 150000);
  const std::string error = pull_error({"org/r", ""});
  EXPECT_NE(error.find("the download of r-Q4_K_M.gguf broke after 150000 of 400000 bytes"), std::string::npos) << error;
  EXPECT_NE(error.find("run rpu pull again to resume"), std::string::npos) << error;
  const HubCache cache(settings.cache_dir, "org/r");
  const std::string sha = sha256_hex(data);
  EXPECT_EQ(fs::file_size(cache.incomplete(sha)), 150000u);
  EXPECT_FALSE(fs::exists(cache.blob(sha)));
  EXPECT_FALSE(fs::exists(cache.snapshot_dir(commit) / "r-Q4_K_M.gguf"));

  hub.clear_requests();
  const PullResult r = pull_model(settings, {"org/r", ""});
  EXPECT_EQ(r.downloaded_bytes, 250000u);
  EXPECT_EQ(test::read_file(r.path), data);
  EXPECT_FALSE(fs::exists(cache.incomplete(sha)));
  const auto seen = hub.requests();
  ASSERT_EQ(hub.count("cdn", "GET"), 1);
  for (const auto& q : seen) {
    if (q.server == "cdn") EXPECT_EQ(q.range, "bytes=150000-");
  }
}

TEST_F(HubPull, BrokenTransferRetriedWithinOnePull) {
  settings.download_retries = 2;
  const std::string data = bytes(300000, 7);
  hub.add_repo("org/r2", {{"r2.gguf", data}});
  hub.drop_after("r2.gguf", 100000, 1);
  std::vector<std::string> notes;
  PullOptions options;
  options.note = [&](const std::string& line) { notes.push_back(line); };
  uint64_t last_done = 0, total = 0;
  options.progress = [&](const PullProgress& p) { last_done = p.bytes_done, total = p.bytes_total; };
  const PullResult r = pull_model(settings, {"org/r2", ""}, options);
  EXPECT_EQ(test::read_file(r.path), data);
  EXPECT_EQ(last_done, data.size());
  EXPECT_EQ(total, data.size());
  ASSERT_GE(notes.size(), 1u);
  EXPECT_NE(notes[0].find("the transfer broke at byte 100000"), std::string::npos) << notes[0];
  EXPECT_EQ(hub.count("cdn", "GET"), 2);
}

TEST_F(HubPull, ServerIgnoringRangeStartsAgain) {
  const std::string data = bytes(200000, 8);
  hub.add_repo("org/ir", {{"ir.gguf", data}});
  hub.drop_after("ir.gguf", 50000);
  EXPECT_NE(pull_error({"org/ir", ""}), "");
  hub.ignore_range(true);
  const PullResult r = pull_model(settings, {"org/ir", ""});
  EXPECT_EQ(test::read_file(r.path), data);
  EXPECT_EQ(r.downloaded_bytes, data.size());
}

TEST_F(HubPull, CorruptedByteIsAChecksumErrorAndNothingIsKept) {
  const std::string data = bytes(100000, 9);
  const std::string commit = hub.add_repo("org/c", {{"c.gguf", data}});
  hub.corrupt("c.gguf", 777);
  const std::string error = pull_error({"org/c", ""});
  EXPECT_NE(error.find("c.gguf: sha256 mismatch (the hub lists " + sha256_hex(data)), std::string::npos) << error;
  const HubCache cache(settings.cache_dir, "org/c");
  EXPECT_FALSE(fs::exists(cache.blob(sha256_hex(data))));
  EXPECT_FALSE(fs::exists(cache.incomplete(sha256_hex(data))));
  EXPECT_FALSE(fs::exists(cache.snapshot_dir(commit) / "c.gguf"));
  EXPECT_FALSE(fs::exists(cache.repo_dir() / "refs/main"));
  EXPECT_EQ(test::read_file(pull_model(settings, {"org/c", ""}).path), data);  // the next pull is clean
}

TEST_F(HubPull, UnauthorizedNamesHfToken) {
  hub.add_repo("org/private", {{"p.gguf", bytes(1000, 10)}});
  hub.require_token("secret");
  std::string error = pull_error({"org/private", ""});
  EXPECT_NE(error.find("org/private: the hub answered 401 Unauthorized"), std::string::npos) << error;
  EXPECT_NE(error.find("set HF_TOKEN"), std::string::npos) << error;
  settings.token = "wrong";
  error = pull_error({"org/private", ""});
  EXPECT_NE(error.find("the token in HF_TOKEN was not accepted"), std::string::npos) << error;
  settings.token = "secret";
  EXPECT_NO_THROW(pull_model(settings, {"org/private", ""}));
  for (const auto& q : hub.requests()) {  // the token goes to the hub, never to the CDN
    if (q.server == "cdn") EXPECT_EQ(q.authorization, "");
    if (q.server == "hub" && q.method == "HEAD") EXPECT_EQ(q.authorization, "Bearer secret");
  }
}

TEST_F(HubPull, NotFound) {
  hub.add_repo("org/there", {{"README.md", "x", false}});
  EXPECT_NE(pull_error({"org/missing", ""}).find("org/missing: not found on the hub (404)"), std::string::npos);
  PullOptions options;
  options.revision = "nope";
  try {
    pull_model(settings, {"org/there", ""}, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("org/there@nope: revision not found"), std::string::npos) << e.what();
  }
  EXPECT_NE(pull_error({"org/there", ""}).find("org/there has no usable model files"), std::string::npos);
}

TEST_F(HubPull, RenamedRepositoryFollowsRelativeRedirects) {
  const std::string data = bytes(3000, 11);
  hub.add_repo("org/new", {{"n.gguf", data}});
  hub.add_rename("org/old", "org/new");
  EXPECT_EQ(test::read_file(pull_model(settings, {"org/old", ""}).path), data);
}

// A hub that accepts the connection and never answers: a timeout, not a hang.
TEST_F(HubPull, SilentHubTimesOut) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);  // the kernel completes connections; nobody reads or answers
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  settings.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  settings.metadata_timeout_s = 0.5;
  const auto start = std::chrono::steady_clock::now();
  const std::string error = pull_error({"org/x", ""});
  ::close(fd);
  EXPECT_NE(error.find("no answer in time (read timed out)"), std::string::npos) << error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(HubPull, UnreachableHubAndOfflineMode) {
  settings.endpoint = "http://127.0.0.1:" + std::to_string(test::closed_port());
  std::string error = pull_error({"org/x", ""});
  EXPECT_NE(error.find("cannot reach http://127.0.0.1:"), std::string::npos) << error;
  EXPECT_NE(error.find("cannot connect (refused"), std::string::npos) << error;

  settings.endpoint = hub.endpoint();
  settings.offline = true;
  error = pull_error({"org/x", ""});
  EXPECT_NE(error.find("HF_HUB_OFFLINE is set and org/x is not in the cache"), std::string::npos) << error;
  const std::string data = bytes(2000, 12);
  hub.add_repo("org/x", {{"x-Q8_0.gguf", data}});
  settings.offline = false;
  const std::string path = pull_model(settings, {"org/x", ""}).path;
  settings.offline = true;
  hub.clear_requests();
  const PullResult r = pull_model(settings, {"org/x", "Q8_0"});
  EXPECT_TRUE(r.offline);
  EXPECT_EQ(r.path, path);
  EXPECT_TRUE(hub.requests().empty());
  error = pull_error({"org/x", "Q4_0"});
  EXPECT_NE(error.find("no GGUF file of quant Q4_0"), std::string::npos) << error;
}

}  // namespace
}  // namespace rpu::hub
