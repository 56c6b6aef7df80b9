#include "engine/bench.h"

#include "engine/bench_profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "decode/sampler.h"
#include "model/forward.h"
#include "model/quant_plan.h"

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;

// Bandwidth probe passes before each generation repetition, the best one kept: one ~20 ms pass
// read 14 GB/s once beside decode steps that streamed 50 GB/s (a stall of the host, not its
// bandwidth).
constexpr int kPassesPerRepetition = 2;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void summarize(BenchTest& t) {
  const auto& v = t.tokens_per_second;
  if (v.empty()) return;
  double sum = 0;
  for (double x : v) sum += x;
  t.mean = sum / static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - t.mean) * (x - t.mean);
    t.stddev = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
}

// The middle value (the mean of the middle two for an even count); v is not empty.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Token ids spread over the vocabulary, the same every run (as llama-bench, random text).
std::vector<int32_t> bench_tokens(int n, int n_vocab) {
  Rng rng(42);
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (auto& t : tokens) t = static_cast<int32_t>(rng.next() % static_cast<uint64_t>(n_vocab));
  return tokens;
}

// Fills the first `depth` positions (untimed) with a prompt, as llama-bench's -d does, so
// the timed tokens attend over a long context (where the KV cache's reads matter).
void fill_depth(ForwardPass& forward, const std::vector<int32_t>& depth_tokens) {
  if (!depth_tokens.empty()) forward.eval(depth_tokens);
}

// tokens/s of one batch of n_prompt tokens into an emptied context (after the depth prompt).
// The context is the test's own, emptied by rewind between repetitions as llama-bench clears
// its KV cache, so its pages and scratch buffers are touched once, in the warm-up: a fresh
// context per repetition made every one pay ~6k first-touch page faults (23 MB of KV rows
// for SmolLM2-135M at 512 positions) and the scratch buffers' zero fills, which a server,
// whose caches live as long as it does, never pays per request.
double time_prompt(ForwardPass& forward, const std::vector<int32_t>& tokens, const std::vector<int32_t>& depth) {
  forward.rewind(0);
  fill_depth(forward, depth);
  const auto start = Clock::now();
  forward.eval(tokens);
  return static_cast<double>(tokens.size()) / seconds_since(start);
}

// tokens/s of single-token decodes after a one-token prompt (not timed), or after the depth
// prompt, in the test's own context (emptied first, as for time_prompt).
double time_generation(ForwardPass& forward, const std::vector<int32_t>& tokens, const std::vector<int32_t>& depth) {
  forward.rewind(0);
  if (depth.empty()) {
    forward.eval(std::span<const int32_t>(tokens.data(), 1));
  } else {
    fill_depth(forward, depth);
  }
  const auto start = Clock::now();
  for (size_t i = 0; i < tokens.size(); ++i) forward.eval(std::span<const int32_t>(&tokens[i], 1));
  return static_cast<double>(tokens.size()) / seconds_since(start);
}

// Feeds n_seq sequences a one-token prompt each, then tokens.size() steps of one token per
// sequence (sequence s reads token i + s, so the sequences differ, as independent requests
// would); `profile`, when given, records the steps only. Returns the steps' seconds.
double batched_steps(BatchForward& forward, const std::vector<int32_t>& tokens, int n_seq, ForwardProfile* profile) {
  std::vector<SequenceChunk> chunks(static_cast<size_t>(n_seq));
  for (int s = 0; s < n_seq; ++s) chunks[static_cast<size_t>(s)] = {s, {&tokens[0], 1}, ChunkOutput::kLastLogits, true};
  forward.eval(chunks);
  forward.set_profile(profile);
  const auto start = Clock::now();
  for (size_t i = 0; i < tokens.size(); ++i) {
    for (int s = 0; s < n_seq; ++s) {
      chunks[static_cast<size_t>(s)] = {s, {&tokens[(i + static_cast<size_t>(s)) % tokens.size()], 1},
                                        ChunkOutput::kLastLogits, false};
    }
    forward.eval(chunks);
  }
  const double seconds = seconds_since(start);
  forward.set_profile(nullptr);
  return seconds;
}

// Aggregate tokens/s of n_seq sequences each decoding tokens.size() tokens, all advanced by
// one forward step at a time, after a one-token prompt each (not timed).
double time_batched_generation(const Model& model, ThreadPool& pool, const std::vector<int32_t>& tokens, int n_seq,
                               KVCacheTypes cache) {
  BatchForward forward(model, static_cast<int>(tokens.size()) + 1, n_seq, &pool, cache);
  return static_cast<double>(tokens.size()) * n_seq / batched_steps(forward, tokens, n_seq, nullptr);
}

