// Continuous batching puts a sequence's tokens into batches of varying size and position;
// greedy output must not depend on its neighbours. So every kernel set must compute each
// token's row of a matmul, and each query's attention, bit-identically whatever else shares
// the call. (Tolerances elsewhere compare with exact math; here the oracle is the same
// kernel run on the token alone, and the comparison is exact.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "kernels/kv_rows.h"
#include "kernels/quant.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"

namespace rpu {
namespace {

std::vector<float> random_values(size_t n, uint64_t seed, float scale) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * static_cast<float>(2.0 * rng.uniform() - 1.0);
  return v;
}

std::vector<float> run_matmul(const KernelSet& set, const WeightMatrix& w, const float* x, int64_t n_tokens) {
  QuantizedInput xq;
  if (set.wants_quantized_input(w)) set.quantize_input(x, n_tokens, w.view.cols, xq);
  std::vector<float> y(static_cast<size_t>(n_tokens * w.view.rows));
  set.matmul(w, x, xq, n_tokens, y.data(), 0, w.view.rows);
  return y;
}

// Token counts 2..17 and rows of 1 to 5 groups of 16 (a ragged last one): every tile width and
// sub-tile count of the AVX-512 decode-batch tile (2-16 tokens, the last 4-token sub-tile padded)
// and the prefill tiles beyond it.
TEST(BatchInvarianceTest, MatmulRowOfATokenDoesNotDependOnTheBatch) {
  const DType types[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q5_0,
                         DType::Q4_1, DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  const int64_t cols = 512, max_tokens = 17;
  const auto x = random_values(static_cast<size_t>(max_tokens * cols), 7, 1.0f);
  for (const KernelSet* set : available_kernels()) {
    for (DType type : types) {
      for (int64_t rows : {16, 37, 70}) {
        const auto values = random_values(static_cast<size_t>(rows * cols), 11, 0.5f);
        const uint64_t row_bytes = dtype_row_bytes(type, static_cast<uint64_t>(cols));
        std::vector<uint8_t> bytes(row_bytes * rows);
        for (int64_t r = 0; r < rows; ++r) quantize_row(type, values.data() + r * cols, bytes.data() + r * row_bytes, cols);
        WeightMatrix w;
        set->pack(MatrixView{type, bytes.data(), rows, cols, row_bytes}, w);
        for (int64_t n_tokens : {2, 3, 4, 5, 7, 8, 9, 11, 12, 15, 16, 17}) {
          SCOPED_TRACE(std::string(set->name) + " " + dtype_info(type).name + " rows " + std::to_string(rows) +
                       " tokens " + std::to_string(n_tokens));
          const auto batched = run_matmul(*set, w, x.data(), n_tokens);
          for (int64_t t = 0; t < n_tokens; ++t) {
            const auto alone = run_matmul(*set, w, x.data() + t * cols, 1);
            ASSERT_EQ(0, std::memcmp(alone.data(), batched.data() + t * rows, rows * sizeof(float))) << "token " << t;
          }
        }
      }
    }
  }
}

// A matrix over 512 KiB packed (avx512's kCacheResidentBytes): its decode batches take the
// DRAM-streaming panel passes (4-token passes, a padded last pass of 2-3 tokens, or a last
// token alone) instead of the tiles the small ones above take; each token's row must still
// equal the token alone.
TEST(BatchInvarianceTest, StreamedMatmulRowOfATokenDoesNotDependOnTheBatch) {
  const int64_t rows = 1037, cols = 1024, max_tokens = 16;
  const auto x = random_values(static_cast<size_t>(max_tokens * cols), 17, 1.0f);
  const auto values = random_values(static_cast<size_t>(rows * cols), 19, 0.5f);
  for (const KernelSet* set : available_kernels()) {
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q5_0}) {
      const uint64_t row_bytes = dtype_row_bytes(type, static_cast<uint64_t>(cols));
      std::vector<uint8_t> bytes(row_bytes * rows);
      for (int64_t r = 0; r < rows; ++r) quantize_row(type, values.data() + r * cols, bytes.data() + r * row_bytes, cols);
      WeightMatrix w;
      set->pack(MatrixView{type, bytes.data(), rows, cols, row_bytes}, w);
      if (w.packed) {
        EXPECT_GT(w.packed_bytes, size_t{512} << 10);  // large enough to be streamed
      }
      for (int64_t n_tokens : {2, 3, 5, 7, 9, 16}) {
        SCOPED_TRACE(std::string(set->name) + " " + dtype_info(type).name + " tokens " + std::to_string(n_tokens));
        const auto batched = run_matmul(*set, w, x.data(), n_tokens);
        for (int64_t t = 0; t < n_tokens; ++t) {
          const auto alone = run_matmul(*set, w, x.data() + t * cols, 1);
          ASSERT_EQ(0, std::memcmp(alone.data(), batched.data() + t * rows, rows * sizeof(float))) << "token " << t;
        }
      }
    }
  }
}

