// rpu train (a model from scratch) and rpu finetune (full or LoRA, optionally distilled from a
// teacher): data, model and optimisation flags around train/trainer.h.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <unistd.h>

#include "commands.h"
#include "options.h"
#include "core/error.h"
#include "model/lora.h"
#include "tokenizer/vocab_trainer.h"
#include "train/gemm.h"
#include "train/trainer.h"

namespace rpu::cli {
namespace {

struct TrainCliOptions {
  std::string base_path;         // finetune: the model to start from
  std::string tokenizer_source;  // train: a GGUF whose tokenizer (and chat template) the model uses
  std::string chat_template_path;  // train: a Jinja chat template to store in the model instead
  int fit_vocab = 0;               // train: > 0: a vocabulary of this many pieces fitted to --data
  std::vector<std::string> data;
  std::string out_dir;
  train::FreshModelSpec spec;
  train::TrainOptions train;
  double validation_fraction = 0.05;
  int threads = 0;
  std::string precision;  // f32 | bf16; empty: RPU_TRAIN_GEMM or the CPU decides (train/gemm.h)
  // finetune
  bool full = false;
  train::LoraOptions lora;
  std::string lora_targets = "q,k,v,o";
  std::string teacher_path;
};

void add_training_options(CLI::App* cmd, TrainCliOptions& o) {
  cmd->add_option("--data", o.data, "training data (JSONL: {\"messages\": [...]} or {\"text\": ...}); repeatable")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", o.out_dir, "output directory (model or adapter, loss.csv, loss.svg, checkpoint)")->required();
  cmd->add_option("--seq-len", o.train.seq_len, "tokens per packed row")->check(CLI::Range(8, 1 << 16));
  cmd->add_option("--batch", o.train.batch_rows, "packed rows per micro-batch")->check(CLI::Range(1, 4096));
  cmd->add_option("--accum", o.train.grad_accum, "micro-batches per optimizer step")->check(CLI::Range(1, 4096));
  cmd->add_option("--epochs", o.train.epochs, "passes over the data")->check(CLI::Range(1, 100000));
  cmd->add_option("--steps", o.train.max_steps, "stop after this many optimizer steps (0: epochs decide)")->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--minutes", o.train.max_minutes, "stop after this much wall time (0: no limit)")->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--lr", o.train.learning_rate, "peak learning rate")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--warmup", o.train.warmup_steps, "linear warmup steps")->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--weight-decay", o.train.weight_decay, "AdamW weight decay on matrices")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--clip", o.train.clip_norm, "gradient norm clip (0: off)")->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--eval-every", o.train.eval_every, "steps between held-out evaluations")->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--validation", o.validation_fraction, "held-out fraction of the data")->check(CLI::Range(0.0, 0.5));
  cmd->add_option("--checkpoint-every", o.train.checkpoint_every, "steps between checkpoints")->check(CLI::Range(1, 1 << 30));
  cmd->add_flag("--resume", o.train.resume, "continue from the checkpoint in --out");
  cmd->add_option("-s,--seed", o.train.seed, "seed for initialisation and data order");
  cmd->add_option("-t,--threads", o.threads, "worker threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_option("--precision", o.precision,
                  "matrix product operands: f32, or bf16 (f32 accumulation, f32 weights and optimizer; needs "
                  "AVX512-BF16). Default: RPU_TRAIN_GEMM, else bf16 where the CPU has it, else f32");
}

// Settles the products' precision before any work, so a bad --precision / RPU_TRAIN_GEMM or
// bf16 on a CPU without it fails first; returns its name for the start-up line.
const char* choose_precision(const TrainCliOptions& o) {
  if (!o.precision.empty()) train::set_gemm_precision(train::parse_gemm_precision(o.precision, "--precision"));
  return train::to_string(train::gemm_precision());
}