// One prompt run and one generation run (sampling each next token with the default
// sampler, as a server would) recorded into profiles.
void profile_runs(const Model& model, const BenchOptions& o, ThreadPool& pool, std::vector<BenchProfile>& out) {
  const int n_vocab = model.config().n_vocab;
  if (o.n_prompt > 0) {
    BenchProfile p{fmt::format("pp{}", o.n_prompt), o.n_prompt, {}};
    const auto tokens = bench_tokens(o.n_prompt, n_vocab);
    ForwardPass forward(model, o.n_prompt, &pool);
    forward.eval(tokens);  // unrecorded: first touches of the KV pages and buffers (time_prompt)
    forward.rewind(0);
    forward.set_profile(&p.profile);
    forward.eval(tokens);
    out.push_back(std::move(p));
  }
  if (o.n_gen > 0) {
    // At a depth (-d), the generated tokens attend over that many earlier positions, as in the
    // timed test, so the profile shows what a long context costs.
    const std::vector<int32_t> depth = o.n_depth > 0 ? bench_tokens(o.n_depth, n_vocab) : std::vector<int32_t>{};
    BenchProfile p{fmt::format("tg{}{}", o.n_gen, o.n_depth > 0 ? fmt::format(" @ d{}", o.n_depth) : ""), o.n_gen, {}};
    const auto tokens = bench_tokens(1, n_vocab);
    ForwardPass forward(model, static_cast<int>(depth.size()) + o.n_gen + 1, &pool);
    // Unrecorded: first touches of every KV page the run will write (they were most of the
    // 'rope + kv write' row of a SmolLM2-135M decode step), as in time_generation's warm-up.
    fill_depth(forward, depth);
    for (int32_t t : bench_tokens(o.n_gen + 1, n_vocab)) forward.eval(std::span<const int32_t>(&t, 1));
    forward.rewind(0);
    fill_depth(forward, depth);
    Sampler sampler{SamplingParams{}};
    std::span<const float> logits = forward.eval(tokens);
    forward.set_profile(&p.profile);
    for (int i = 0; i < o.n_gen; ++i) {
      int32_t next = 0;
      {
        const OpTimer timer(&p.profile, ForwardOp::kSampling, -1);
        next = sampler.sample(logits);
        sampler.accept(next);
      }
      logits = forward.eval(std::span<const int32_t>(&next, 1));
    }
    out.push_back(std::move(p));
  }
  // Batched decode (-b N): the timed test's steps once more, recorded over all N sequences, so
  // ms/token is per generated token and the bytes are shared by the step's N tokens. No
  // sampling (the timed test has none either). While a profile is attached the forward pass
  // never splits a step into decode lanes (models of at most 24 MiB take them untimed).
  for (int n_seq : o.batch_sequences) {
    if (o.n_gen <= 0 || n_seq < 2) continue;
    BenchProfile p{fmt::format("tg{} x{}", o.n_gen, n_seq), static_cast<int64_t>(o.n_gen) * n_seq, {}};
    const auto tokens = bench_tokens(o.n_gen, n_vocab);
    BatchForward forward(model, o.n_gen + 1, n_seq, &pool, o.cache_types);
    batched_steps(forward, tokens, n_seq, nullptr);  // unrecorded: first touches of the KV pages
    for (int s = 0; s < n_seq; ++s) forward.rewind(s, 0);
    batched_steps(forward, tokens, n_seq, &p.profile);
    out.push_back(std::move(p));
  }
}

std::string file_type_name(const GgufFile& file) {
  if (const GgufValue* ft = file.find("general.file_type")) {
    if (ft->is_integer() && ft->as_int("general.file_type") >= 0) {
      if (const QuantScheme* s = find_quant_scheme(static_cast<uint32_t>(ft->as_uint("general.file_type")))) return s->name;
    }
  }
  // No (known) file type: the type holding the most tensor bytes.
  std::map<DType, uint64_t> bytes;
  for (const auto& t : file.tensors()) bytes[t.type] += t.n_bytes;
  if (bytes.empty()) return "none";
  return dtype_name(std::max_element(bytes.begin(), bytes.end(), [](auto& a, auto& b) { return a.second < b.second; })->first);
}

std::string format_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f} B", n / 1e9);
  return fmt::format("{:.2f} M", n / 1e6);
}

std::string format_size(double bytes) {
  if (bytes >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024 * 1024));
  return fmt::format("{:.2f} MiB", bytes / (1024.0 * 1024));
}

}  // namespace

