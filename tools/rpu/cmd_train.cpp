// rpu train (a model from scratch) and rpu finetune (full or LoRA, optionally distilled from a
// teacher): data, model and optimisation flags around train/trainer.h.
#include <cstdio>
#include <memory>
#include <unistd.h>

#include "commands.h"
#include "options.h"
#include "core/error.h"
#include "model/lora.h"
#include "train/gemm.h"
#include "train/trainer.h"

namespace rpu::cli {
namespace {

struct TrainCliOptions {
  std::string base_path;         // finetune: the model to start from
  std::string tokenizer_source;  // train: a GGUF whose tokenizer (and chat template) the model uses
  std::string chat_template_path;  // train: a Jinja chat template to store in the model instead
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

int run_train(TrainCliOptions& o) {
  const char* precision = choose_precision(o);
  const GgufFile source = GgufFile::open(o.tokenizer_source);
  const auto tokenizer = Tokenizer::from_gguf(source);
  train::ModelMetadata meta = train::fresh_model_metadata(o.spec, source);
  std::string chat_template = tokenizer->vocab().chat_template;
  if (!o.chat_template_path.empty()) {
    chat_template = read_text_file(o.chat_template_path);
    std::erase_if(meta.metadata, [](const auto& kv) { return kv.first == "tokenizer.chat_template"; });
    meta.metadata.emplace_back("tokenizer.chat_template", GgufValue::str(chat_template));
  }
  o.train.out_dir = o.out_dir;
  const train::TrainData data = train::load_training_data(o.data, *tokenizer, chat_template,
                                                          o.train.seq_len, o.validation_fraction);
  if (data.truncated > 0) {
    std::fprintf(stderr, "rpu: warning: %lld examples were longer than --seq-len %d and were truncated\n",
                 static_cast<long long>(data.truncated), o.train.seq_len);
  }
  auto params = train::DecoderParams<float>::random(meta.config, /*tied_output=*/true, o.train.seed);
  ThreadPool pool(thread_count(o.threads));
  std::fprintf(stderr, "rpu: training %s from scratch: %lld parameters, %zu examples (%zu held out), %s products\n",
               o.spec.name.c_str(), static_cast<long long>(params.n_trainable()), data.train.size(), data.validation.size(),
               precision);
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
  cmd->add_option("--tokenizer-from", o->tokenizer_source, "GGUF whose tokenizer and chat template the model uses")
      ->required()
      ->check(CLI::ExistingFile);
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
