// `rpu convert run --augment` end to end against the stand-in teacher (bench/convert/teacher.mjs,
// a real HTTP server in a node process) on a log of two of the workload's call types
// (workload.mjs, answered by teacher_log.mjs: the teacher's own rules without HTTP).
// Checked:
//   - every kept variant's answer is the one the teacher's rules give for that variant (computed
//     again by teacher_log.mjs), so the labels are the teacher's, for the variant, not the source;
//   - no variant repeats a logged call, and the generalist's training file holds the variants
//     and no held-out prompt;
//   - a teacher that goes away mid-augmentation (--fail-after) stops it with the reason in
//     augment.json, a whole augmented.jsonl with what was answered, and a run that goes on;
//   - --augment without a gateway config, or naming no upstream of it, fails before any work;
//   - --held-out-variants: variants of the held-out calls are evaluated on, never trained on.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "convert/split.h"
#include "gateway_util.h"
#include "scripted_upstream.h"
#include "test_util.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

const std::string kBench = std::string(RPU_SOURCE_DIR) + "/bench/convert/";

bool have_node() { return std::system("node --version > /dev/null 2>&1") == 0; }

void node(const std::vector<std::string>& args) {
  std::string line = "node";
  for (const std::string& a : args) line += " '" + a + "'";
  ASSERT_EQ(std::system((line + " 2> /dev/null").c_str()), 0) << line;
}

