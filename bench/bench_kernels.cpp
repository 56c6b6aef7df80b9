// One kernel matmul, one thread, no model around it: the prompt-processing tiles and the decode
// paths of every integer format, on the shapes of the benchmark models' matrices, as GMAC/s
// (multiply-adds of the weight matrix per second) beside the set's int8 peak. It isolates the
// kernels from the pool, attention and the element-wise steps that `rpu bench --profile` mixes
// in, so two builds can be compared on one matrix (run them alternately; this host's speed
// drifts by up to 30% between minutes):
//   build/bench/bench_kernels --benchmark_filter='Q5_0/4864x896/512' --benchmark_repetitions=3
// Stream/... cases instead read every byte from DRAM through the thread pool (see run_stream).
// Arguments: type / rows x cols / tokens. Weights are random values quantized by the reference
// quantizer; the input is random f32, quantized once outside the timed loop (as matmul_batch
// does once per input for all of a layer's projections).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "model/matmul_batch.h"

namespace {

using rpu::DType;

std::vector<float> random_floats(size_t n, uint64_t seed) {
  rpu::Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.uniform()) - 0.5f;
  return v;
}

struct Case {
  DType type;
  int64_t rows, cols, tokens;
};

void run_case(benchmark::State& state, Case c) {
  const rpu::KernelSet& set = rpu::active_kernels();
  const uint64_t row_bytes = rpu::dtype_row_bytes(c.type, static_cast<uint64_t>(c.cols));
  std::vector<uint8_t> bytes(row_bytes * static_cast<uint64_t>(c.rows));
  const auto values = random_floats(static_cast<size_t>(c.cols), 1);
  for (int64_t r = 0; r < c.rows; ++r) {  // one random row, rotated: cheap to make, not constant
    std::vector<float> row(values.begin() + r % c.cols, values.end());
    row.insert(row.end(), values.begin(), values.begin() + r % c.cols);
    rpu::quantize_row(c.type, row.data(), bytes.data() + r * row_bytes, c.cols);
  }
  rpu::WeightMatrix w;
  set.pack(rpu::MatrixView{c.type, bytes.data(), c.rows, c.cols, row_bytes}, w);
  const auto x = random_floats(static_cast<size_t>(c.tokens * c.cols), 2);
  rpu::QuantizedInput xq;
  if (set.wants_quantized_input(w)) set.quantize_input(x.data(), c.tokens, c.cols, xq);
  std::vector<float> y(static_cast<size_t>(c.tokens * c.rows));
  for (auto _ : state) {
    set.matmul(w, x.data(), xq, c.tokens, y.data(), 0, c.rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double macs = static_cast<double>(c.rows) * static_cast<double>(c.cols) * static_cast<double>(c.tokens);
  state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(set.name);
}

// The matrices of the benchmark models (bench/compare_llamacpp.sh): SmolLM2-135M's FFN (1536 x
// 576 up, 576 x 1536 down), Qwen2.5-0.5B's (4864 x 896, 896 x 4864) and Llama-3.2-1B's
// (8192 x 2048, 2048 x 8192). K-quants need 256-column blocks, so SmolLM2's 576 and Qwen's 896
// columns take Q5_0 / Q8_0 in a Q4_K_M file, as llama.cpp's fallback does.
void register_cases() {
  const struct {
    int64_t rows, cols;
  } shapes[] = {{1536, 576}, {576, 1536}, {4864, 896}, {896, 4864}, {8192, 2048}, {2048, 8192}};
  const DType types[] = {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  for (DType type : types) {
    for (const auto& s : shapes) {
      if (s.cols % rpu::dtype_info(type).block_size != 0) continue;
      for (int64_t tokens : {1, 8, 512}) {
        const std::string name = std::string(rpu::dtype_name(type)) + "/" + std::to_string(s.rows) + "x" +
                                 std::to_string(s.cols) + "/" + std::to_string(tokens);
        benchmark::RegisterBenchmark(name.c_str(), run_case, Case{type, s.rows, s.cols, tokens})
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

// A decode step's weight stream: FFN up and down matrices of one shape, packed in copies that
// together exceed the last-level cache (kStreamBytes), run one after another through the
// thread pool as the decoder runs them (each naming the next as read-ahead). So every byte comes
// from DRAM, as in `rpu bench` tg, but without attention, norms or sampling: the stream tiles'
// memory behaviour in isolation. GB/s = packed bytes read per second.
// Arguments: type / rows x cols / tokens / threads.
constexpr uint64_t kStreamBytes = uint64_t{384} << 20;

void run_stream(benchmark::State& state, Case c, int threads) {
  const rpu::KernelSet& set = rpu::active_kernels();
  std::vector<rpu::WeightMatrix> mats;
  std::vector<std::vector<uint8_t>> files;  // the views' bytes, kept alive (the packed copies are read)
  uint64_t total = 0;
  for (int copy = 0; total < kStreamBytes; ++copy) {
    const bool down = copy % 2 == 1;  // alternate [rows, cols] and [cols, rows], as up and down
    const int64_t rows = down ? c.cols : c.rows, cols = down ? c.rows : c.cols;
    const uint64_t row_bytes = rpu::dtype_row_bytes(c.type, static_cast<uint64_t>(cols));
    std::vector<uint8_t>& bytes = files.emplace_back(row_bytes * static_cast<uint64_t>(rows));
    const auto values = random_floats(static_cast<size_t>(cols), static_cast<uint64_t>(copy + 1));
    std::vector<float> row(values);
    for (int64_t r = 0; r < rows; ++r) {
      std::rotate(row.begin(), row.begin() + 1, row.end());
      rpu::quantize_row(c.type, row.data(), bytes.data() + r * row_bytes, cols);
    }
    mats.emplace_back();
    set.pack(rpu::MatrixView{c.type, bytes.data(), rows, cols, row_bytes}, mats.back());
    total += mats.back().packed_bytes;
  }
  const int64_t width = std::max(c.rows, c.cols);
  const auto x = random_floats(static_cast<size_t>(c.tokens * width), 2);
  std::vector<float> y(static_cast<size_t>(c.tokens * width));
  rpu::ThreadPool pool(threads);
  rpu::MatmulScratch scratch;
  double macs = 0;
  for (const auto& w : mats) macs += static_cast<double>(w.view.rows * w.view.cols * c.tokens);
  for (auto _ : state) {
    for (size_t i = 0; i < mats.size(); ++i) {
      const rpu::ReadAhead then = rpu::weight_bytes(mats[(i + 1) % mats.size()]);
      rpu::matmul_batch(set, &pool, scratch, {{&mats[i], y.data()}}, x.data(), static_cast<int>(c.tokens), then);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(total) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(set.name);
}

// Qwen2.5-0.5B's FFN shape (decode batches: `rpu bench -b 8`), and SmolLM2-135M's FFN and square
// attention projections (small matrices, where each matmul's start and end cost most).
void register_stream_cases() {
  const struct {
    int64_t rows, cols;
  } shapes[] = {{4864, 896}, {1536, 576}, {576, 576}};
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    for (const auto& s : shapes) {
      for (int64_t tokens : {1, 4, 8, 16}) {
        for (int threads : {1, 2}) {
          const std::string name = "Stream/" + std::string(rpu::dtype_name(type)) + "/" + std::to_string(s.rows) + "x" +
                                   std::to_string(s.cols) + "/" + std::to_string(tokens) + "/" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), run_stream, Case{type, s.rows, s.cols, tokens}, threads)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        }
      }
    }
  }
}

// One KV head's prompt attention: queries [n, heads * hd] (row stride q_dim), K and V rows [n, hd].
void run_attention(benchmark::State& state, int64_t hd, int64_t heads, int64_t n) {
  const rpu::KernelSet& set = rpu::active_kernels();
  const int64_t q_dim = heads * hd;
  const auto q = random_floats(static_cast<size_t>(n * q_dim), 3);
  const auto k = random_floats(static_cast<size_t>(n * hd), 4);
  const auto v = random_floats(static_cast<size_t>(n * hd), 5);
  const rpu::KvRows kv = rpu::f32_rows(k.data(), v.data(), hd, 0);
  rpu::AttentionParams a;
  a.head_dim = hd;
  a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> out(static_cast<size_t>(n * q_dim));
  std::vector<float> scores(static_cast<size_t>(n));  // attend's scratch (sets without attend_block)
  for (auto _ : state) {
    for (int64_t t0 = 0; t0 < n; t0 += 16) {
      const int64_t n_q = std::min<int64_t>(16, n - t0);
      if (set.attend_block != nullptr) {
        set.attend_block(q.data() + t0 * q_dim, q_dim, n_q, heads, kv, t0, a, out.data() + t0 * q_dim, q_dim);
      } else {
        for (int64_t t = t0; t < t0 + n_q; ++t) {
          for (int64_t h = 0; h < heads; ++h) set.attend(q.data() + t * q_dim + h * hd, kv, t, a, scores.data(), out.data() + t * q_dim + h * hd);
        }
      }
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  // Scores and value sums: each query reads t + 1 positions, 2 x hd multiply-adds each.
  const double macs = static_cast<double>(heads) * static_cast<double>(n) * static_cast<double>(n + 1) * static_cast<double>(hd);
  state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(set.name);
}

// SmolLM2-135M (64 dims, 3 query heads per KV head), Qwen2.5-0.5B (64, 7), Llama-3.2-1B (64, 4).
void register_attention_cases() {
  for (int64_t heads : {3, 4, 7}) {
    for (int64_t n : {128, 512, 4096}) {  // 4096: a long prompt, where the scores outgrow L2
      const std::string name = "Attention/64/" + std::to_string(heads) + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(), run_attention, 64, heads, n)->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_cases();
  register_attention_cases();
  register_stream_cases();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
