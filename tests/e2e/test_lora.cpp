// LoRA adapters: GGUF round trip, applying an adapter at inference equals the merged model,
// an adapter changes behaviour, and bad adapters are refused with a clear message.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "model/forward.h"
#include "model/lora.h"
#include "model/model.h"
#include "test_util.h"

namespace rpu {
namespace {

std::map<std::string, LoraPair> random_pairs(const Model& model, int rank, uint64_t seed) {
  Rng rng(seed);
  std::map<std::string, LoraPair> pairs;
  for (const auto& [name, matrix] : named_matrices(model)) {
    if (name.find("attn_q") == std::string::npos && name.find("ffn_down") == std::string::npos) continue;
    LoraPair p;
    p.rank = rank;
    p.in = matrix->view.cols;
    p.out = matrix->view.rows;
    p.a.resize(static_cast<size_t>(rank * p.in));
    p.b.resize(static_cast<size_t>(p.out * rank));
    for (float& x : p.a) x = static_cast<float>(rng.uniform() - 0.5);
    for (float& x : p.b) x = static_cast<float>(rng.uniform() - 0.5);
    pairs.emplace(name, std::move(p));
  }
  return pairs;
}

std::vector<float> logits_of(const Model& model, const LoraAdapter* lora, const std::vector<int32_t>& tokens) {
  ForwardPass f(model, 64);
  f.set_lora(lora);
  const auto span = f.eval(tokens, true);
  return {span.begin(), span.end()};
}

TEST(LoraTest, AppliedAdapterEqualsMergedModelAndChangesTheOutput) {
  const std::string base_path = test::fixture("stories260K/stories260K.gguf");
  const auto model = Model::load(base_path);
  const auto pairs = random_pairs(*model, 4, 7);
  const std::string adapter_path = test::temp_path("adapter.gguf");
  write_lora_gguf(adapter_path, "llama", 8.0f, pairs);
  const auto adapter = LoraAdapter::load(adapter_path, *model);
  ASSERT_EQ(adapter->pairs().size(), pairs.size());
  for (const auto& [name, pair] : pairs) {
    const LoraPair* loaded = adapter->find(name);
    ASSERT_NE(loaded, nullptr) << name;
    EXPECT_EQ(loaded->a, pair.a);
    EXPECT_EQ(loaded->b, pair.b);
  }
  EXPECT_FLOAT_EQ(adapter->scale(*adapter->find(pairs.begin()->first)), 2.0f);

  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 5, 9};
  const auto base = logits_of(*model, nullptr, tokens);
  const auto applied = logits_of(*model, adapter.get(), tokens);
  const std::string merged_path = test::temp_path("merged.gguf");
  write_merged_model(merged_path, *model, *adapter);
  const auto merged_model = Model::load(merged_path);
  const auto merged = logits_of(*merged_model, nullptr, tokens);
  double max_logit = 0, max_diff = 0, max_change = 0;
  for (size_t i = 0; i < applied.size(); ++i) {
    max_logit = std::max(max_logit, std::fabs(static_cast<double>(applied[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(applied[i]) - merged[i]));
    max_change = std::max(max_change, std::fabs(static_cast<double>(applied[i]) - base[i]));
  }
  // (x A^T) B^T vs x (B A)^T: the same sums in another order, f32 rounding only.
  EXPECT_LT(max_diff, 1e-4 * max_logit);
  EXPECT_GT(max_change, 0.1 * max_logit);  // the adapter matters
}

// Decode lanes (model/forward.h) run each group of sequences through the layers on their own
// BatchForward: an adapter set before the lanes exist, or after (set_lora reaches them), must
// apply there too. Lanes and the unsplit step give the same logits bit for bit, and the
// adapter changes them.
TEST(LoraTest, AdapterAppliesInsideDecodeLanes) {
  const auto model = Model::load(test::fixture("stories260K/stories260K.gguf"));
  const std::string adapter_path = test::temp_path("lanes-adapter.gguf");
  write_lora_gguf(adapter_path, "llama", 8.0f, random_pairs(*model, 4, 11));
  const auto adapter = LoraAdapter::load(adapter_path, *model);
  // Steps 0-2 without the adapter, then with it (set after the lanes were made).
  auto decode = [&](BatchForward::LaneSplit split, bool adapter_from_start) {
    ThreadPool pool(2);
    BatchForward f(*model, 64, 3, &pool);
    f.set_lane_split(split);
    if (adapter_from_start) f.set_lora(adapter.get());
    const std::vector<int32_t> prompt = {1, 403, 407, 261};
    const SequenceChunk first{0, prompt, ChunkOutput::kNone, true};
    f.eval({&first, 1});
    for (int s = 1; s < 3; ++s) f.share_prefix(0, s, static_cast<int>(prompt.size()));
    std::vector<float> logits;
    int32_t feed[3];
    for (int step = 0; step < 6; ++step) {
      if (step == 3) f.set_lora(adapter.get());
      std::vector<SequenceChunk> chunks;
      for (int s = 0; s < 3; ++s) {
        feed[s] = 300 + 7 * s + step;
        chunks.push_back({s, {&feed[s], 1}, ChunkOutput::kLastLogits, false});
      }
      f.eval(chunks);
      logits.insert(logits.end(), f.logits().begin(), f.logits().end());
    }
    return logits;
  };
  for (bool from_start : {true, false}) {
    const auto lanes = decode(BatchForward::LaneSplit::kAlways, from_start);
    const auto whole = decode(BatchForward::LaneSplit::kNever, from_start);
    EXPECT_EQ(lanes, whole) << (from_start ? "adapter from the start" : "adapter set after 3 steps");
  }
  const auto with = decode(BatchForward::LaneSplit::kAlways, true);
  const auto after = decode(BatchForward::LaneSplit::kAlways, false);
  const size_t step_rows = 3 * static_cast<size_t>(model->config().n_vocab);
  EXPECT_NE(std::vector<float>(with.begin(), with.begin() + 3 * step_rows),
            std::vector<float>(after.begin(), after.begin() + 3 * step_rows));  // the adapter matters
}

TEST(LoraTest, CommandLineRunWithAdapterEqualsTheExportedMergedModel) {
  const std::string base_path = test::fixture("stories260K/stories260K.gguf");
  const auto model = Model::load(base_path);
  const std::string adapter_path = test::temp_path("cli-adapter.gguf");
  write_lora_gguf(adapter_path, "llama", 4.0f, random_pairs(*model, 2, 11));
  const std::string merged_path = test::temp_path("cli-merged.gguf");
  const auto exported = test::run_rpu({"export", base_path, merged_path, "--merge", adapter_path});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const auto with_adapter = test::run_rpu({"run", base_path, "--lora", adapter_path, "-p", "Once upon a time", "-n", "40", "--temp", "0"});
  const auto merged = test::run_rpu({"run", merged_path, "-p", "Once upon a time", "-n", "40", "--temp", "0"});
  const auto plain = test::run_rpu({"run", base_path, "-p", "Once upon a time", "-n", "40", "--temp", "0"});
  ASSERT_EQ(with_adapter.exit_code, 0) << with_adapter.err;
  EXPECT_EQ(with_adapter.out, merged.out);
  EXPECT_NE(with_adapter.out, plain.out);
}

TEST(LoraTest, RefusesAdaptersThatDoNotFit) {
  const auto model = Model::load(test::fixture("stories260K/stories260K.gguf"));
  auto pairs = random_pairs(*model, 2, 3);
  const std::string wrong_arch = test::temp_path("wrong-arch.gguf");
  write_lora_gguf(wrong_arch, "qwen2", 1.0f, pairs);
  EXPECT_THROW(LoraAdapter::load(wrong_arch, *model), Error);
  auto bad_shape = pairs;
  bad_shape.begin()->second.in += 1;
  bad_shape.begin()->second.a.resize(static_cast<size_t>(bad_shape.begin()->second.rank * bad_shape.begin()->second.in));
  const std::string shape_path = test::temp_path("bad-shape.gguf");
  write_lora_gguf(shape_path, "llama", 1.0f, bad_shape);
  try {
    LoraAdapter::load(shape_path, *model);
    FAIL() << "a mis-shaped adapter was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad_shape.begin()->first), std::string::npos) << e.what();
  }
  std::map<std::string, LoraPair> unknown;
  unknown["blk.99.attn_q.weight"] = pairs.begin()->second;
  const std::string unknown_path = test::temp_path("unknown.gguf");
  write_lora_gguf(unknown_path, "llama", 1.0f, unknown);
  EXPECT_THROW(LoraAdapter::load(unknown_path, *model), Error);
  const auto cli = test::run_rpu({"run", test::fixture("stories260K/stories260K.gguf"), "--lora", wrong_arch, "-p", "x"});
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.err.find("architecture"), std::string::npos) << cli.err;
}

}  // namespace
}  // namespace rpu