// The stand-in teacher on a free port, without latency; stopped when destroyed.
class Teacher {
 public:
  explicit Teacher(const std::vector<std::string>& extra) : port_(test::closed_port()) {
    std::vector<std::string> args{"node", kBench + "teacher.mjs", "--port", std::to_string(port_), "--latency-ms", "0",
                                  "--jitter-ms", "0", "--seed", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("node", argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && test::http_get(url(), "/health").status != 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~Teacher() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_ = -1;
};

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::string last_user(const json& messages) {
  for (size_t i = messages.size(); i-- > 0;) {
    if (messages[i]["role"] == "user") return messages[i]["content"].get<std::string>();
  }
  return "";
}

struct AugmentCase {
  std::string dir, log, work, config;
};

// 160 calls of two types whose answers copy (extract) and transform (normalize) values.
AugmentCase make_case(const std::string& name, const std::string& teacher_url) {
  AugmentCase s;
  s.dir = test::temp_path(name);
  fs::create_directories(s.dir);
  s.log = s.dir + "/log.jsonl";
  s.work = s.dir + "/work";
  const std::string mix = "classify=0,extract=1,tool_call=0,normalize=1,arithmetic=0,rewrite=0,open=0";
  node({kBench + "workload.mjs", "--seed", "5", "--calls", "160", "--mix", mix, "--out", s.dir + "/calls.jsonl",
        "--labels", s.dir + "/labels.jsonl"});
  node({kBench + "teacher_log.mjs", "--calls", s.dir + "/calls.jsonl", "--labels", s.dir + "/labels.jsonl", "--out", s.log});
  s.config = s.dir + "/gateway.yaml";
  std::ofstream(s.config) << "listen: {host: 127.0.0.1, port: 18597}\n"
                             "upstreams:\n  teacher:\n    url: " << teacher_url << "/v1\n"
                          << "    retry: {attempts: 2, base_delay: 0.01, max_delay: 0.02}\n"
                             "routes:\n  - name: general\n    target: teacher\n"
                             "default_route: general\n";
  return s;
}

std::vector<std::string> run_args(const AugmentCase& s) {
  return {"convert", "run", s.log, "--work-dir", s.work, "--gateway-config", s.config, "--augment", "2",
          "--augment-parallel", "4", "--min-calls", "20", "--held-out", "0.2", "--generalist-minutes", "0.03",
          "--vocab", "300", "--train-minutes", "0", "--max-tokens", "8", "--strategy", "greedy", "--k", "2", "-t", "2"};
}

TEST(ConvertAugmentE2E, VariantsAreAnsweredByTheTeacherAndTrainedOnButNeverHeldOut) {
  if (!have_node()) GTEST_SKIP() << "node is not installed";
  Teacher teacher({});
  const AugmentCase s = make_case("convert_augment", teacher.url());
  const auto run = test::run_rpu(run_args(s));
  ASSERT_EQ(run.exit_code, 0) << run.err;

  const json report = json::parse(test::read_file(s.work + "/augment.json"));
  size_t kept = 0;
  for (const auto& [cluster, r] : report["clusters"].items()) {
    EXPECT_FALSE(r["stopped"].get<bool>()) << r.dump();
    EXPECT_EQ(r["failed"], 0) << r.dump();
    EXPECT_LE(r["variants"].get<size_t>(), 2 * r["sources"].get<size_t>());
    kept += r["kept"].get<size_t>();
  }
  ASSERT_GT(kept, 80u) << report.dump(2);
  const std::vector<json> variants = read_jsonl(s.work + "/augmented.jsonl");
  ASSERT_EQ(variants.size(), kept);

  // The teacher's rules applied again to exactly the variants give the kept answers.
  std::set<std::string> logged;
  for (const json& c : read_jsonl(s.log)) logged.insert(last_user(c["messages"]));
  {
    std::ofstream calls(s.dir + "/variants.jsonl"), labels(s.dir + "/variant-labels.jsonl");
    for (const json& v : variants) {
      EXPECT_FALSE(logged.count(last_user(v["messages"]))) << "a variant repeats a logged call";
      calls << json{{"model", "m"}, {"messages", v["messages"]}, {"tools", v["tools"]}}.dump() << '\n';
      labels << json{{"type", "variant"}}.dump() << '\n';
    }
  }
  node({kBench + "teacher_log.mjs", "--calls", s.dir + "/variants.jsonl", "--labels", s.dir + "/variant-labels.jsonl",
        "--out", s.dir + "/variants-answered.jsonl"});
  const std::vector<json> again = read_jsonl(s.dir + "/variants-answered.jsonl");
  ASSERT_EQ(again.size(), variants.size());
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_EQ(variants[i]["answer"]["content"], again[i]["answer"]["content"]) << last_user(variants[i]["messages"]);
  }

  // The generalist trained on them, and on no held-out prompt.
  const json generalist = json::parse(test::read_file(s.work + "/generalist.json"));
  const std::string train_file = s.work + "/generalist/train.jsonl";
  std::set<std::string> trained;
  for (const json& line : read_jsonl(train_file)) trained.insert(last_user(line["messages"]));
  size_t variants_trained = 0;
  for (const json& v : variants) variants_trained += trained.count(last_user(v["messages"]));
  EXPECT_GT(variants_trained, variants.size() / 2) << generalist.dump(2);
  std::vector<LoggedCall> calls;
  for (const json& c : read_jsonl(s.log)) {
    LoggedCall call;
    call.id = c["id"];
    call.messages = c["messages"];
    call.tools = c["tools"];
    call.answer = c["answer"];
    call.from_teacher = true;
    calls.push_back(call);
  }
  const Split split = split_calls(calls, SplitOptions{0.2, 0});
  ASSERT_FALSE(split.held_out.empty());
  EXPECT_TRUE(held_out_in_training_file(split.held_out, train_file).empty());

  const auto report_run = test::run_rpu({"convert", "report", "--work-dir", s.work, "-o", s.dir + "/report.md"});
  ASSERT_EQ(report_run.exit_code, 0) << report_run.err;
  EXPECT_NE(test::read_file(s.dir + "/report.md").find("## Augmentation"), std::string::npos);

  // A second run resumes: nothing is asked again.
  const auto second = test::run_rpu(run_args(s));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.err.find("augmentation: cluster"), std::string::npos) << second.err;
  fs::remove_all(s.dir);
}

LoggedCall logged_call(const json& c) {
  LoggedCall call;
  call.id = c.value("id", int64_t{0});
  call.messages = c["messages"];
  call.tools = c["tools"];
  call.answer = c["answer"];
  call.from_teacher = true;
  return call;
}

// --held-out-variants: variants of the held-out calls, answered by the teacher, are what S4
// evaluates and S6 calibrates on beside the held-out calls, and never what anything trains on.
TEST(ConvertAugmentE2E, HeldOutVariantsAreEvaluatedOnAndNeverTrainedOn) {
  if (!have_node()) GTEST_SKIP() << "node is not installed";
  Teacher teacher({});
  const AugmentCase s = make_case("convert_held_out_variants", teacher.url());
  std::vector<std::string> args = run_args(s);
  args.insert(args.end(), {"--held-out-variants", "3"});
  const auto run = test::run_rpu(args);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("held-out variants: cluster"), std::string::npos) << run.err;

  const std::vector<json> variants = read_jsonl(s.work + "/held_out_variants.jsonl");
  ASSERT_GT(variants.size(), 20u);
  std::vector<LoggedCall> logged;
  for (const json& c : read_jsonl(s.log)) logged.push_back(logged_call(c));
  std::set<std::string> logged_requests;
  for (const LoggedCall& c : logged) logged_requests.insert(request_key(c.messages, c.tools));
  std::vector<LoggedCall> variant_calls;
  for (const json& v : variants) {
    EXPECT_FALSE(logged_requests.count(request_key(v["messages"], v["tools"]))) << "a variant repeats a logged call";
    variant_calls.push_back(logged_call(v));
  }
  std::vector<const LoggedCall*> variant_ptrs;
  for (const LoggedCall& c : variant_calls) variant_ptrs.push_back(&c);
  EXPECT_TRUE(held_out_in_training_file(variant_ptrs, s.work + "/generalist/train.jsonl").empty());