// Also with a sliding window and a soft cap, and over paged Q8_0 rows (a page boundary inside
// the block): a query's lanes see the same positions whatever block it is in.
TEST(BatchInvarianceTest, BlockAttentionOfAQueryDoesNotDependOnItsBlock) {
  const int64_t head_dim = 64, stride = 128, n_pos = 70;
  const auto k = random_values(static_cast<size_t>(n_pos * stride), 3, 1.0f);
  const auto v = random_values(static_cast<size_t>(n_pos * stride), 4, 1.0f);
  const auto q = random_values(static_cast<size_t>(16 * head_dim), 5, 1.0f);
  // The same values as Q8_0 rows in pages of 8 positions, stored in reverse page order.
  const int64_t row_bytes = kv_row_bytes(DType::Q8_0, stride), page = 8, n_pages = (n_pos + page - 1) / page;
  std::vector<uint8_t> q8(static_cast<size_t>(n_pages * page * row_bytes));
  std::vector<int32_t> pages(static_cast<size_t>(n_pages));
  for (int64_t i = 0; i < n_pages; ++i) pages[static_cast<size_t>(i)] = static_cast<int32_t>(n_pages - 1 - i);
  for (int64_t p = 0; p < n_pos; ++p) {
    const int64_t at = pages[static_cast<size_t>(p / page)] * page + p % page;
    quantize_row(DType::Q8_0, k.data() + p * stride, q8.data() + at * row_bytes, stride);
  }
  KvRows paged;
  paged.k = paged.v = q8.data();
  paged.k_type = paged.v_type = DType::Q8_0;
  paged.k_row_bytes = paged.v_row_bytes = row_bytes;
  paged.offset = 64;
  paged.pages = pages.data();
  paged.page_size = page;
  paged.k_page_bytes = paged.v_page_bytes = page * row_bytes;
  AttentionParams plain;
  plain.head_dim = head_dim;
  plain.scale = 0.125f;
  AttentionParams local = plain;
  local.window = 9;
  local.softcap = 1.5f;
  const KvRows f32 = f32_rows(k.data(), v.data(), stride, 0);
  for (const KernelSet* set : available_kernels()) {
    if (set->attend_block == nullptr) continue;
    for (auto [rows, params] : {std::pair{&f32, &plain}, {&f32, &local}, {&paged, &local}}) {
      SCOPED_TRACE(std::string(set->name) + (params->window > 0 ? " window+softcap" : "") +
                   (rows->pages != nullptr ? " paged q8_0" : ""));
      // Queries at positions 50..65 as one block, versus each query in a block of its own
      // and in blocks starting at other offsets.
      std::vector<float> whole(16 * head_dim);
      set->attend_block(q.data(), head_dim, 16, 1, *rows, 50, *params, whole.data(), head_dim);
      for (int64_t j = 0; j < 16; ++j) {
        std::vector<float> alone(head_dim);
        set->attend_block(q.data() + j * head_dim, head_dim, 1, 1, *rows, 50 + j, *params, alone.data(), head_dim);
        ASSERT_EQ(0, std::memcmp(alone.data(), whole.data() + j * head_dim, head_dim * sizeof(float))) << "query " << j;
      }
      std::vector<float> tail(5 * head_dim);
      set->attend_block(q.data() + 11 * head_dim, head_dim, 5, 1, *rows, 61, *params, tail.data(), head_dim);
      ASSERT_EQ(0, std::memcmp(tail.data(), whole.data() + 11 * head_dim, 5 * head_dim * sizeof(float)));
    }
  }
}