BandwidthProbe::BandwidthProbe(ThreadPool& pool, const KernelSet& kernels, uint64_t bytes)
    : pool_(pool),
      sum_words_(kernels.sum_words != nullptr ? kernels.sum_words : &sum_words_ref),
      n_words_(bytes / sizeof(uint64_t)),
      buffer_(allocate_large_buffer(n_words_ * sizeof(uint64_t))) {
  uint64_t* words = this->words();
  const uint64_t n = n_words_;
  pool_.parallel_for(static_cast<int64_t>(pool_.size()), [&](int64_t t0, int64_t t1) {  // faults the pages in
    for (uint64_t i = n * static_cast<uint64_t>(t0) / pool_.size(); i < n * static_cast<uint64_t>(t1) / pool_.size(); ++i) {
      words[i] = i;
    }
  });
}

double BandwidthProbe::pass() {
  // Many pieces that the pool's threads share out, so the measure is what the pool achieves
  // even when one of its threads is briefly descheduled.
  const int64_t n_pieces = 64 * static_cast<int64_t>(pool_.size());
  const uint64_t n = n_words_;
  std::atomic<uint64_t> sink{0};
  const auto start = Clock::now();
  pool_.parallel_for(n_pieces, [&](int64_t p0, int64_t p1) {
    const uint64_t begin = n * static_cast<uint64_t>(p0) / n_pieces, end = n * static_cast<uint64_t>(p1) / n_pieces;
    sink.fetch_add(sum_words_(words() + begin, static_cast<int64_t>(end - begin)), std::memory_order_relaxed);
  });
  return static_cast<double>(buffer_bytes()) / seconds_since(start);
}

double BandwidthProbe::best_of(int passes) {
  double best = 0;
  for (int i = 0; i < passes; ++i) best = std::max(best, pass());
  return best;
}

double measure_int8_peak(ThreadPool& pool, const KernelSet& kernels, int passes) {
  if (kernels.int8_peak_loop == nullptr) return 0;
  // 2^22 rounds of 12 instructions: ~15-30 ms a thread at one instruction per cycle or two.
  constexpr int64_t kRounds = int64_t{1} << 22;
  const int64_t n = pool.size();
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    std::atomic<uint64_t> macs{0};
    const auto start = Clock::now();
    pool.parallel_for(n, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) macs.fetch_add(kernels.int8_peak_loop(kRounds), std::memory_order_relaxed);
    });
    best = std::max(best, static_cast<double>(macs.load()) / seconds_since(start));
  }
  return best;
}

uint64_t int8_macs_per_prompt_token(const Model& model) {
  uint64_t macs = 0;
  for (const auto& t : model.file().tensors()) {
    if (t.shape.size() < 2 || t.name == "token_embd.weight" || t.name == "output.weight") continue;
    if (t.type == DType::F32 || t.type == DType::F16 || t.type == DType::BF16) continue;
    macs += t.n_elements;
  }
  return macs;
}

uint64_t weight_bytes_per_token(const Model& model) {
  // Counted from the file's tensors (as stored), not from any repacked in-memory layout.
  const GgufFile& file = model.file();
  const bool tied = file.find_tensor("output.weight") == nullptr;
  uint64_t bytes = 0;
  for (const auto& t : file.tensors()) {
    if (t.shape.size() < 2) continue;                        // norms, biases, rope factors
    if (t.name == "token_embd.weight" && !tied) continue;  // only row lookups
    bytes += t.n_bytes;
  }
  return bytes;
}

