// rpu bench MODEL [-p 512] [-n 128] [-d 0] [-t N] [-r 5] [-o md|json] [--cache-type T]: prompt-processing and
// generation throughput, the machine's memory read bandwidth and generation's share of the
// bandwidth roofline (engine/bench.h).
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "commands.h"
#include "options.h"
#include "engine/bench.h"
#include "model/model.h"

namespace rpu::cli {
namespace {

struct BenchCliOptions {
  std::string model_path;
  std::string hf_type;
  BenchOptions bench;
  int threads = 0;
  MemoryOptions memory;
  std::string output = "md";
  int bandwidth_mib = 1024;
  CacheTypeOptions cache;
};

int bench(BenchCliOptions& o) {
  const unsigned hw = std::thread::hardware_concurrency();
  ThreadPool pool(o.threads > 0 ? o.threads : (hw == 0 ? 1 : static_cast<int>(hw)));
  const auto model = load_model(o.model_path, o.hf_type, o.memory);
  o.bench.bandwidth_bytes = static_cast<uint64_t>(o.bandwidth_mib) << 20;
  o.bench.cache_types = o.cache.types();
  const BenchReport report = run_bench(*model, o.bench, pool);
  const std::string text = o.output == "json" ? format_bench_json(report, o.model_path) : format_bench_markdown(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

Action add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchCliOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "measure prompt and generation speed against the memory-bandwidth roofline");
  cmd->add_option("model", o->model_path, "model file (GGUF), Hugging Face folder or pulled ORG/NAME[:QUANT]")->required()->transform(model_reference());
  add_hf_type_option(cmd, o->hf_type);
  cmd->add_option("-p,--n-prompt", o->bench.n_prompt, "prompt tokens processed in one batch; 0 = skip")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-n,--n-gen", o->bench.n_gen, "tokens generated one at a time; 0 = skip")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-b,--batch", o->bench.batch_sequences,
                  "also generate with N sequences decoded together, aggregate t/s (comma-separated, e.g. 4,8,16)")
      ->delimiter(',')
      ->check(CLI::Range(1, 256));
  cmd->add_option("-d,--depth", o->bench.n_depth,
                  "tokens already in the KV cache (an untimed prompt) before the pp/tg tests, as llama-bench -d")
      ->check(CLI::Range(0, 1 << 20));
  add_cache_type_options(cmd, o->cache);
  cmd->add_option("-r,--repetitions", o->bench.repetitions, "timed repetitions of each test")->check(CLI::Range(1, 1000));
  cmd->add_option("-t,--threads", o->threads, "worker threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_flag("--profile", o->bench.profile,
                "after the tests, one more run of each recorded per operation and per layer (time, bytes read, GB/s)");
  add_memory_options(cmd, o->memory);
  cmd->add_option("-o,--output", o->output, "output format: md or json")->check(CLI::IsMember({"md", "json"}));
  cmd->add_option("--bandwidth-mib", o->bandwidth_mib, "buffer for the bandwidth test in MiB; 0 = skip")
      ->check(CLI::Range(0, 1 << 20))
      ->group("");
  return [o] { return bench(*o); };
}

}  // namespace rpu::cli
