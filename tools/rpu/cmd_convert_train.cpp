// rpu convert train (S5): train a specialist for one cluster on its trainable calls (never
// the held-out split) with rpu's trainer, in process (src/convert/train_specialist.h, which
// checks the training file for held-out leaks first), and with --evaluate score the result on
// the held-out calls.
#include <cstdio>
#include <fstream>
#include <memory>
#include <unistd.h>

#include "commands.h"
#include "convert/evaluate.h"
#include "convert/train_specialist.h"
#include "convert_call_flags.h"
#include "options.h"
#include "tokenizer/vocab_trainer.h"

namespace rpu::cli {
namespace {

struct TrainFlags {
  ConvertCallFlags calls;
  std::string from = "builtin";
  std::string base;  // a GGUF instead of the built-in model
  convert::SpecialistOptions options;
  bool evaluate = false;
  int max_tokens = 256;
};

void progress_line(const std::string& line) {
  static const bool tty = isatty(STDERR_FILENO);
  static int n = 0;
  if (tty) {
    std::fprintf(stderr, "\r\033[2K%s", line.c_str());
  } else if (++n % 10 == 0) {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

nlohmann::ordered_json report_json(const TrainFlags& f, const convert::Specialist& s) {
  const auto& r = s.report;
  return {{"model", s.model_path},
          {"from", convert::train_from_name(f.options.from)},
          {"size", f.options.from == convert::TrainFrom::kScratch ? f.options.size : ""},
          {"training_file", s.training_file},
          {"examples", s.data.written},
          {"held_out_skipped", s.data.held_out_skipped},
          {"foreign_placeholders_skipped", s.data.foreign_placeholders},
          {"trainable_parameters", s.parameters},
          {"vocab_size", s.vocab_size},
          {"truncated_examples", s.truncated},
          {"steps", r.steps},
          {"tokens", r.tokens},
          {"seconds", r.seconds},
          {"steps_per_second", s.steps_per_second},
          {"tokens_per_second", r.tokens_per_second},
          {"loss", {r.first_loss, r.last_loss}},
          {"validation_loss", {r.first_validation_loss, r.last_validation_loss}}};
}

int run_convert_train(TrainFlags& f) {
  std::vector<convert::LoggedCall> calls;
  const auto cluster = load_cluster(f.calls, calls);
  const convert::SplitOptions split_options = convert::cluster_split(f.calls.split, cluster);
  const convert::Split split = convert::split_calls(cluster, split_options);
  f.options.from = convert::train_from_parse(f.from, &f.options.size);
  const std::unique_ptr<Model> base = f.base.empty() ? load_builtin_model() : Model::load(f.base);
  std::fprintf(stderr, "rpu: %zu calls in the cluster: %zu trainable, %zu held out; training %s%s\n", cluster.size(),
               split.train.size(), split.held_out.size(), convert::train_from_name(f.options.from).c_str(),
               f.options.from == convert::TrainFrom::kScratch ? (" " + f.options.size).c_str() : "");
  const convert::Specialist s = convert::train_specialist(*base, cluster, split_options, f.options, progress_line);
  if (isatty(STDERR_FILENO)) std::fputc('\n', stderr);
  nlohmann::ordered_json report = report_json(f, s);
  if (f.evaluate && !split.held_out.empty()) {
    auto local = convert::open_local_model(Model::load(s.model_path), s.model_path, 2, f.options.threads);
    convert::EvaluateOptions eo;
    eo.max_tokens = f.max_tokens;
    eo.parallel = 2;
    const auto ev = convert::evaluate(*local->backend, split.held_out, eo);
    report["held_out"] = {{"calls", ev.calls.size()}, {"score", ev.mean_score}, {"latency_p50_ms", ev.latency_p50_ms}};
  }
  std::ofstream(f.options.out_dir + "/specialist.json") << report.dump(2) << '\n';
  std::printf("%s\n", report.dump(2).c_str());
  return 0;
}

}  // namespace

void add_convert_train(CLI::App& convert, ConvertSteps& steps) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = convert.add_subcommand("train", "train a specialist on a cluster's calls (S5)");
  add_call_flags(cmd, f->calls);
  cmd->add_option("--from", f->from, "builtin (LoRA on the built-in model), full (every weight) or scratch:xs|s|m");
  cmd->add_option("--base", f->base, "start from this GGUF instead of the built-in model")->check(CLI::ExistingFile);
  cmd->add_option("--minutes", f->options.minutes, "wall-time budget (0: none)")->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--steps", f->options.max_steps, "optimizer steps (0: --epochs decide)")->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--epochs", f->options.epochs, "passes over the training calls")->check(CLI::Range(1, 100000));
  cmd->add_option("--seq-len", f->options.seq_len, "tokens per packed row")->check(CLI::Range(8, 1 << 16));
  cmd->add_option("--batch", f->options.batch_rows, "packed rows per step")->check(CLI::Range(1, 4096));
  cmd->add_option("--lr", f->options.learning_rate, "peak learning rate (default by --from)")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--vocab", f->options.vocab_size,
                  "--from scratch: pieces of a vocabulary fitted to the cluster's text (0: the base model's)")
      ->check(CLI::Range(0, 0) | CLI::Range(259, kMaxFittedVocab));
  cmd->add_option("--lora-rank", f->options.lora_rank, "adapter rank (--from builtin)")->check(CLI::Range(1, 4096));
  cmd->add_option("-t,--threads", f->options.threads, "worker threads")->check(CLI::Range(1, 1024));
  cmd->add_option("-s,--seed", f->options.seed, "seed for initialisation and data order");
  cmd->add_flag("--evaluate", f->evaluate, "score the trained model on the held-out calls");
  cmd->add_option("--max-tokens", f->max_tokens, "longest answer per held-out call (--evaluate)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("-o,--out", f->options.out_dir, "output directory (model.gguf, train.jsonl, loss.csv, specialist.json)")
      ->required();
  steps.emplace_back(cmd, [f] { return run_convert_train(*f); });
}

}  // namespace rpu::cli
