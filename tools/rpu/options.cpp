#include "options.h"

#include "kernels/kv_rows.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "core/error.h"
#include "core/memory_lock.h"
#include "core/mapped_file.h"
#ifndef RPU_MINIMAL
#include "gateway/usage_store.h"
#include "hub/cache.h"
#endif

#include <filesystem>

// The built-in specialist model (models/, embedded by CMake with .incbin when present).
#ifdef RPU_HAVE_BUILTIN_MODEL
extern "C" const unsigned char rpu_builtin_model_start[];
extern "C" const unsigned char rpu_builtin_model_end[];
#endif

namespace rpu::cli {

std::unique_ptr<Model> load_builtin_model() {
#ifdef RPU_HAVE_BUILTIN_MODEL
  std::vector<uint8_t> bytes(rpu_builtin_model_start, rpu_builtin_model_end);
  return Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(std::move(bytes)), RPU_BUILTIN_MODEL_NAME));
#else
  fail("no model given and this build has no built-in model (models/ was empty at build time)");
#endif
}

void add_speculation_options(CLI::App* cmd, SpeculationFlags& f) {
  cmd->add_flag("--lookup", f.lookup,
                "prompt lookup decoding: guess the next tokens from earlier n-gram matches in the prompt and answer "
                "(fast when the answer copies its input); output is unchanged");
  cmd->add_option("--draft,--model-draft", f.draft_path,
                  "speculative decoding with this draft model (GGUF, same vocabulary); output is unchanged")
      ->transform(model_reference());
  cmd->add_option("--draft-max", f.draft_max, "most tokens guessed per step (--lookup, --draft)")->check(CLI::Range(1, 64));
  cmd->add_option("--lookup-ngram-min", f.ngram_min, "--lookup: shortest n-gram matched")->check(CLI::Range(1, 16));
  cmd->add_option("--lookup-ngram-max", f.ngram_max, "--lookup: longest n-gram matched (tried first)")
      ->check(CLI::Range(1, 16));
  cmd->add_option("--draft-p-min", f.draft_p_min, "--draft: stop guessing when the draft's probability falls below this")
      ->check(CLI::Range(0.0, 1.0));
}

void add_sampling_options(CLI::App* cmd, SamplingParams& s) {
  cmd->add_option("--temp", s.temperature, "temperature; 0 = greedy")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", s.top_k, "keep the k most likely tokens; 0 = off")->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--top-p", s.top_p, "nucleus sampling mass; 1 = off")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", s.min_p, "drop tokens below min-p x the top probability; 0 = off")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty", s.repeat_penalty, "penalise recent tokens; 1 = off")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--repeat-last-n", s.repeat_last_n, "how many recent tokens the penalties see")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--frequency-penalty", s.frequency_penalty, "subtract count x this from seen tokens")
      ->check(CLI::Range(-2.0, 2.0));
  cmd->add_option("--presence-penalty", s.presence_penalty, "subtract this from seen tokens")
      ->check(CLI::Range(-2.0, 2.0));
  cmd->add_option("-s,--seed", s.seed, "random seed; the same seed reproduces a run");
}

