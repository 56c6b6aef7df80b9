// S5: train a specialist for one cluster with rpu's trainer, in this process (train/trainer.h;
// no `rpu finetune` child process: the library gives the same loop, and the caller keeps the
// report). The cluster's trainable calls are written to DIR/train.jsonl (training_file.h: the
// held-out split is never in it), then one of:
//   fine-tune   the base model (the built-in one, or any GGUF) with LoRA adapters (merged
//               into the weights on save) or every weight;
//   scratch     a fresh llama model of a preset size, with the base model's chat template (so
//               it reads and answers in the same format) and a vocabulary of vocab_size pieces
//               fitted to the training file's text (tokenizer/vocab_trainer.h; 0: the base's);
// bounded by a time budget and a step limit. Output: DIR/model.gguf (F32), loadable by
// Model::load and usable as a select() candidate; DIR/loss.csv, DIR/loss.svg.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "convert/split.h"
#include "convert/training_file.h"
#include "model/model.h"
#include "train/decoder_params.h"
#include "train/trainer.h"

namespace rpu::convert {

enum class TrainFrom { kLora, kFull, kScratch };

// Scratch sizes (llama, tied embeddings; parameter counts with the built-in 512-token vocabulary):
//   xs  width 128, 2 layers, 4 heads / 2 KV, FFN 384   (~0.4M)
//   s   width 192, 4 layers, 6 heads / 2 KV, FFN 512   (~1.5M)
//   m   width 256, 6 layers, 8 heads / 4 KV, FFN 768   (~4.8M: the built-in model's shape)
train::FreshModelSpec scratch_size(const std::string& name);  // throws on another name

struct SpecialistOptions {
  TrainFrom from = TrainFrom::kLora;
  std::string size = "s";      // scratch only
  int vocab_size = 1024;       // scratch only: a vocabulary fitted to the cluster's text (0: the base's)
  int lora_rank = 8;
  double minutes = 5;          // wall-time budget (0: none)
  int max_steps = 200;         // optimizer steps (0: epochs decide)
  int epochs = 4;
  // 1024: a call that offers tools carries their instructions (training_file.h), ~250-520
  // tokens in a fitted vocabulary, and a call cut at seq_len loses its answer. Rows are packed
  // and attention stays inside each call, so 2 x 1024 costs what 4 x 512 did.
  int seq_len = 1024;
  int batch_rows = 2;
  float learning_rate = 0;     // 0: by kind (LoRA 1e-3, full 3e-4, scratch 2e-3)
  double validation_fraction = 0.05;  // of the training file, for the loss curve only
  int threads = 2;
  uint64_t seed = 1;
  std::string out_dir;
};

struct Specialist {
  std::string model_path;      // out_dir/model.gguf
  std::string training_file;   // out_dir/train.jsonl
  TrainingFileReport data;
  int64_t parameters = 0;      // trainable
  int vocab_size = 0;          // pieces of the vocabulary it reads with (fitted, or its base's)
  int64_t truncated = 0;       // training conversations cut to seq_len
  train::TrainReport report;
  double steps_per_second = 0;
};

std::string train_from_name(TrainFrom from);
TrainFrom train_from_parse(const std::string& text, std::string* size);  // "builtin"|"lora"|"full"|"scratch:S"

// base: fine-tune start point, or the tokenizer/template source for scratch. Throws rpu::Error.
Specialist train_specialist(const Model& base, const std::vector<const LoggedCall*>& calls, const SplitOptions& split,
                            const SpecialistOptions& options, const std::function<void(const std::string&)>& progress);

}  // namespace rpu::convert