// The timed tests: pp (prompt), tg (generation; with the bandwidth read before each
// repetition when there is a probe) and tg xN (batched generation), each after a warm-up.
void run_bench_tests(const Model& model, const BenchOptions& o, ThreadPool& pool, BandwidthProbe* probe,
                     std::vector<BenchTest>& out) {
  const int n_vocab = model.config().n_vocab;
  const std::vector<int32_t> depth = o.n_depth > 0 ? bench_tokens(o.n_depth, n_vocab) : std::vector<int32_t>{};
  const std::string at_depth = o.n_depth > 0 ? fmt::format(" @ d{}", o.n_depth) : "";
  if (o.n_prompt > 0) {
    BenchTest t{fmt::format("pp{}{}", o.n_prompt, at_depth), o.n_prompt, 0, 1, {}, 0, 0, {}};
    const auto tokens = bench_tokens(o.n_prompt, n_vocab);
    ForwardPass forward(model, static_cast<int>(depth.size() + tokens.size()), &pool, o.cache_types);
    time_prompt(forward, tokens, depth);  // warm-up: page in the weights, the KV pages and the scratch buffers
    for (int i = 0; i < o.repetitions; ++i) t.tokens_per_second.push_back(time_prompt(forward, tokens, depth));
    summarize(t);
    out.push_back(std::move(t));
  }
  if (o.n_gen > 0) {
    BenchTest t{fmt::format("tg{}{}", o.n_gen, at_depth), 0, o.n_gen, 1, {}, 0, 0, {}};
    const auto tokens = bench_tokens(o.n_gen, n_vocab);
    ForwardPass forward(model, static_cast<int>(depth.size() + tokens.size()) + 1, &pool, o.cache_types);
    time_generation(forward, tokens, depth);  // warm-up, as for prompts
    for (int i = 0; i < o.repetitions; ++i) {
      if (probe != nullptr) t.bandwidth.push_back(probe->best_of(kPassesPerRepetition));
      t.tokens_per_second.push_back(time_generation(forward, tokens, depth));
    }
    summarize(t);
    out.push_back(std::move(t));
  }
  for (int n_seq : o.batch_sequences) {
    if (o.n_gen <= 0 || n_seq < 1) continue;
    BenchTest t{fmt::format("tg{} x{}", o.n_gen, n_seq), 0, o.n_gen, n_seq, {}, 0, 0, {}};
    const auto tokens = bench_tokens(o.n_gen, n_vocab);
    time_batched_generation(model, pool, std::vector<int32_t>(tokens.begin(), tokens.begin() + std::min(o.n_gen, 2)), n_seq,
                            o.cache_types);
    for (int i = 0; i < o.repetitions; ++i) {
      t.tokens_per_second.push_back(time_batched_generation(model, pool, tokens, n_seq, o.cache_types));
    }
    summarize(t);
    out.push_back(std::move(t));
  }
}

// The bandwidth read (the best of every pass) and, for generation, the share of the roofline.
void add_rooflines(BenchReport& r, BandwidthProbe& probe, int passes) {
  r.bandwidth = {0, probe.buffer_bytes(), 0, r.threads};
  auto add = [&](double bytes_per_second, int n) {
    r.bandwidth.bytes_per_second = std::max(r.bandwidth.bytes_per_second, bytes_per_second);
    r.bandwidth.passes += n;
  };
  for (const auto& t : r.tests) {
    for (double sample : t.bandwidth) add(sample, kPassesPerRepetition);
  }
  add(probe.best_of(passes), passes);
  if (r.bandwidth.bytes_per_second > 0 && r.bytes_per_token > 0) {
    r.roofline_tokens_per_second = r.bandwidth.bytes_per_second / static_cast<double>(r.bytes_per_token);
    for (const auto& t : r.tests) {
      if (t.bandwidth.empty()) continue;
      // Each repetition against the roofline of its own moment; the median, so one disturbed
      // repetition does not move it.
      std::vector<double> shares;
      for (size_t i = 0; i < t.bandwidth.size(); ++i) {
        shares.push_back(t.tokens_per_second[i] * static_cast<double>(r.bytes_per_token) / t.bandwidth[i]);
      }
      r.generation_share = median(shares);
    }
  }
}

BenchReport run_bench(const Model& model, const BenchOptions& o, ThreadPool& pool) {
  if (o.repetitions < 1) fail("the repetition count must be at least 1, got {}", o.repetitions);
  BenchReport r;
  const GgufFile& file = model.file();
  r.model = file.get_string("general.name", model.config().arch->name);
  r.type = file_type_name(file);
  for (const auto& t : file.tensors()) {
    r.size_bytes += t.n_bytes;
    r.n_params += t.n_elements;
  }
  r.bytes_per_token = weight_bytes_per_token(model);
  r.threads = pool.size();

  if (o.n_depth < 0) fail("the depth must be at least 0, got {}", o.n_depth);
  // Allocated and faulted in before the tests, so its first pages cost no test anything.
  std::optional<BandwidthProbe> probe;
  if (o.bandwidth_bytes >= sizeof(uint64_t) && o.bandwidth_passes > 0) probe.emplace(pool, model.kernels(), o.bandwidth_bytes);
  run_bench_tests(model, o, pool, probe ? &*probe : nullptr, r.tests);
  if (o.profile) profile_runs(model, o, pool, r.profiles);
  if (probe) add_rooflines(r, *probe, o.bandwidth_passes);
  r.int8_macs_per_token = int8_macs_per_prompt_token(model);
  if (o.int8_peak && r.int8_macs_per_token > 0) r.int8_peak_macs_per_second = measure_int8_peak(pool, model.kernels(), 3);
  if (r.int8_peak_macs_per_second > 0) {
    for (const auto& t : r.tests) {
      if (t.n_prompt > 0) {
        r.prompt_int8_share = t.mean * static_cast<double>(r.int8_macs_per_token) / r.int8_peak_macs_per_second;
      }
    }
  }
  return r;
}