void print_progress(const std::string& line) {
  static const bool tty = isatty(STDERR_FILENO);
  if (tty) {
    std::fprintf(stderr, "\r\033[2K%s", line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

void finish(const train::TrainReport& r, const std::string& what) {
  if (isatty(STDERR_FILENO)) std::fputc('\n', stderr);
  std::fprintf(stderr,
               "rpu: %d steps, %lld tokens in %.1f s (%.0f tok/s); loss %.4f -> %.4f; held-out %.4f -> %.4f; wrote %s\n",
               r.steps, static_cast<long long>(r.tokens), r.seconds, r.tokens_per_second, r.first_loss, r.last_loss,
               r.first_validation_loss, r.last_validation_loss, what.c_str());
}

// --fit-vocab: the fitted vocabulary is written to OUT/tokenizer.gguf as soon as it exists, so
// --resume reads the pieces the checkpoint was trained with even when --data has changed (a
// second stage on other data): refitting would give other pieces, and a checkpoint whose
// embedding rows mean other pieces still loads (only sizes are checked).
std::string fitted_vocab_path(const TrainCliOptions& o) { return o.out_dir + "/tokenizer.gguf"; }

train::GgufMetadata tokenizer_keys_of(const GgufFile& file) {
  train::GgufMetadata keys;
  for (const auto& [key, value] : file.metadata()) {
    if (key.starts_with("tokenizer.")) keys.emplace_back(key, value);
  }
  return keys;
}

// A vocabulary of o.fit_vocab pieces fitted to the text of --data as the model will read it
// (conversations rendered with `chat_template`), with `base`'s BOS/EOS flags and template.
train::GgufMetadata fit_vocabulary(const TrainCliOptions& o, const GgufFile& base, const std::string& chat_template) {
  const std::string saved = fitted_vocab_path(o);
  const bool has_checkpoint = std::filesystem::exists(o.out_dir + "/checkpoint.bin");
  if (o.train.resume && std::filesystem::exists(saved)) {
    std::fprintf(stderr, "rpu: --resume: reading the fitted vocabulary from %s (not refitting)\n", saved.c_str());
    return tokenizer_keys_of(GgufFile::open(saved));
  }
  if (o.train.resume && has_checkpoint) {
    fail("--fit-vocab with --resume: {} has a checkpoint but no fitted vocabulary ({}): it was trained with "
         "--tokenizer-from's vocabulary; resume it with that instead",
         o.out_dir, saved);
  }
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::string> texts = train::training_texts(o.data, chat_template);
  size_t bytes = 0;
  for (const std::string& t : texts) bytes += t.size();
  if (bytes == 0) fail("--fit-vocab: the training data has no text to fit a vocabulary to");
  VocabFitOptions fit;
  fit.size = o.fit_vocab;
  const FittedVocab vocab = fit_spm_vocab(texts, fit);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr, "rpu: fitted a %zu-piece vocabulary (%d merges) to %zu texts (%.1f MB) in %.1f s; wrote %s\n",
               vocab.pieces.size(), vocab.merges, texts.size(), static_cast<double>(bytes) / 1e6, seconds, saved.c_str());
  if (static_cast<int>(vocab.pieces.size()) < o.fit_vocab) {
    std::fprintf(stderr, "rpu: warning: --fit-vocab %d: the data has no pair seen twice after %zu pieces; the vocabulary "
                 "has %zu pieces\n", o.fit_vocab, vocab.pieces.size(), vocab.pieces.size());
  }
  train::GgufMetadata keys = train::fitted_tokenizer_keys(base, vocab);
  std::filesystem::create_directories(o.out_dir);
  GgufWriter writer;
  for (const auto& [key, value] : keys) writer.set(key, value);
  writer.write(saved);
  return keys;
}

int run_train(TrainCliOptions& o) {
  const char* precision = choose_precision(o);
  if (o.fit_vocab == 0 && o.tokenizer_source.empty()) {
    fail("rpu train needs a vocabulary: --tokenizer-from GGUF (copy a model's tokenizer) or --fit-vocab N (fit N pieces to "
         "--data)");
  }
  if (o.fit_vocab != 0 && (o.fit_vocab < 259 || o.fit_vocab > kMaxFittedVocab)) {
    fail("--fit-vocab {}: a fitted vocabulary has 259 to {} pieces (3 special and 256 byte tokens, then characters and "
         "merges)",
         o.fit_vocab, kMaxFittedVocab);
  }
  if (o.fit_vocab == 0 && o.train.resume && std::filesystem::exists(fitted_vocab_path(o)) &&
      std::filesystem::exists(o.out_dir + "/checkpoint.bin")) {
    fail("{} was trained with a fitted vocabulary ({}): resume it with --fit-vocab", o.out_dir, fitted_vocab_path(o));
  }
  // A fresh run with a copied vocabulary: an earlier fitted run's vocabulary must not outlive it.
  if (o.fit_vocab == 0 && !o.train.resume) std::filesystem::remove(fitted_vocab_path(o));
  const GgufFile source =
      o.tokenizer_source.empty() ? train::metadata_as_file({}) : GgufFile::open(o.tokenizer_source);
  std::string chat_template = source.get_string("tokenizer.chat_template");
  if (!o.chat_template_path.empty()) chat_template = read_text_file(o.chat_template_path);
  train::ModelMetadata meta = o.fit_vocab > 0
                                  ? train::fresh_model_metadata(o.spec, fit_vocabulary(o, source, chat_template))
                                  : train::fresh_model_metadata(o.spec, source);
  std::erase_if(meta.metadata, [](const auto& kv) { return kv.first == "tokenizer.chat_template"; });
  if (!chat_template.empty()) meta.metadata.emplace_back("tokenizer.chat_template", GgufValue::str(chat_template));
  const auto tokenizer = Tokenizer::from_gguf(train::metadata_as_file(meta.metadata));
  o.train.out_dir = o.out_dir;
  const train::TrainData data = train::load_training_data(o.data, *tokenizer, chat_template,
                                                          o.train.seq_len, o.validation_fraction);
  if (data.truncated > 0) {
    std::fprintf(stderr, "rpu: warning: %lld examples were longer than --seq-len %d and were truncated\n",
                 static_cast<long long>(data.truncated), o.train.seq_len);
  }
  auto params = train::DecoderParams<float>::random(meta.config, /*tied_output=*/true, o.train.seed);
  ThreadPool pool(thread_count(o.threads));
  std::fprintf(stderr, "rpu: training %s from scratch: %lld parameters, %d-piece vocabulary, %zu examples (%zu held out), "
               "%s products\n",
               o.spec.name.c_str(), static_cast<long long>(params.n_trainable()), meta.config.n_vocab, data.train.size(),
               data.validation.size(), precision);
  const auto report = train::run_training(params, data, o.train, &pool, nullptr, print_progress);
  const std::string path = o.out_dir + "/model.gguf";
  params.save_gguf(path, meta.metadata);
  finish(report, path);
  return 0;
}

int run_finetune(TrainCliOptions& o) {
  const char* precision = choose_precision(o);
  auto [base, tokenizer] = load_model_with_tokenizer(o.base_path);
  o.train.out_dir = o.out_dir;
  const train::TrainData data = train::load_training_data(o.data, *tokenizer, tokenizer->vocab().chat_template,
                                                          o.train.seq_len, o.validation_fraction);
  auto params = train::DecoderParams<float>::from_gguf(base->file());
  if (!o.full) {
    o.lora.targets.clear();
    for (size_t start = 0; start <= o.lora_targets.size();) {
      const size_t comma = std::min(o.lora_targets.find(',', start), o.lora_targets.size());
      if (comma > start) o.lora.targets.push_back(o.lora_targets.substr(start, comma - start));
      start = comma + 1;
    }
    o.lora.seed = o.train.seed;
    params.add_lora(o.lora);
  }
  std::unique_ptr<Model> teacher;
  if (!o.teacher_path.empty()) {
    teacher = Model::load(o.teacher_path);
    if (o.train.distill_weight <= 0) o.train.distill_weight = 0.5;
  }
  ThreadPool pool(thread_count(o.threads));
  std::fprintf(stderr, "rpu: fine-tuning %s (%s): %lld trainable parameters, %zu examples (%zu held out), %s products\n",
               o.base_path.c_str(), o.full ? "full" : "LoRA", static_cast<long long>(params.n_trainable()),
               data.train.size(), data.validation.size(), precision);
  const auto report = train::run_training(params, data, o.train, &pool, teacher.get(), print_progress);
  std::string path;
  if (o.full) {
    path = o.out_dir + "/model.gguf";
    params.save_gguf(path, base->file());
  } else {
    std::map<std::string, LoraPair> pairs;
    for (const auto& t : params.tensors()) {
      const std::string suffix = ".lora_a";
      if (t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
      const std::string weight = t.name.substr(0, t.name.size() - suffix.size());
      const auto* b = params.find(weight + ".lora_b");
      LoraPair pair;
      pair.rank = static_cast<int>(t.rows);
      pair.in = t.cols;
      pair.out = b->rows;
      pair.a = t.values;
      pair.b = b->values;
      pairs.emplace(weight, std::move(pair));
    }
    path = o.out_dir + "/adapter.gguf";
    write_lora_gguf(path, base->config().arch->name, static_cast<float>(params.lora_alpha()), pairs);
  }
  finish(report, path);
  return 0;
}

}  // namespace

Action add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* cmd = app.add_subcommand("train", "train a small model from scratch on JSONL data");
  cmd->add_option("--tokenizer-from", o->tokenizer_source,
                  "GGUF whose tokenizer and chat template the model uses (with --fit-vocab: only its chat template and "
                  "BOS/EOS flags)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--fit-vocab", o->fit_vocab,
                  "fit a SentencePiece-style vocabulary of N pieces (259-65536) to the text of --data, as rpu convert "
                  "does for specialists, instead of copying --tokenizer-from's; kept in OUT/tokenizer.gguf for --resume");
  cmd->add_option("--chat-template", o->chat_template_path, "Jinja chat template to store in the model (default: the tokenizer source's)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--embd", o->spec.n_embd, "model width")->check(CLI::Range(8, 8192));
  cmd->add_option("--layers", o->spec.n_layer, "decoder layers")->check(CLI::Range(1, 256));
  cmd->add_option("--heads", o->spec.n_head, "attention heads")->check(CLI::Range(1, 256));
  cmd->add_option("--kv-heads", o->spec.n_head_kv, "key/value heads (grouped-query attention)")->check(CLI::Range(1, 256));
  cmd->add_option("--ff", o->spec.n_ff, "feed-forward width")->check(CLI::Range(8, 65536));
  cmd->add_option("--ctx", o->spec.n_ctx, "context length written into the model")->check(CLI::Range(8, 1 << 20));
  cmd->add_option("--name", o->spec.name, "general.name of the model");
  add_training_options(cmd, *o);
  return [o] { return run_train(*o); };
}

Action add_finetune_command(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  o->train.learning_rate = 2e-4f;
  CLI::App* cmd = app.add_subcommand("finetune", "fine-tune a model (LoRA by default, or --full) on JSONL data");
  cmd->add_option("base", o->base_path, "model to start from (GGUF)")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--full", o->full, "train every weight instead of a LoRA adapter");
  cmd->add_option("--lora-rank", o->lora.rank, "adapter rank")->check(CLI::Range(1, 4096));
  cmd->add_option("--lora-alpha", o->lora.alpha, "adapter scale numerator (scale = alpha / rank)")->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--lora-targets", o->lora_targets, "adapted linears: any of q,k,v,o,gate,up,down");
  cmd->add_option("--teacher", o->teacher_path, "teacher model (GGUF, same tokenizer) to distill from")->check(CLI::ExistingFile);
  cmd->add_option("--distill-weight", o->train.distill_weight, "share of the distillation loss (default 0.5 with --teacher)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--temperature", o->train.temperature, "distillation temperature")->check(CLI::Range(0.01, 100.0));
  add_training_options(cmd, *o);
  return [o] { return run_finetune(*o); };
}

}  // namespace rpu::cli
