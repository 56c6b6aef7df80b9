// Flags shared by the generating commands (run, chat, later serve).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "model/kv_cache.h"
#include "model/model.h"
#include "decode/sampler.h"
#include "tokenizer/tokenizer.h"

namespace rpu::cli {

void add_sampling_options(CLI::App* cmd, SamplingParams& sampling);

// Speculative decoding (engine/speculation.h): --lookup, --draft (--model-draft), --draft-max,
// --lookup-ngram-min/max, --draft-p-min.
struct SpeculationFlags {
  bool lookup = false;
  std::string draft_path;  // a draft model with the same vocabulary
  int draft_max = 8;
  int ngram_min = 2, ngram_max = 4;
  float draft_p_min = 0.0f;
};
void add_speculation_options(CLI::App* cmd, SpeculationFlags& flags);

// --cache-type T (both K and V), --cache-type-k / --cache-type-v (one of them): f32, f16, q8_0.
struct CacheTypeOptions {
  std::string both = "f32";
  std::string k, v;  // empty: as `both`
  KVCacheTypes types() const;
};
void add_cache_type_options(CLI::App* cmd, CacheTypeOptions& cache);

// --no-mmap and --mlock (run, chat, serve, bench, perplexity; llama.cpp's flags).
struct MemoryOptions {
  bool no_mmap = false;  // read the GGUF into heap memory instead of mapping it
  bool mlock = false;    // lock the weights in RAM; when the system refuses, a warning
};
void add_memory_options(CLI::App* cmd, MemoryOptions& memory);

// --threads, --ctx, the KV cache type and the memory flags, with their defaults resolved against the
// loaded model.
struct RuntimeOptions {
  int threads = 0;  // 0: all cores
  int ctx = 0;      // 0: the model's trained context, at most 4096
  CacheTypeOptions cache;
  MemoryOptions memory;
  int thread_count() const;
  int context_size(const Model& model) const;
};
void add_runtime_options(CLI::App* cmd, RuntimeOptions& runtime);
// The worker threads for a --threads value: itself when positive, else every core (at least 1).
int thread_count(int requested);

// A GGUF model and its own tokenizer, checked to agree on the vocabulary size.
struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
};
// An empty path means the built-in specialist model (see models/README.md); a folder is a
// Hugging Face model, converted in memory to `hf_type` (empty: Q8_0; model_path.cpp).
LoadedModel load_model_with_tokenizer(const std::string& path, const std::string& hf_type = "",
                                      const MemoryOptions& memory = {});
// Model::load for a model path: a GGUF file or a Hugging Face folder (converted to `hf_type`).
std::unique_ptr<Model> load_model(const std::string& path, const std::string& hf_type = "",
                                  const MemoryOptions& memory = {});
// --mlock: locks the model's weights (the GGUF data section) in RAM, or prints why not to stderr
// and goes on.
void lock_model_memory(const Model& model, const MemoryOptions& memory);
// --type: the tensor type a Hugging Face folder is converted to on load.
void add_hf_type_option(CLI::App* cmd, std::string& hf_type);
std::unique_ptr<Model> load_builtin_model();  // in memory already: --no-mmap changes nothing

// A usage-log location flag: an existing file, or a postgres:// URI (checked when connecting).
// Not in the minimal build (no gateway).
const CLI::Validator& log_location();

// The whole file as bytes; throws rpu::Error naming the path when it cannot be read.
std::string read_text_file(const std::string& path);

// A model argument: an existing path as it is, else a model pulled from the hub, ORG/NAME[:QUANT],
// as its cached .gguf file or folder (never the network; rpu::Error saying to `rpu pull` it).
// The minimal build has no hub and takes paths only.
std::string resolve_model_reference(const std::string& text);
// For ->transform() on a model option: resolve_model_reference, or CLI::ExistingPath's answer (a
// file, or a Hugging Face folder).
const CLI::Validator& model_reference();

}  // namespace rpu::cli
