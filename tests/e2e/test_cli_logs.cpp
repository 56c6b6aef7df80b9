// `rpu logs` on a usage log the gateway's writer produced: the summary counts what was written
// and the export is OpenAI fine-tuning JSONL, one line per successful call.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gateway/call_logger.h"
#include "gateway/scrub.h"
#include "gateway/usage_log.h"
#include "gateway/vault.h"
#include "test_util.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

TEST(CliLogsTest, StatsAndExportReadTheUsageLog) {
  const std::string path = test::temp_path("cli-usage.db");
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  {
    gateway::UsageLog log({.path = path});
    for (int i = 0; i < 7; ++i) {
      gateway::UsageRecord r;
      r.route = i < 5 ? "arith" : "upstream";
      r.model = i < 5 ? "rpu-arith" : "gpt-4o";
      r.escalated = i >= 5;
      r.request_json = json{{"messages", json::array({{{"role", "user"}, {"content", "q" + std::to_string(i)}}})}}.dump();
      r.response_json = json{{"role", "assistant"}, {"content", "a" + std::to_string(i)}}.dump();
      r.prompt_tokens = 3;
      r.completion_tokens = 2;
      if (i == 6) r.error = "upstream timed out";
      log.submit(r);
    }
  }
  const auto stats = test::run_rpu({"logs", "stats", path});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("arith"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("total: 7 calls"), std::string::npos) << stats.out;
  const auto exported = test::run_rpu({"logs", "export", path, "--format", "openai-jsonl"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::istringstream lines(exported.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const json j = json::parse(line);
    EXPECT_EQ(j["messages"].back()["role"], "assistant");
    ++n;
  }
  EXPECT_EQ(n, 6);  // the failed call is not training data
  const auto bad = test::run_rpu({"logs", "export", path, "--format", "csv"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("csv"), std::string::npos) << bad.err;
}

// --reveal with a vault key that is missing or wrong stops with a message naming the problem,
// and writes no half export; the right key puts the original values back.
TEST(CliLogsTest, RevealNeedsTheVaultKey) {
  const std::string path = test::temp_path("cli-vault.db");
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  {
    const gateway::Scrubber scrubber;
    const gateway::Vault vault("the key");
    gateway::UsageLog log({.path = path});
    gateway::UsageRecord r;
    r.request_json = json{{"messages", json::array({{{"role", "user"}, {"content", "mail jane.doe@example.com"}}})}}.dump();
    r.response_json = json{{"role", "assistant"}, {"content", "done"}}.dump();
    log.submit(gateway::scrub_record(scrubber, r, &vault));
  }
  const auto unset = test::run_rpu({"logs", "export", path, "--reveal", "RPU_E2E_UNSET_VAULT"}, "env -u RPU_E2E_UNSET_VAULT");
  EXPECT_NE(unset.exit_code, 0);
  EXPECT_NE(unset.err.find("RPU_E2E_UNSET_VAULT is not set"), std::string::npos) << unset.err;
  const auto wrong = test::run_rpu({"logs", "export", path, "--reveal", "RPU_E2E_VAULT"}, "RPU_E2E_VAULT=other");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("wrong key"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.out.find("jane.doe"), std::string::npos) << wrong.out;
  const auto right = test::run_rpu({"logs", "export", path, "--reveal", "RPU_E2E_VAULT"}, "RPU_E2E_VAULT='the key'");
  ASSERT_EQ(right.exit_code, 0) << right.err;
  EXPECT_NE(right.out.find("mail jane.doe@example.com"), std::string::npos) << right.out;
}

}  // namespace
}  // namespace rpu