// A small qwen3 (q/k norms, GQA 8 over 2 heads, head_dim 32) with `type` matrices.
SynthSpec small_qwen3_spec(DType type) {
  SynthSpec spec;
  spec.arch = "qwen3";
  spec.qk_norm = true;
  spec.head_dim = 32;
  spec.n_embd = 256;
  spec.n_head = 8;
  spec.n_head_kv = 2;
  spec.n_ff = 256;
  spec.matrix_type = type;
  return spec;
}

// The same as GGUF bytes.
std::vector<uint8_t> small_qwen3(DType type) { return synth_model(small_qwen3_spec(type)).to_bytes(); }

// Whole model: three sequences advanced together — prompt chunks beside decode steps, of
// different lengths, starting at different positions — give bit-identical logits to each
// sequence run on its own, on every kernel set (qwen3 with q/k norms, Q4_K and Q8_0 weights).
TEST(BatchInvarianceTest, SequencesInOneStepMatchEachSequenceAlone) {
  const auto bytes = small_qwen3(DType::Q4_K);
  for (const KernelSet* set : available_kernels()) {
    SCOPED_TRACE(set->name);
    auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "synth"), set);
    const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 33, 70, 71, 72, 200, 3, 4, 5}, {1, 250}, {1, 17, 18, 19, 20}};
    const int steps = 4;  // decode steps after each prompt
    // Alone: prompt in one chunk, then one token at a time (each feeds back token 7 + step).
    std::vector<std::vector<float>> alone;
    for (const auto& prompt : prompts) {
      BatchForward f(*model, 64, 1);
      SequenceChunk c{0, prompt, ChunkOutput::kLastLogits, true};
      f.eval({&c, 1});
      alone.emplace_back(f.logits().begin(), f.logits().end());
      for (int s = 0; s < steps; ++s) {
        const int32_t token = 7 + s;
        SequenceChunk d{0, {&token, 1}, ChunkOutput::kLastLogits, false};
        f.eval({&d, 1});
        alone.back().insert(alone.back().end(), f.logits().begin(), f.logits().end());
      }
    }
    // Together: the long prompt arrives in chunks of 4 while the others already decode.
    ThreadPool pool(2);
    BatchForward f(*model, 64, 3, &pool);
    std::vector<std::vector<float>> together(3);
    std::vector<size_t> done(3, 0);  // prompt tokens evaluated
    std::vector<int> decoded(3, 0);
    std::vector<int32_t> feed(3);
    while (decoded[0] < steps || decoded[1] < steps || decoded[2] < steps) {
      std::vector<SequenceChunk> chunks;
      std::vector<int> who;
      for (int s = 0; s < 3; ++s) {
        const auto& p = prompts[static_cast<size_t>(s)];
        if (done[static_cast<size_t>(s)] < p.size()) {
          const size_t n = std::min<size_t>(4, p.size() - done[static_cast<size_t>(s)]);
          const bool last = done[static_cast<size_t>(s)] + n == p.size();
          chunks.push_back({s, std::span<const int32_t>(p).subspan(done[static_cast<size_t>(s)], n),
                            last ? ChunkOutput::kLastLogits : ChunkOutput::kNone, true});
          done[static_cast<size_t>(s)] += n;
          if (last) who.push_back(s);
        } else if (decoded[static_cast<size_t>(s)] < steps) {
          feed[static_cast<size_t>(s)] = 7 + decoded[static_cast<size_t>(s)]++;
          chunks.push_back({s, {&feed[static_cast<size_t>(s)], 1}, ChunkOutput::kLastLogits, false});
          who.push_back(s);
        }
      }
      f.eval(chunks);
      const size_t n_vocab = static_cast<size_t>(model->config().n_vocab);
      for (size_t i = 0; i < who.size(); ++i) {
        const auto row = f.logits().subspan(i * n_vocab, n_vocab);
        together[static_cast<size_t>(who[i])].insert(together[static_cast<size_t>(who[i])].end(), row.begin(), row.end());
      }
    }
    for (size_t s = 0; s < 3; ++s) {
      ASSERT_EQ(together[s].size(), alone[s].size());
      EXPECT_EQ(0, std::memcmp(together[s].data(), alone[s].data(), alone[s].size() * sizeof(float))) << "sequence " << s;
    }
  }
}

