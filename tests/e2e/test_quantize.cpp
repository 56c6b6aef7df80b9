// rpu quantize as a user runs it, on the real fixture model: F16 is exact where it should be
// (every converted value is the f16 rounding of the original, everything else is copied
// byte for byte), Q8_0 logits stay within Q8_0's error of the F32 model's, the per-tensor
// types follow the plan, and bad input gives one line and a non-zero exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "kernels/quant.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_util.h"

namespace rpu {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");

std::string quantize(const std::string& type) {
  const std::string out = test::temp_path("stories260K-" + type + ".gguf");
  const auto r = test::run_rpu({"quantize", kModel, out, type, "-t", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Not a terminal: no progress bar, just the summary line.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("quantized"), std::string::npos) << r.err;
  return out;
}

std::vector<float> all_logits(const Model& model, const std::vector<int32_t>& tokens) {
  ForwardPass forward(model, static_cast<int>(tokens.size()));
  const auto logits = forward.eval(tokens, /*all_logits=*/true);
  return {logits.begin(), logits.end()};
}

TEST(QuantizeTest, F16IsTheExactRoundingOfEveryMatrix) {
  const std::string out = quantize("F16");
  const GgufFile in = GgufFile::open(kModel);
  const GgufFile f16 = GgufFile::open(out);
  ASSERT_EQ(f16.tensors().size(), in.tensors().size());
  for (size_t i = 0; i < in.tensors().size(); ++i) {
    const GgufTensorInfo& a = in.tensors()[i];
    const GgufTensorInfo& b = f16.tensors()[i];
    ASSERT_EQ(a.name, b.name);
    ASSERT_EQ(a.shape, b.shape);
    if (a.shape.size() == 1) {  // norms stay F32, byte for byte
      EXPECT_EQ(b.type, DType::F32) << a.name;
      EXPECT_EQ(std::memcmp(a.data, b.data, a.n_bytes), 0) << a.name;
      continue;
    }
    ASSERT_EQ(b.type, DType::F16) << a.name;
    const auto* src = reinterpret_cast<const float*>(a.data);
    const auto* dst = reinterpret_cast<const uint16_t*>(b.data);
    for (uint64_t k = 0; k < a.n_elements; ++k) ASSERT_EQ(dst[k], f32_to_f16(src[k])) << a.name << " element " << k;
  }
  // Metadata is copied, with the file type set (llama_ftype 1 = mostly F16).
  EXPECT_EQ(f16.metadata().size(), in.metadata().size() + 1);
  EXPECT_EQ(f16.get_uint("general.file_type", 99), 1u);
  EXPECT_EQ(f16.get_string("tokenizer.ggml.model"), "llama");

  // F16 -> F32 is lossless: the values come back as the f16 values exactly.
  const std::string back = test::temp_path("stories260K-F16-F32.gguf");
  const auto r = test::run_rpu({"quantize", out, back, "F32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const GgufFile f32 = GgufFile::open(back);
  const GgufTensorInfo* t = f32.find_tensor("blk.2.ffn_up.weight");
  const GgufTensorInfo* h = f16.find_tensor("blk.2.ffn_up.weight");
  ASSERT_EQ(t->type, DType::F32);
  const auto* v = reinterpret_cast<const float*>(t->data);
  const auto* hv = reinterpret_cast<const uint16_t*>(h->data);
  for (uint64_t k = 0; k < t->n_elements; ++k) ASSERT_EQ(v[k], f16_to_f32(hv[k]));
}

// Q8_0 stores each weight within half a step (d/2, d = max|block|/127) of its value. Every
// matrix of this model has rms relative error of roughly 1/(127*sqrt(12)) * max/rms, about
// 0.5% for these weights; through 5 layers and the head the logits move by a few 1e-3 of
// their scale. The bounds below are 4-10x what that predicts, and far below what a wrong
// layout (errors of order 1) would give.
TEST(QuantizeTest, Q8_0LogitsStayCloseToF32) {
  const std::string out = quantize("Q8_0");
  const auto f32 = Model::load(kModel);
  const auto q8 = Model::load(out);
  // Types: ffn_down rows of 172 values fit no 32-block and fall back to F16.
  for (const auto& t : q8->file().tensors()) {
    const DType expected = t.shape.size() == 1 ? DType::F32 : t.shape[0] == 172 ? DType::F16 : DType::Q8_0;
    EXPECT_EQ(t.type, expected) << t.name;
  }
  EXPECT_EQ(q8->file().get_uint("general.file_type", 0), 7u);
  EXPECT_EQ(q8->file().get_uint("general.quantization_version", 0), 2u);

  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 300, 87, 22, 400, 270, 290, 345};
  const auto a = all_logits(*f32, tokens);
  const auto b = all_logits(*q8, tokens);
  ASSERT_EQ(a.size(), b.size());
  const size_t n_vocab = a.size() / tokens.size();
  double max_abs = 0, max_diff = 0, sum_sq = 0, diff_sq = 0;
  int argmax_agree = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const float* x = a.data() + t * n_vocab;
    const float* y = b.data() + t * n_vocab;
    for (size_t i = 0; i < n_vocab; ++i) {
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(x[i])));
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(x[i] - y[i])));
      sum_sq += static_cast<double>(x[i]) * x[i];
      diff_sq += static_cast<double>(x[i] - y[i]) * (x[i] - y[i]);
    }
    argmax_agree += std::max_element(x, x + n_vocab) - x == std::max_element(y, y + n_vocab) - y;
  }
  EXPECT_GT(max_diff, 0.0);  // it really was quantized
  EXPECT_LT(max_diff, 0.03 * max_abs);
  EXPECT_LT(std::sqrt(diff_sq / sum_sq), 0.02);
  EXPECT_GE(argmax_agree, static_cast<int>(tokens.size()) - 1);
}

