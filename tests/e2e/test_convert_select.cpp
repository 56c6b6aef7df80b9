// The conversion loop's S4/S5 end to end on a tiny log: 200 arithmetic calls answered by a
// teacher in the built-in model's format ("a + b = c. The answer is c."), split by content,
// the built-in model evaluated on the held-out calls (in process, through LocalBackend),
// a 20-step LoRA fine-tune written as a GGUF that loads and answers, both compared by
// select_model, and `rpu convert select` run on the same log as a JSONL file.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "convert/clusters_file.h"
#include "convert/select.h"
#include "convert/train_specialist.h"
#include "test_util.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

const char* kNames[] = {"Leo", "Mia", "Sam", "Zoe", "Ben", "Emma", "Omar", "Nora"};
const char* kThings[] = {"apples", "coins", "stickers", "marbles", "books", "shells"};

// One or two steps of + and - on numbers below 100 (the built-in model's home ground).
LoggedCall arithmetic_call(int64_t id, std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::string name = kNames[pick(0, 7)], thing = kThings[pick(0, 5)];
  int total = pick(10, 60);
  std::string question = name + " has " + std::to_string(total) + " " + thing + ".";
  std::string answer;
  const int steps = pick(1, 2);
  for (int s = 0; s < steps; ++s) {
    const bool plus = pick(0, 1) == 1 || total < 5;
    const int n = plus ? pick(1, 30) : pick(1, total - 1);
    question += plus ? " " + name + " buys " + std::to_string(n) + " more." : " " + name + " gives away " + std::to_string(n) + ".";
    answer += std::to_string(total) + (plus ? " + " : " - ") + std::to_string(n) + " = " + std::to_string(plus ? total + n : total - n) + ". ";
    total = plus ? total + n : total - n;
  }
  question += " How many " + thing + " does " + name + " have now?";
  LoggedCall c;
  c.id = id;
  c.route = "arithmetic";
  c.messages = json::array({{{"role", "user"}, {"content", question}}});
  c.answer = {{"role", "assistant"}, {"content", answer + "The answer is " + std::to_string(total) + "."}};
  c.from_teacher = true;
  return c;
}

std::vector<LoggedCall> tiny_log() {
  std::mt19937 rng(7);
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 200; ++i) calls.push_back(arithmetic_call(i + 1, rng));
  return calls;
}

std::string builtin_path() { return std::string(RPU_SOURCE_DIR) + "/models/rpu-arith.gguf"; }

TEST(ConvertSelectE2E, BuiltinScoresAndAShortFineTuneLoadsAndAnswers) {
  const auto calls = tiny_log();
  const SplitOptions split_options{0.2, 0};
  const Split split = split_calls(calls, split_options);
  ASSERT_GT(split.held_out.size(), 20u);

  auto builtin = open_local_model(Model::load(builtin_path()), "builtin", 2, 2);
  EvaluateOptions eo;
  eo.max_tokens = 96;
  eo.parallel = 2;
  const Evaluation base = evaluate(*builtin->backend, split.held_out, eo);
  std::printf("built-in model on %zu held-out arithmetic calls: score %.3f, p50 %.0f ms\n", base.calls.size(),
              base.mean_score, base.latency_p50_ms);
  EXPECT_GT(base.mean_score, 0.3) << "the built-in model answers easy arithmetic";
  for (const CallScore& c : base.calls) EXPECT_EQ(c.metric, "final_number");

  const std::string dir = test::temp_path("convert_train");
  SpecialistOptions so;
  so.from = TrainFrom::kLora;
  so.max_steps = 20;
  so.minutes = 1;
  so.seq_len = 256;
  so.batch_rows = 2;
  so.out_dir = dir;
  std::vector<const LoggedCall*> all;
  for (const auto& c : calls) all.push_back(&c);
  const Specialist s = train_specialist(*builtin->model, all, split_options, so, {});
  EXPECT_EQ(s.report.steps, 20);
  EXPECT_EQ(s.data.written, split.train.size());
  EXPECT_EQ(s.data.held_out_skipped, split.held_out.size());
  EXPECT_TRUE(held_out_in_training_file(split.held_out, s.training_file).empty());
  std::printf("LoRA fine-tune: %d steps, %.1f steps/s, %.0f tokens/s, loss %.3f -> %.3f\n", s.report.steps,
              s.steps_per_second, s.report.tokens_per_second, s.report.first_loss, s.report.last_loss);

  auto trained = open_local_model(Model::load(s.model_path), "trained", 2, 2);
  const auto one = run_chat(*trained->backend, [&] {
    ChatRequest r;
    r.messages = split.held_out[0]->messages;
    r.max_tokens = 64;
    r.sampling.temperature = 0;
    return r;
  }());
  ASSERT_FALSE(one.choices.empty());
  EXPECT_FALSE(one.choices[0].text.empty());

  SelectOptions sel;
  sel.evaluate = eo;
  const Selection result = select_model(split.held_out, {{"builtin", builtin->backend.get(), 2}, {"trained", trained->backend.get(), 2}}, sel);
  ASSERT_EQ(result.candidates.size(), 2u);
  EXPECT_EQ(result.teacher_score, 1.0);
  EXPECT_GE(result.best, 0);
  std::printf("select: builtin %.3f, trained %.3f, best %s\n", result.candidates[0].evaluation.mean_score,
              result.candidates[1].evaluation.mean_score, result.candidates[static_cast<size_t>(result.best)].name.c_str());
  std::filesystem::remove_all(dir);
}