  // Every evaluated candidate answered the held-out calls and the variants kept for its cluster.
  size_t evaluated_clusters = 0;
  for (const auto& entry : fs::directory_iterator(s.work)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("cluster-") || !name.ends_with(".json")) continue;
    const json state = json::parse(test::read_file(entry.path().string()));
    if (!state.contains("evaluated")) continue;
    ++evaluated_clusters;
    const size_t expected = state["held_out"].get<size_t>() + state["held_out_variants"].get<size_t>();
    EXPECT_GT(state["held_out_variants"].get<size_t>(), 0u) << name;
    for (const json& candidate : state["evaluated"]) EXPECT_EQ(candidate["samples"].size(), expected) << name;
  }
  EXPECT_GT(evaluated_clusters, 0u);

  // A second run resumes: nothing is asked again.
  const auto second = test::run_rpu(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.err.find("held-out variants: cluster"), std::string::npos) << second.err;
  fs::remove_all(s.dir);
}

TEST(ConvertAugmentE2E, ATeacherThatGoesAwayStopsAugmentationWithAWholeFile) {
  if (!have_node()) GTEST_SKIP() << "node is not installed";
  Teacher teacher({"--fail-after", "12"});
  const AugmentCase s = make_case("convert_augment_gone", teacher.url());
  const auto run = test::run_rpu(run_args(s));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json report = json::parse(test::read_file(s.work + "/augment.json"));
  bool stopped = false;
  size_t answered = 0;
  for (const auto& [cluster, r] : report["clusters"].items()) {
    answered += r["answered"].get<size_t>();
    if (r["stopped"].get<bool>()) {
      stopped = true;
      EXPECT_NE(r["stop_reason"].get<std::string>().find("failed in a row"), std::string::npos) << r.dump();
    }
  }
  EXPECT_TRUE(stopped) << report.dump(2);
  EXPECT_LE(answered, 12u);
  const std::vector<json> variants = read_jsonl(s.work + "/augmented.jsonl");  // every line parses
  EXPECT_LE(variants.size(), answered);
  EXPECT_TRUE(fs::exists(s.work + "/generalist.json")) << "the run went on without the teacher";
  fs::remove_all(s.dir);
}

TEST(ConvertAugmentE2E, AugmentWithoutATeacherUpstreamFailsBeforeAnyWork) {
  const std::string dir = test::temp_path("convert_augment_flags");
  fs::create_directories(dir);
  const std::string log = dir + "/log.jsonl", config = dir + "/gateway.yaml";
  std::ofstream(log) << json{{"id", 1},
                             {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
                             {"answer", {{"role", "assistant"}, {"content", "hello"}}}}
                            .dump()
                     << '\n';
  std::ofstream(config) << "listen: {host: 127.0.0.1, port: 18596}\n"
                           "upstreams:\n  big:\n    url: http://127.0.0.1:9/v1\n"
                           "routes:\n  - name: general\n    target: big\n";
  const auto no_config = test::run_rpu({"convert", "run", log, "--work-dir", dir + "/a", "--augment", "2"});
  EXPECT_NE(no_config.exit_code, 0);
  EXPECT_NE(no_config.err.find("--gateway-config"), std::string::npos) << no_config.err;
  const auto no_upstream =
      test::run_rpu({"convert", "run", log, "--work-dir", dir + "/b", "--augment", "2", "--gateway-config", config});
  EXPECT_NE(no_upstream.exit_code, 0);
  EXPECT_NE(no_upstream.err.find("no upstream named teacher"), std::string::npos) << no_upstream.err;
  EXPECT_FALSE(fs::exists(dir + "/b/clusters.json")) << "failed before clustering";
  // Held-out variants are asked of the same teacher, so they need it too; and a bad count.
  const auto variants_no_config =
      test::run_rpu({"convert", "run", log, "--work-dir", dir + "/c", "--held-out-variants", "2"});
  EXPECT_NE(variants_no_config.exit_code, 0);
  EXPECT_NE(variants_no_config.err.find("--held-out-variants"), std::string::npos) << variants_no_config.err;
  EXPECT_NE(variants_no_config.err.find("--gateway-config"), std::string::npos) << variants_no_config.err;
  EXPECT_FALSE(fs::exists(dir + "/c/clusters.json")) << "failed before clustering";
  const auto negative = test::run_rpu({"convert", "run", log, "--work-dir", dir + "/d", "--held-out-variants", "-1"});
  EXPECT_NE(negative.exit_code, 0);
  EXPECT_NE(negative.err.find("--held-out-variants"), std::string::npos) << negative.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rpu::convert