TEST(QuantizeTest, KQuantMixFallsBackOnTheFixturesShapes) {
  // 64-wide rows fit no 256-block: Q4_K -> Q5_0, Q6_K -> Q8_0; 172-wide rows: F16.
  const std::string out = quantize("Q4_K_M");
  const GgufFile f = GgufFile::open(out);
  EXPECT_EQ(f.get_uint("general.file_type", 0), 15u);
  EXPECT_EQ(f.find_tensor("output.weight")->type, DType::Q8_0);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->type, DType::Q5_0);
  // 5 layers: "more bits" are layer 4 (the last eighth) and layer 2 ((2 - 0) % 3 == 2).
  EXPECT_EQ(f.find_tensor("blk.2.attn_v.weight")->type, DType::Q8_0);
  EXPECT_EQ(f.find_tensor("blk.4.attn_v.weight")->type, DType::Q8_0);
  EXPECT_EQ(f.find_tensor("blk.0.attn_v.weight")->type, DType::Q5_0);
  EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, DType::F16);
  EXPECT_EQ(f.find_tensor("blk.3.ffn_gate.weight")->type, DType::Q5_0);
  // And the model still runs.
  const auto model = Model::load(out);
  ForwardPass forward(*model, 8);
  for (float x : forward.eval(std::vector<int32_t>{1, 403, 407})) ASSERT_TRUE(std::isfinite(x));
}

TEST(QuantizeTest, RequantizingAQuantizedFileWorks) {
  const std::string q8 = quantize("Q8_0");
  const std::string out = test::temp_path("stories260K-Q8-Q4_0.gguf");
  const auto r = test::run_rpu({"quantize", q8, out, "q4_0"});  // type names are case-insensitive
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const GgufFile f = GgufFile::open(out);
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, DType::Q4_0);
  EXPECT_EQ(f.find_tensor("output.weight")->type, DType::Q8_0);  // head: Q6_K does not fit 64
  EXPECT_EQ(f.get_uint("general.file_type", 0), 2u);
}

void expect_clean_failure(const std::vector<std::string>& args, int code, const std::string& needle) {
  const auto r = test::run_rpu(args);
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(QuantizeTest, BadInputsGiveOneClearLine) {
  const std::string out = test::temp_path("never.gguf");
  expect_clean_failure({"quantize", kModel, out, "Q9_9"}, 2, "unknown type 'Q9_9'");
  expect_clean_failure({"quantize", "/nonexistent/in.gguf", out, "Q8_0"}, 2, "/nonexistent/in.gguf");
  expect_clean_failure({"quantize", kModel, "/nonexistent-dir/out.gguf", "Q8_0"}, 1, "directory '/nonexistent-dir' does not exist");
  expect_clean_failure({"quantize", kModel, out}, 2, "type");
  expect_clean_failure({"quantize", kModel, out, "Q8_0", "--threads", "0"}, 2, "--threads");
  const std::string garbage = test::temp_path("garbage-in.gguf");
  test::write_file(garbage, "not a model at all");
  expect_clean_failure({"quantize", garbage, out, "Q8_0"}, 1, "not a GGUF file");
}

TEST(SynthCliTest, WritesAPresetWithTheRequestedMix) {
  const std::string out = test::temp_path("synth-smollm2.gguf");
  const auto r = test::run_rpu({"synth", "--like", "smollm2-135m", "--type", "Q4_K_M", "--n-layer", "1", "-t", "2", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  const GgufFile f = GgufFile::open(out);
  EXPECT_EQ(f.get_uint("general.file_type", 0), 15u);
  EXPECT_EQ(f.get_uint("llama.block_count", 0), 1u);
  EXPECT_EQ(f.get_uint("llama.embedding_length", 0), 576u);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->type, DType::Q8_0);
  EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, DType::Q6_K);
  // The same seed writes the same bytes.
  const std::string again = test::temp_path("synth-smollm2-again.gguf");
  ASSERT_EQ(test::run_rpu({"synth", "--like", "smollm2-135m", "--type", "Q4_K_M", "--n-layer", "1", "-t", "1", again}).exit_code, 0);
  EXPECT_EQ(test::read_file(out), test::read_file(again));
}

TEST(SynthCliTest, BadInputsGiveOneClearLine) {
  const std::string out = test::temp_path("never-synth.gguf");
  expect_clean_failure({"synth", "--like", "gpt-5", "--type", "Q8_0", out}, 2, "unknown preset 'gpt-5'");
  expect_clean_failure({"synth", "--like", "qwen3-0.6b", "--type", "Q3_X", out}, 2, "unknown type 'Q3_X'");
  expect_clean_failure({"synth", "--type", "Q8_0", out}, 2, "--like");
  expect_clean_failure({"synth", "--like", "qwen3-0.6b", "--type", "Q8_0", "/nonexistent-dir/m.gguf"}, 1,
                       "directory '/nonexistent-dir' does not exist");
}

}  // namespace
}  // namespace rpu
