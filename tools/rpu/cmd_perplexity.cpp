// rpu perplexity MODEL -f TEXT [--ctx N] [--chunks N] [--kl-divergence-base FILE [--kl-divergence]]:
// the model's perplexity on a text by llama-perplexity's method, optionally saving its
// log-probabilities as a base, or comparing against a saved base (KL divergence, top-token
// agreement): engine/perplexity.h.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "engine/perplexity.h"
#include "options.h"

namespace rpu::cli {
namespace {

struct PerplexityCliOptions {
  std::string model_path;
  std::string hf_type;  // --type: a Hugging Face folder's tensor type on load
  std::string text_path;
  int ctx = 0;  // 0: 512 (at most the model's), or the base file's with --kl-divergence
  int chunks = 0;
  std::string base_path;
  bool kl_divergence = false;
  int threads = 0;
  CacheTypeOptions cache;
  MemoryOptions memory;
};

// The text as llama-perplexity reads it: the whole file, less one final newline.
std::string read_text(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("cannot read the text file '{}': no such file", path);
  std::string text = read_text_file(path);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// Reports how long the first chunk took and the estimated total, as llama-perplexity does.
class Eta {
 public:
  explicit Eta(int n_chunk) : n_chunk_(n_chunk), start_(std::chrono::steady_clock::now()) {}
  void first_chunk_done() {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "perplexity: %.2f seconds per pass - ETA %.2f minutes\n", s, s * n_chunk_ / 60.0);
  }

 private:
  int n_chunk_;
  std::chrono::steady_clock::time_point start_;
};

int run_perplexity(const PerplexityCliOptions& o, const Model& model, std::span<const int32_t> tokens, PerplexityOptions options) {
  options.n_ctx = o.ctx > 0 ? o.ctx : std::min(512, model.config().n_ctx_train > 0 ? model.config().n_ctx_train : 512);
  options.save_base = o.base_path;
  const ChunkPlan plan = plan_chunks(tokens.size(), options.n_ctx, options.max_chunks);
  Eta eta(plan.n_chunk);
  ThreadPool pool(thread_count(o.threads));
  const PerplexityResult result = compute_perplexity(model, tokens, options, &pool, [&](int chunk, const NllStats& so_far) {
    if (chunk == 0) {
      std::fprintf(stderr, "perplexity: %zu tokens, %d chunks of %d, scoring the last %d tokens of each%s\n", tokens.size(),
                   plan.n_chunk, plan.n_ctx, plan.scored_per_chunk(),
                   o.base_path.empty() ? "" : fmt::format("; saving log-probabilities to {}", o.base_path).c_str());
      eta.first_chunk_done();
    }
    print(format_ppl_progress(chunk, so_far));
  });
  print("\n" + format_ppl_final(result.nll));
  return 0;
}

int run_kl_divergence(const PerplexityCliOptions& o, const Model& model, std::span<const int32_t> tokens, PerplexityOptions options) {
  options.n_ctx = o.ctx;
  ThreadPool pool(thread_count(o.threads));
  const KlStats stats = compute_kl_divergence(model, tokens, o.base_path, options, &pool, [&](int chunk, const KlStats& so_far) {
    if (chunk == 0) {
      std::fprintf(stderr, "perplexity: %zu tokens, KL divergence against %s\n", tokens.size(), o.base_path.c_str());
      print(format_kl_table_header());
    }
    print(format_kl_table_row(chunk, so_far));
  });
  print("\n" + format_kl_summary(stats));
  return 0;
}

int perplexity(const PerplexityCliOptions& o) {
  if (o.kl_divergence && o.base_path.empty()) fail("--kl-divergence needs --kl-divergence-base FILE (the base model's saved log-probabilities)");
  const std::string text = read_text(o.text_path);
  const LoadedModel loaded = load_model_with_tokenizer(o.model_path, o.hf_type, o.memory);
  const Model& model = *loaded.model;
  if (model.config().arch != nullptr && model.config().arch->encoder) fail("{}: an encoder has no next-token perplexity", o.model_path);
  const int trained = model.config().n_ctx_train;
  if (o.ctx > 0 && trained > 0 && o.ctx > trained) fail("--ctx {} is larger than the model's context ({})", o.ctx, trained);
  const std::vector<int32_t> tokens = loaded.tokenizer->encode(text, /*add_special=*/true, /*parse_special=*/false);
  const Vocab& vocab = loaded.tokenizer->vocab();
  PerplexityOptions options;
  options.max_chunks = o.chunks;
  options.bos = vocab.add_bos && vocab.bos >= 0 ? vocab.bos : -1;
  options.cache_types = o.cache.types();
  return o.kl_divergence ? run_kl_divergence(o, model, tokens, options) : run_perplexity(o, model, tokens, options);
}

}  // namespace

Action add_perplexity_command(CLI::App& app) {
  auto o = std::make_shared<PerplexityCliOptions>();
  CLI::App* cmd = app.add_subcommand("perplexity", "a model's perplexity on a text (llama-perplexity's method), and KL divergence against a base model");
  cmd->add_option("model", o->model_path, "model file (GGUF), Hugging Face folder or pulled ORG/NAME[:QUANT]")
      ->required()
      ->transform(model_reference());
  add_hf_type_option(cmd, o->hf_type);
  cmd->add_option("-f,--file", o->text_path, "the text to score")->required();
  cmd->add_option("-c,--ctx", o->ctx, "tokens per chunk (default 512, at most the model's; with --kl-divergence, the base file's)")
      ->check(CLI::Range(4, 1 << 20));
  cmd->add_option("--chunks", o->chunks, "score at most N chunks (default: all)")->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--kl-divergence-base", o->base_path,
                  "without --kl-divergence: save the model's log-probabilities here; with it: read them as the base");
  cmd->add_flag("--kl-divergence", o->kl_divergence, "compare against the base saved by --kl-divergence-base");
  cmd->add_option("-t,--threads", o->threads, "worker threads (default: all cores)")->check(CLI::Range(1, 1024));
  add_cache_type_options(cmd, o->cache);
  add_memory_options(cmd, o->memory);
  return [o] { return perplexity(*o); };
}

}  // namespace rpu::cli