void add_runtime_options(CLI::App* cmd, RuntimeOptions& r) {
  cmd->add_option("-t,--threads", r.threads, "worker threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_option("-c,--ctx", r.ctx, "context size in tokens (default: the model's, at most 4096)")
      ->check(CLI::Range(1, 1 << 24));
  add_cache_type_options(cmd, r.cache);
  add_memory_options(cmd, r.memory);
}

void add_cache_type_options(CLI::App* cmd, CacheTypeOptions& c) {
  const auto types = CLI::IsMember({"f32", "f16", "q8_0"});
  cmd->add_option("--cache-type", c.both, "KV cache type for keys and values: f32, f16 (half the memory) or q8_0 (34/128)")
      ->check(types);
  cmd->add_option("--cache-type-k", c.k, "KV cache type for keys only (overrides --cache-type)")->check(types);
  cmd->add_option("--cache-type-v", c.v, "KV cache type for values only (overrides --cache-type)")->check(types);
}

KVCacheTypes CacheTypeOptions::types() const {
  return {parse_kv_cache_type(k.empty() ? both : k), parse_kv_cache_type(v.empty() ? both : v)};
}

void add_memory_options(CLI::App* cmd, MemoryOptions& m) {
  cmd->add_flag("--no-mmap", m.no_mmap, "read the model file into memory instead of mapping it");
  cmd->add_flag("--mlock", m.mlock, "lock the model's weights in RAM (a warning when RLIMIT_MEMLOCK is too low)");
}

void lock_model_memory(const Model& model, const MemoryOptions& memory) {
  if (!memory.mlock) return;
  // The packed copies and the file's tensors still read raw (in the mapping or the --no-mmap
  // copy); not the mapped tensors given back after repacking.
  const std::string why = lock_in_memory(model.weight_memory());
  if (!why.empty()) std::fprintf(stderr, "rpu: warning: --mlock: %s: %s; continuing unlocked\n", model.file().path().c_str(), why.c_str());
}

#ifndef RPU_MINIMAL
const CLI::Validator& log_location() {
  static const CLI::Validator validator(
      [](std::string& location) -> std::string {
        if (gateway::is_postgres_location(location)) return {};
        return CLI::ExistingFile(location);
      },
      "FILE|postgres://URI", "log location");
  return validator;
}

#endif

#ifdef RPU_MINIMAL
// The minimal build has no hub: a model is a path.
std::string resolve_model_reference(const std::string& text) { return text; }

const CLI::Validator& model_reference() {
  static const CLI::Validator validator(CLI::ExistingPath);
  return validator;
}
#else
std::string resolve_model_reference(const std::string& text) {
  std::error_code ec;
  const auto ref = hub::parse_model_reference(text);
  if (std::filesystem::exists(text, ec) || !ref) return text;
  std::string why;
  if (auto path = hub::find_cached_model(hub::settings_from_environment(), *ref, "main", &why)) return *path;
  fail("'{}' is not a file, and {}: run rpu pull {}", text, why, text);
}

const CLI::Validator& model_reference() {
  static const CLI::Validator validator(
      [](std::string& text) -> std::string {
        std::error_code ec;
        // An existing file, or a folder (a Hugging Face model, converted on load).
        if (std::filesystem::exists(text, ec) || !hub::parse_model_reference(text)) return CLI::ExistingPath(text);
        try {
          text = resolve_model_reference(text);
          return {};
        } catch (const Error& e) {
          return e.what();
        }
      },
      "MODEL|ORG/NAME[:QUANT]", "model file or pulled model");
  return validator;
}
#endif

int thread_count(int requested) {
  if (requested > 0) return requested;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int RuntimeOptions::thread_count() const { return cli::thread_count(threads); }

int RuntimeOptions::context_size(const Model& model) const {
  return ctx > 0 ? ctx : std::min(model.config().n_ctx_train, 4096);
}

std::string read_text_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) fail("cannot open '{}'", path);
  std::string text;
  char buffer[65536];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, n);
  std::fclose(f);
  return text;
}

LoadedModel load_model_with_tokenizer(const std::string& path, const std::string& hf_type, const MemoryOptions& memory) {
  LoadedModel loaded;
  if (path.empty()) {
    loaded.model = load_builtin_model();
    lock_model_memory(*loaded.model, memory);
  } else {
    loaded.model = load_model(path, hf_type, memory);
  }
  loaded.tokenizer = Tokenizer::from_gguf(loaded.model->file());
  const int n_tokens = loaded.tokenizer->vocab().size(), n_vocab = loaded.model->config().n_vocab;
  if (n_tokens != n_vocab) fail("{}: tokenizer has {} tokens but the model has {}", path, n_tokens, n_vocab);
  return loaded;
}

}  // namespace rpu::cli