TEST(ConvertSelectE2E, CliSelectsOnAJsonlLogByRouteOrClusterFile) {
  const auto calls = tiny_log();
  const std::string log = test::temp_path("calls.jsonl"), out = test::temp_path("selection.json");
  {
    std::ofstream f(log);
    for (size_t i = 0; i < 60; ++i) {
      const auto& c = calls[i];
      f << json{{"id", c.id}, {"route", i % 2 == 0 ? "arithmetic" : "other"}, {"messages", c.messages}, {"answer", c.answer}}.dump() << '\n';
    }
  }
  const auto r = test::run_rpu({"convert", "select", log, "--route", "arithmetic", "--held-out", "0.5", "--json", out,
                                "--max-tokens", "96", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(test::read_file(out));
  EXPECT_EQ(j["teacher_score"], 1.0);
  EXPECT_EQ(j["best"], "builtin");
  // Numeric answers: greedy, self-consistency and best-of-5 and -16 with the arithmetic verifier.
  ASSERT_EQ(j["candidates"].size(), 4u) << j.dump(2);
  EXPECT_EQ(j["candidates"][2]["strategy"], "bon5");
  EXPECT_EQ(j["candidates"][2]["samples_per_call"], 5.0);
  EXPECT_EQ(j["candidates"][3]["strategy"], "bon16");
  EXPECT_EQ(j["candidates"][3]["samples_per_call"], 16.0);
  EXPECT_TRUE(j["strategy_reason"].is_string());
  EXPECT_GT(j["held_out_calls"].get<int>(), 5);
  EXPECT_LE(j["held_out_calls"].get<int>(), 30) << "only the route's 30 calls";
  EXPECT_NE(r.out.find("builtin"), std::string::npos);

  // The same cluster named by a clusters file (S3's clusters_file.h) gives the same held-out set.
  ClustersFile clusters;
  clusters.log = log;
  ClusterRecord record;
  record.id = 3;
  for (size_t i = 0; i < 60; i += 2) record.call_ids.push_back(calls[i].id);
  record.size = static_cast<int64_t>(record.call_ids.size());
  clusters.clusters.push_back(record);
  const std::string cluster_path = test::temp_path("clusters.json"), out2 = test::temp_path("selection2.json");
  write_clusters_file(cluster_path, clusters);
  const auto r2 = test::run_rpu({"convert", "select", log, "--cluster-file", cluster_path, "--cluster", "3", "--held-out",
                                 "0.5", "--json", out2, "--max-tokens", "96", "-t", "2"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  const json j2 = json::parse(test::read_file(out2));
  EXPECT_EQ(j2["held_out_calls"], j["held_out_calls"]);
  EXPECT_EQ(j2["candidates"][0]["score"], j["candidates"][0]["score"]);
  const auto bad = test::run_rpu({"convert", "select", log, "--route", "arithmetic", "--strategy", "sc9"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("sc9"), std::string::npos) << bad.err;
  const auto missing = test::run_rpu({"convert", "select", log, "--cluster-file", cluster_path, "--cluster", "4"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no cluster '4'"), std::string::npos) << missing.err;
  std::filesystem::remove(cluster_path);
  std::filesystem::remove(out2);
  std::filesystem::remove(log);
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace rpu::convert
