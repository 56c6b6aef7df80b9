// `rpu logs` on a usage log the gateway's writer produced: the summary counts what was written
// and the export is OpenAI fine-tuning JSONL, one line per successful call.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gateway/usage_log.h"
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

}  // namespace
}  // namespace rpu