// A decode step split into lanes (one group of whole sequences per thread, model/forward.h)
// gives every sequence the logits the unsplit step gives, bit for bit: five sequences (lanes of
// two and three) decoding from one shared prompt prefix (its last page copied on first write),
// over an f32 and a q8_0 cache.
TEST(BatchInvarianceTest, DecodeLanesMatchTheUnsplitStep) {
  const auto bytes = small_qwen3(DType::Q8_0);
  const std::vector<int32_t> prompt = {1, 5, 9, 33, 70, 71, 72, 200, 3, 4, 5};
  constexpr int kSeqs = 5, kSteps = 6;
  for (const KernelSet* set : available_kernels()) {
    SCOPED_TRACE(set->name);
    auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "synth"), set);
    for (KVCacheTypes types : {KVCacheTypes{}, KVCacheTypes{DType::Q8_0, DType::Q8_0}}) {
      auto run = [&](BatchForward::LaneSplit split) {
        ThreadPool pool(2);
        BatchForward f(*model, 64, kSeqs, &pool, types);
        f.set_lane_split(split);
        const SequenceChunk first{0, prompt, ChunkOutput::kNone, true};
        f.eval({&first, 1});
        for (int s = 1; s < kSeqs; ++s) f.share_prefix(0, s, static_cast<int>(prompt.size()));
        std::vector<float> logits;
        std::vector<int32_t> feed(kSeqs);
        for (int step = 0; step < kSteps; ++step) {
          std::vector<SequenceChunk> chunks;
          for (int s = 0; s < kSeqs; ++s) {
            feed[static_cast<size_t>(s)] = 7 + 13 * s + step;
            chunks.push_back({s, {&feed[static_cast<size_t>(s)], 1}, ChunkOutput::kLastLogits, false});
          }
          f.eval(chunks);
          logits.insert(logits.end(), f.logits().begin(), f.logits().end());
        }
        EXPECT_EQ(f.n_past(kSeqs - 1), static_cast<int>(prompt.size()) + kSteps);
        return logits;
      };
      const std::vector<float> split = run(BatchForward::LaneSplit::kAlways);
      const std::vector<float> whole = run(BatchForward::LaneSplit::kNever);
      ASSERT_EQ(split.size(), whole.size());
      ASSERT_EQ(split.size(), static_cast<size_t>(kSeqs * kSteps * model->config().n_vocab));
      EXPECT_EQ(0, std::memcmp(split.data(), whole.data(), split.size() * sizeof(float))) << kv_cache_type_name(types.k);
    }
  }
}

