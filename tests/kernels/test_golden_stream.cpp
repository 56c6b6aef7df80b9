// The fixture model (llama2.c's stories260K) on every kernel set this CPU offers: greedy token
// streams from the reference implementation's encoded prompts against its streams
// (golden/*.ids), and the prefill logits of positions 0..7 against golden/*.logits_f32.
// Built with the kernel tests into rpu_kernel_tests, the one binary the ARM64 cross-build runs
// under qemu for each CPU model in CI (scripts/cross-arm64.sh); it needs only the model layer
// (no tokenizer: the text itself is checked by `rpu run` in the script's --full mode), so the
// sysroot and the build stay small. tests/conformance/test_golden.cpp covers the same and the
// whole generation path on the native build.
// RPU_TEST_KERNELS=a,b limits the sets tested (the script tests each set on one CPU model).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/model.h"

namespace rpu {
namespace {

std::string fixture(const std::string& relative) { return std::string(RPU_FIXTURES_DIR) + "/" + relative; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const char* const kCases[] = {"greedy_noprompt_n256", "greedy_onceuponatime_n64", "greedy_onceuponatime_n256",
                              "greedy_lily_n128"};

// The sets to test: every available one, or those RPU_TEST_KERNELS names.
std::vector<const KernelSet*> tested_sets() {
  std::vector<const KernelSet*> sets;
  const char* only = std::getenv("RPU_TEST_KERNELS");
  std::string list = ",";  // ",a,b," (built by appending: GCC 12 warns on "," + std::string)
  if (only != nullptr) list.append(only).append(",");
  for (const KernelSet* set : available_kernels()) {
    std::string key = ",";
    key.append(set->name).append(",");
    if (only == nullptr || list.find(key) != std::string::npos) sets.push_back(set);
  }
  return sets;
}

struct Golden {
  std::vector<int32_t> prompt, steps;
};

Golden read_golden(const std::string& name) {
  std::istringstream in(read_file(fixture("stories260K/golden/" + name + ".ids")));
  Golden g;
  std::string kind;
  int32_t id;
  while (in >> kind >> id) (kind == "PROMPT" ? g.prompt : g.steps).push_back(id);
  return g;
}

// Which sets this CPU offers, when the caller says what it expects (the cross-build script sets
// RPU_EXPECT_KERNELS per qemu CPU model, so a wrong HWCAP reading cannot pass unnoticed).
TEST(GoldenStreamTest, KernelSetsAreTheExpectedOnes) {
  const char* expected = std::getenv("RPU_EXPECT_KERNELS");
  if (expected == nullptr) GTEST_SKIP() << "RPU_EXPECT_KERNELS not set";
  std::string names;
  for (const KernelSet* set : available_kernels()) {
    if (!names.empty()) names += ',';
    names += set->name;
  }
  EXPECT_EQ(names, expected);
}

TEST(GoldenStreamTest, EveryKernelSetReproducesTheReference) {
  const std::string model_path = fixture("stories260K/stories260K.gguf");
  for (const KernelSet* set : tested_sets()) {
    SCOPED_TRACE(set->name);
    const auto model = Model::load(model_path, set);
    for (const char* name : kCases) {
      SCOPED_TRACE(name);
      const Golden golden = read_golden(name);
      ForwardPass forward(*model, 512);
      std::span<const float> logits = forward.eval(golden.prompt);
      size_t matched = golden.prompt.size() - 1;
      for (size_t pos = golden.prompt.size() - 1; pos < golden.steps.size(); ++pos) {
        std::vector<float> sorted(logits.begin(), logits.end());
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
        const float max_abs =
            std::max(std::fabs(sorted[0]), std::fabs(*std::min_element(logits.begin(), logits.end())));
        const auto chosen = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        if (sorted[0] - sorted[1] < 1e-4f * max_abs) break;  // the fixture's documented near-tie
        ASSERT_EQ(chosen, golden.steps[pos]) << "position " << pos;
        ++matched;
        if (pos + 1 == golden.steps.size()) break;
        const int32_t next[1] = {chosen};
        logits = forward.eval(next);
      }
      EXPECT_GE(matched, std::min<size_t>(golden.steps.size(), 80));
    }
  }
}

TEST(GoldenStreamTest, PrefillLogitsMatchReference) {
  const Golden golden = read_golden("greedy_noprompt_n256");
  const std::string bytes = read_file(fixture("stories260K/golden/greedy_noprompt_n256.logits_f32"));
  std::vector<float> expected(bytes.size() / 4);
  std::memcpy(expected.data(), bytes.data(), expected.size() * 4);
  std::vector<int32_t> inputs = {golden.prompt[0]};
  for (size_t i = 0; inputs.size() < 8; ++i) inputs.push_back(golden.steps[i]);
  float max_abs = 0;
  for (float v : expected) max_abs = std::max(max_abs, std::fabs(v));
  for (const KernelSet* set : tested_sets()) {
    SCOPED_TRACE(set->name);
    const auto model = Model::load(fixture("stories260K/stories260K.gguf"), set);
    ForwardPass forward(*model, 64);
    const std::span<const float> all = forward.eval(inputs, true);
    ASSERT_EQ(all.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(all[i], expected[i], 1e-4f * max_abs) << "logit " << i;
  }
}

}  // namespace
}  // namespace rpu
