// The training loop shared by `rpu train` (from scratch) and `rpu finetune` (full or LoRA,
// optionally distilled from a teacher): packed batches -> Decoder forward/backward ->
// gradient accumulation -> AdamW with warmup + cosine, periodic held-out loss, a CSV loss log
// and SVG curve, checkpoints that a later run resumes from.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/decoder_params.h"

namespace rpu::train {

// One training example: tokens and which of them are prediction targets.
struct Example {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;  // mask[i]: token i is a target (predicted from tokens < i)
};

struct TrainData {
  std::vector<Example> train, validation;
  int64_t truncated = 0;  // examples cut to the sequence length (reported, never silent)
};

// Reads JSONL: {"messages": [...]} (OpenAI fine-tuning chat format, rendered with
// `chat_template`; loss on the assistant turns) or {"text": "..."} (loss on every token).
// A stable hash of each line puts ~validation_fraction of them in the held-out split.
TrainData load_training_data(const std::vector<std::string>& paths, const Tokenizer& tokenizer,
                             const std::string& chat_template, int seq_len, double validation_fraction);

// The text of every line of the same files, checked the same way: a conversation rendered whole
// with `chat_template` (no BOS/EOS markers: they are special tokens, not text), or "text".
// What `rpu train --fit-vocab` fits a vocabulary to: exactly what the model will read.
std::vector<std::string> training_texts(const std::vector<std::string>& paths, const std::string& chat_template);

struct TrainOptions {
  int seq_len = 256;
  int batch_rows = 8;     // packed rows per micro-batch
  int grad_accum = 1;     // micro-batches per optimizer step
  int epochs = 1;
  int max_steps = 0;      // > 0: stop after this many optimizer steps
  double max_minutes = 0; // > 0: stop (and save) after this much wall time
  float learning_rate = 1e-3f;
  int warmup_steps = 20;
  float final_lr_ratio = 0.1f;
  float weight_decay = 0.1f;
  float clip_norm = 1.0f;
  int eval_every = 50;    // optimizer steps between held-out evaluations
  int eval_rows = 32;     // held-out rows per evaluation
  int checkpoint_every = 200;
  uint64_t seed = 1;
  // Distillation: teacher logits mixed into the loss (same tokenizer as the student).
  double distill_weight = 0.0;
  double temperature = 2.0;
  std::string out_dir;    // loss.csv, loss.svg, checkpoint/ go here
  bool resume = false;    // continue from out_dir/checkpoint when it exists
};

struct TrainReport {
  int steps = 0;
  int64_t tokens = 0;
  double seconds = 0;
  double first_loss = 0, last_loss = 0;
  double first_validation_loss = -1, last_validation_loss = -1;  // -1: never measured
  double tokens_per_second = 0;
};

// Trains `params` in place (LoRA adapters, if added, are the only trainable tensors).
// teacher: run through the inference engine for distillation when distill_weight > 0.
// progress(line) is called with a one-line status after every step.
TrainReport run_training(DecoderParams<float>& params, const TrainData& data, const TrainOptions& options,
                         ThreadPool* pool, const Model* teacher, const std::function<void(const std::string&)>& progress);

}  // namespace rpu::train