// A generated token that sees more than BatchForward::kAttentionSpan positions attends in spans
// (attend_span) joined after: its logits are still bit for bit the same alone (no pool) and
// decoded beside another sequence (pool of 2), and within the fast path's tolerance of the
// reference kernels', which attend over the whole context in one piece.
TEST(BatchInvarianceTest, LongContextSpansMatchAloneAndTheReference) {
  // F32 matrices: no int8 rounding of activations, so the paths differ by summation order only.
  SynthSpec spec = small_qwen3_spec(DType::F32);
  spec.n_ctx = 2048;
  const auto bytes = synth_model(spec).to_bytes();
  const int n_ctx = 1200, steps = 3;
  std::vector<int32_t> prompt(static_cast<size_t>(2 * BatchForward::kAttentionSpan + 40));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(1 + (37 * i + 11) % 290);
  const std::vector<int32_t> other = {1, 5, 9, 33, 70, 71, 72, 200, 3, 4, 5};
  auto decode_alone = [&](const Model& model) {
    BatchForward f(model, n_ctx, 1);
    const SequenceChunk first{0, prompt, ChunkOutput::kNone, true};
    f.eval({&first, 1});
    std::vector<float> logits;
    for (int step = 0; step < steps; ++step) {
      const int32_t token = 7 + step;
      const SequenceChunk d{0, {&token, 1}, ChunkOutput::kLastLogits, false};
      f.eval({&d, 1});
      logits.insert(logits.end(), f.logits().begin(), f.logits().end());
    }
    return logits;
  };
  auto reference = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "synth"), &reference_kernels());
  const std::vector<float> expected = decode_alone(*reference);
  double max_abs = 0;
  for (float v : expected) max_abs = std::max(max_abs, static_cast<double>(std::fabs(v)));
  for (const KernelSet* set : available_kernels()) {
    SCOPED_TRACE(set->name);
    auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "synth"), set);
    const std::vector<float> alone = decode_alone(*model);
    ThreadPool pool(2);
    BatchForward f(*model, n_ctx, 2, &pool);
    const SequenceChunk prompts[] = {{0, prompt, ChunkOutput::kNone, true}, {1, other, ChunkOutput::kNone, true}};
    f.eval(prompts);
    std::vector<float> together;
    const size_t n_vocab = static_cast<size_t>(model->config().n_vocab);
    for (int step = 0; step < steps; ++step) {
      const int32_t feed[] = {7 + step, 50 + step};
      const SequenceChunk chunks[] = {{0, {&feed[0], 1}, ChunkOutput::kLastLogits, false},
                                      {1, {&feed[1], 1}, ChunkOutput::kLastLogits, false}};
      f.eval(chunks);
      together.insert(together.end(), f.logits().begin(), f.logits().begin() + static_cast<std::ptrdiff_t>(n_vocab));
    }
    ASSERT_EQ(together.size(), alone.size());
    EXPECT_EQ(0, std::memcmp(together.data(), alone.data(), alone.size() * sizeof(float)));
    double worst = 0;
    for (size_t i = 0; i < alone.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(alone[i]) - expected[i]));
    EXPECT_LE(worst, 1e-4 * max_abs);
  }
}

// RPU_DECODE_LANES forces lanes on (1) or off (0); anything else is refused by name when the
// forward pass is made, not silently read as one of them.
TEST(BatchInvarianceTest, DecodeLanesVariableTakesOnlyZeroOrOne) {
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(small_qwen3(DType::Q8_0)), "synth"));
  for (const char* value : {"0", "1", ""}) {
    ASSERT_EQ(0, setenv("RPU_DECODE_LANES", value, 1));
    EXPECT_NO_THROW(BatchForward(*model, 16, 2)) << value;
  }
  ASSERT_EQ(0, setenv("RPU_DECODE_LANES", "yes", 1));
  try {
    BatchForward f(*model, 16, 2);
    ADD_FAILURE() << "RPU_DECODE_LANES=yes was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RPU_DECODE_LANES must be 0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'yes'"), std::string::npos) << e.what();
  }
  unsetenv("RPU_DECODE_LANES");
}

}  // namespace
}  // namespace rpu
