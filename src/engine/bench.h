// Throughput benchmark in the manner of llama-bench: prompt processing (one batch of
// n_prompt tokens into a fresh context) and generation (n_gen single-token decodes after a
// one-token prompt), each repeated and reported as tokens/s mean and standard deviation.
//
// Generation on a CPU is bound by memory bandwidth: every decoded token reads every weight
// matrix once. So the benchmark also measures this machine's read bandwidth with the same
// threads and reports generation as a share of the roofline
//   roofline tok/s = bandwidth / bytes of matrices read per token
// (all layer matrices plus the output head; the embedding table only when it is the head).
// The bandwidth is read with the kernel set's widest loads (KernelSet::sum_words), the better of
// two passes before each generation repetition, and the share is the median over repetitions
// of each one's tokens/s against its own moment's roofline: on a shared host the bandwidth
// moves by 1.5x within minutes, and one probe after the tests made shares of 64% and 100% out
// of the same binary's runs a minute apart.
//
// Prompt processing is bound by compute: its matrices multiply many tokens per weight read.
// For integer-quantized files the benchmark also measures the kernel set's int8 multiply-add
// peak (a register-only loop of its dot-product instruction on every thread,
// KernelSet::int8_peak_loop: vpdpbusd for AVX-512 VNNI, vpmaddubsw for AVX2) and reports prompt processing as a share of it
//   int8 share = pp tok/s * multiply-adds per prompt token / peak multiply-adds per second
// counting the quantized layer matrices only (the output head computes one token's logits per
// prompt, and attention runs in f32): the part of prefill the int8 units do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/large_buffer.h"
#include "core/thread_pool.h"
#include "model/kv_cache.h"
#include "model/forward_profile.h"
#include "model/model.h"

namespace rpu {

struct BenchOptions {
  int n_prompt = 512;  // 0: skip the prompt test
  int n_gen = 128;     // 0: skip the generation test
  int repetitions = 5;
  uint64_t bandwidth_bytes = uint64_t{1} << 30;  // buffer for the bandwidth test; 0: skip it
  int bandwidth_passes = 5;
  // Batched generation: for each N here, N sequences decode n_gen tokens each in lock-step
  // (one forward step advances all N), reported as aggregate tokens/s ("tg128 x8").
  std::vector<int> batch_sequences;
  // Tokens already in the cache (an untimed prompt) before the single-sequence pp/tg tests
  // ("tg128 @ d4096"), as llama-bench's -d.
  int n_depth = 0;
  KVCacheTypes cache_types;  // the KV cache's element types
  bool int8_peak = true;      // measure the int8 multiply-add peak (when the file is quantized)
  // After the timed tests, one more prompt run and one more generation run (with sampling,
  // default settings) with a ForwardProfile attached (model/forward_profile.h).
  bool profile = false;
};

// Where one untimed run of a test spent its time.
struct BenchProfile {
  std::string test;     // "pp512" / "tg128"
  int64_t tokens = 0;   // tokens the profiled run processed (prompt) or generated
  ForwardProfile profile;
};

struct BenchTest {
  std::string name;  // "pp512" / "tg128"
  int n_prompt = 0;
  int n_gen = 0;
  int n_seq = 1;  // sequences decoded together
  std::vector<double> tokens_per_second;  // one per repetition
  double mean = 0;
  double stddev = 0;  // sample standard deviation; 0 with one repetition
  // Single-sequence generation with the probe on: bytes/s read by the better of two probe passes
  // just before each repetition (empty otherwise).
  std::vector<double> bandwidth;
};

struct Bandwidth {
  double bytes_per_second = 0;  // best pass (those before the generation repetitions included)
  uint64_t buffer_bytes = 0;
  int passes = 0;
  int threads = 0;
};

struct BenchReport {
  std::string model;      // general.name, or the architecture
  std::string type;       // file type name (e.g. "Q4_K_M"), or the type most matrix bytes have
  uint64_t size_bytes = 0;      // all tensor data
  uint64_t n_params = 0;        // all tensor elements
  uint64_t bytes_per_token = 0; // matrices read per generated token
  int threads = 0;
  std::vector<BenchTest> tests;
  Bandwidth bandwidth;           // zero when skipped
  double roofline_tokens_per_second = 0;
  // Median over the generation repetitions of tokens/s * bytes_per_token / that repetition's
  // bandwidth, 0..1+; 0 when either is missing.
  double generation_share = 0;
  uint64_t int8_macs_per_token = 0;  // multiply-adds of the quantized layer matrices per prompt token
  double int8_peak_macs_per_second = 0;  // all threads; 0 when not measured
  double prompt_int8_share = 0;  // pp mean * int8_macs_per_token / peak; 0 when either is missing
  std::vector<BenchProfile> profiles;  // with BenchOptions::profile
};

// Multi-threaded streaming reads of a buffer much larger than the last-level cache, with the
// kernel set's widest loads, one timed pass at a time.
class BandwidthProbe {
 public:
  BandwidthProbe(ThreadPool& pool, const KernelSet& kernels, uint64_t bytes);  // and faults the pages in
  double pass();  // bytes per second of one timed read of the whole buffer
  double best_of(int passes);  // the best of that many passes
  uint64_t buffer_bytes() const { return n_words_ * sizeof(uint64_t); }

 private:
  uint64_t* words() const { return reinterpret_cast<uint64_t*>(buffer_.get()); }

  ThreadPool& pool_;
  uint64_t (*sum_words_)(const uint64_t* words, int64_t n);
  uint64_t n_words_;
  LargeBuffer buffer_;  // in huge pages where the kernel gives them, as the packed weights are
};

// Best of `passes` runs of the kernel set's int8_peak_loop on every thread at once, in
// multiply-adds per second (0 when the set has none).
double measure_int8_peak(ThreadPool& pool, const KernelSet& kernels, int passes);

// Multiply-adds of the integer-quantized layer matrices for one prompt token.
uint64_t int8_macs_per_prompt_token(const Model& model);

// Bytes of weight matrices one generated token reads (see the header comment).
uint64_t weight_bytes_per_token(const Model& model);

// Runs the tests (each with one untimed warm-up run) and the bandwidth measurement.
BenchReport run_bench(const Model& model, const BenchOptions& options, ThreadPool& pool);

// A llama-bench style markdown table plus the bandwidth / roofline lines.
std::string format_bench_markdown(const BenchReport& report);
// The same as one JSON object.
std::string format_bench_json(const BenchReport& report, const std::string& model_path);

}  // namespace rpu