std::string format_bench_markdown(const BenchReport& r) {
  std::string out = "| model | size | params | type | threads | test | t/s |\n";
  out += "| --- | ---: | ---: | --- | ---: | --- | ---: |\n";
  for (const auto& t : r.tests) {
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {:.2f} ± {:.2f} |\n", r.model, format_size(static_cast<double>(r.size_bytes)),
                       format_count(static_cast<double>(r.n_params)), r.type, r.threads, t.name, t.mean, t.stddev);
  }
  if (r.bandwidth.passes > 0) {
    out += fmt::format("\nmemory read bandwidth: {:.2f} GB/s ({} threads, {} MiB buffer, best of {} passes)\n",
                       r.bandwidth.bytes_per_second / 1e9, r.bandwidth.threads, r.bandwidth.buffer_bytes >> 20, r.bandwidth.passes);
    out += fmt::format("generation roofline: {:.2f} t/s ({:.2f} MB of weights per token)", r.roofline_tokens_per_second,
                       static_cast<double>(r.bytes_per_token) / 1e6);
    if (r.generation_share > 0) {
      out += fmt::format("; generation reaches {:.1f}% of the roofline (the median over repetitions, each against the "
                         "bandwidth read just before it)", 100.0 * r.generation_share);
    }
    out += "\n";
  }
  if (r.int8_peak_macs_per_second > 0) {
    out += fmt::format("int8 multiply-add peak: {:.1f} GMAC/s ({} threads, register-only loop); prompt roofline {:.2f} t/s "
                       "({:.2f} M multiply-adds of quantized layer matrices per token)",
                       r.int8_peak_macs_per_second / 1e9, r.threads,
                       r.int8_peak_macs_per_second / static_cast<double>(r.int8_macs_per_token),
                       static_cast<double>(r.int8_macs_per_token) / 1e6);
    if (r.prompt_int8_share > 0) out += fmt::format("; prompt processing reaches {:.1f}% of it", 100.0 * r.prompt_int8_share);
    out += "\n";
  }
  for (const BenchProfile& p : r.profiles) out += format_profile_markdown(p, r.bandwidth.bytes_per_second);
  return out;
}

std::string format_bench_json(const BenchReport& r, const std::string& model_path) {
  nlohmann::ordered_json j;
  j["model"] = r.model;
  j["model_path"] = model_path;
  j["type"] = r.type;
  j["size_bytes"] = r.size_bytes;
  j["n_params"] = r.n_params;
  j["threads"] = r.threads;
  j["tests"] = nlohmann::ordered_json::array();
  for (const auto& t : r.tests) {
    nlohmann::ordered_json test = {{"test", t.name},  {"n_prompt", t.n_prompt}, {"n_gen", t.n_gen},
                                   {"n_seq", t.n_seq}, {"avg_ts", t.mean},        {"stddev_ts", t.stddev},
                                   {"samples_ts", t.tokens_per_second}};
    if (!t.bandwidth.empty()) test["samples_bandwidth"] = t.bandwidth;  // bytes/s read just before each sample
    j["tests"].push_back(std::move(test));
  }
  if (r.bandwidth.passes > 0) {
    j["bandwidth"] = {{"bytes_per_second", r.bandwidth.bytes_per_second}, {"buffer_bytes", r.bandwidth.buffer_bytes},
                      {"passes", r.bandwidth.passes}, {"threads", r.bandwidth.threads}};
    j["roofline"] = {{"weight_bytes_per_token", r.bytes_per_token}, {"tokens_per_second", r.roofline_tokens_per_second},
                     {"generation_share", r.generation_share}};
  } else {
    j["roofline"] = {{"weight_bytes_per_token", r.bytes_per_token}};
  }
  if (r.int8_peak_macs_per_second > 0) {
    j["int8_roofline"] = {{"macs_per_prompt_token", r.int8_macs_per_token},
                          {"peak_macs_per_second", r.int8_peak_macs_per_second},
                          {"prompt_share", r.prompt_int8_share}};
  }
  if (!r.profiles.empty()) {
    j["profiles"] = nlohmann::ordered_json::parse(format_profiles_json(r.profiles, r.bandwidth.bytes_per_second));
  }
  return j.dump(2) + "\n";
}

}  // namespace rpu
