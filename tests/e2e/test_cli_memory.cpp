// --no-mmap and --mlock (issue 17): the weights read into heap memory give the golden text
// byte for byte, and a lock the system refuses is one clear warning, not a failed run.
#include <gtest/gtest.h>
#include <unistd.h>

#include "test_util.h"

namespace rpu {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");
const std::string kGolden = test::fixture("stories260K/golden/greedy_noprompt_n256.txt");

TEST(CliMemoryTest, NoMmapGivesTheGoldenText) {
  const auto r = test::run_rpu({"run", kModel, "--steps", "256", "--temp", "0", "-t", "1", "--no-mmap"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, test::read_file(kGolden));
}

TEST(CliMemoryTest, NoMmapAndMlockOnEveryLoadingCommand) {
  const std::string text_path = test::temp_path("ppl.txt");
  test::write_file(text_path, test::read_file(kGolden));
  const auto mapped = test::run_rpu({"perplexity", kModel, "-f", text_path, "-c", "64", "-t", "1"});
  const auto read = test::run_rpu({"perplexity", kModel, "-f", text_path, "-c", "64", "-t", "1", "--no-mmap", "--mlock"});
  ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, mapped.out);
  const auto bench = test::run_rpu({"bench", kModel, "-p", "8", "-n", "4", "-r", "1", "-t", "1", "--bandwidth-mib", "0", "--no-mmap", "--mlock"});
  EXPECT_EQ(bench.exit_code, 0) << bench.err;
  const auto chat = test::run_rpu({"chat", "-n", "8", "--temp", "0", "--no-mmap", "--mlock"}, "", "2+3=\n");
  EXPECT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_EQ(chat.err.find("warning"), std::string::npos) << chat.err;
}

// RLIMIT_MEMLOCK 0 makes mlock fail for a process without CAP_IPC_LOCK; as root (CI) the
// capability is dropped from the inheritable and bounding sets first, so the run cannot have it.
TEST(CliMemoryTest, RefusedMlockIsAWarningAndTheRunGoesOn) {
  const std::string limit = "prlimit --memlock=0:0 --";
  const std::string prefix =
      geteuid() == 0 ? "setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock " + limit : limit;
  const auto r = test::run_rpu({"run", kModel, "--steps", "256", "--temp", "0", "-t", "1", "--mlock"}, prefix);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, test::read_file(kGolden));
  EXPECT_NE(r.err.find("rpu: warning: --mlock: " + kModel + ": cannot lock"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("RLIMIT_MEMLOCK is 0 KiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("continuing unlocked"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rpu
