#include "convert/train_specialist.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_trainer.h"

namespace rpu::convert {
namespace {

float default_lr(TrainFrom from) {
  switch (from) {
    case TrainFrom::kLora: return 1e-3f;    // adapters start at zero: a large step is safe
    case TrainFrom::kFull: return 3e-4f;    // every weight moves: stay near the base
    case TrainFrom::kScratch: return 2e-3f; // the built-in model's from-scratch rate
  }
  return 1e-3f;
}

train::TrainOptions trainer_options(const SpecialistOptions& o) {
  train::TrainOptions t;
  t.seq_len = o.seq_len;
  t.batch_rows = o.batch_rows;
  t.epochs = o.epochs;
  t.max_steps = o.max_steps;
  t.max_minutes = o.minutes;
  t.learning_rate = o.learning_rate > 0 ? o.learning_rate : default_lr(o.from);
  // A short run must still reach its peak rate: warmup at most a tenth of the steps.
  t.warmup_steps = o.max_steps > 0 ? std::clamp(o.max_steps / 10, 1, 20) : 20;
  t.eval_every = o.max_steps > 0 ? std::max(1, o.max_steps / 4) : 50;
  t.eval_rows = 8;
  t.checkpoint_every = 1 << 30;  // a specialist run is short: retrain rather than resume
  t.seed = o.seed;
  t.out_dir = o.out_dir;
  return t;
}

}  // namespace

train::FreshModelSpec scratch_size(const std::string& name) {
  train::FreshModelSpec s;
  s.name = "rpu-specialist-" + name;
  s.n_ctx = 2048;
  if (name == "xs") {
    s.n_embd = 128, s.n_layer = 2, s.n_head = 4, s.n_head_kv = 2, s.n_ff = 384;
  } else if (name == "s") {
    s.n_embd = 192, s.n_layer = 4, s.n_head = 6, s.n_head_kv = 2, s.n_ff = 512;
  } else if (name == "m") {
    s.n_embd = 256, s.n_layer = 6, s.n_head = 8, s.n_head_kv = 4, s.n_ff = 768;
  } else {
    fail("unknown scratch size '{}' (expected xs, s or m)", name);
  }
  return s;
}

std::string train_from_name(TrainFrom from) {
  switch (from) {
    case TrainFrom::kLora: return "lora";
    case TrainFrom::kFull: return "full";
    case TrainFrom::kScratch: return "scratch";
  }
  return "lora";
}

TrainFrom train_from_parse(const std::string& text, std::string* size) {
  if (text == "builtin" || text == "lora") return TrainFrom::kLora;
  if (text == "full") return TrainFrom::kFull;
  if (text == "scratch" || text.starts_with("scratch:")) {
    const std::string s = text == "scratch" ? "s" : text.substr(8);
    scratch_size(s);  // validates
    if (size != nullptr) *size = s;
    return TrainFrom::kScratch;
  }
  fail("unknown training start '{}' (expected builtin, lora, full or scratch:SIZE)", text);
}

namespace {

// Every message's text in a training file ({"messages": [...]} per line): the corpus a
// specialist's vocabulary is fitted to.
std::vector<std::string> message_texts(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot read", path);
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(in, line)) {
    const auto row = nlohmann::json::parse(line, nullptr, false);
    if (!row.is_object() || !row.contains("messages") || !row["messages"].is_array()) continue;
    for (const auto& m : row["messages"]) {
      if (m.is_object() && m.contains("content") && m["content"].is_string()) texts.push_back(m["content"].get<std::string>());
    }
  }
  return texts;
}

}  // namespace

Specialist train_specialist(const Model& base, const std::vector<const LoggedCall*>& calls, const SplitOptions& split,
                            const SpecialistOptions& o, const std::function<void(const std::string&)>& progress) {
  if (o.out_dir.empty()) fail("train_specialist: no output directory");
  std::filesystem::create_directories(o.out_dir);
  Specialist out;
  out.training_file = o.out_dir + "/train.jsonl";
  out.model_path = o.out_dir + "/model.gguf";
  out.data = write_training_file(calls, split, out.training_file);
  if (out.data.written == 0) fail("no trainable calls for this cluster ({} held out)", out.data.held_out_skipped);
  // S5's promise, checked on the file itself before a step is trained: no held-out request in it.
  const auto leaks = held_out_in_training_file(split_calls(calls, split).held_out, out.training_file);
  if (!leaks.empty()) fail("{}: {} held-out calls in the training file (first: {})", out.training_file, leaks.size(), leaks[0]);

  // From scratch with a fitted vocabulary: the model reads the cluster's text in its own pieces.
  train::ModelMetadata fresh;
  std::unique_ptr<Tokenizer> tokenizer;
  if (o.from == TrainFrom::kScratch) {
    if (o.vocab_size > 0) {
      VocabFitOptions fit;
      fit.size = o.vocab_size;
      const FittedVocab vocab = fit_spm_vocab(message_texts(out.training_file), fit);
      fresh = train::fresh_model_metadata(scratch_size(o.size), train::fitted_tokenizer_keys(base.file(), vocab));
    } else {
      fresh = train::fresh_model_metadata(scratch_size(o.size), base.file());
    }
    tokenizer = Tokenizer::from_gguf(train::metadata_as_file(fresh.metadata));
  } else {
    tokenizer = Tokenizer::from_gguf(base.file());
  }
  out.vocab_size = tokenizer->vocab().size();
  const std::string& chat_template = tokenizer->vocab().chat_template;
  const train::TrainOptions topt = trainer_options(o);
  const train::TrainData data =
      train::load_training_data({out.training_file}, *tokenizer, chat_template, o.seq_len, o.validation_fraction);
  out.truncated = data.truncated;
  ThreadPool pool(std::max(1, o.threads));
  train::DecoderParams<float> params;
  if (o.from == TrainFrom::kScratch) {
    params = train::DecoderParams<float>::random(fresh.config, /*tied_output=*/true, o.seed);
  } else {
    params = train::DecoderParams<float>::from_gguf(base.file());
    if (o.from == TrainFrom::kLora) {
      train::LoraOptions lora;
      lora.rank = o.lora_rank;
      lora.alpha = 2.0 * o.lora_rank;
      lora.seed = o.seed;
      params.add_lora(lora);
    }
  }
  out.parameters = params.n_trainable();
  out.report = train::run_training(params, data, topt, &pool, nullptr, progress ? progress : [](const std::string&) {});
  out.steps_per_second = out.report.seconds > 0 ? out.report.steps / out.report.seconds : 0;
  // LoRA adapters are merged into their weights on save: the specialist is one plain model.
  if (o.from == TrainFrom::kScratch) {
    params.save_gguf(out.model_path, fresh.metadata);
  } else {
    params.save_gguf(out.model_path, base.file());
  }
  return out;
}

}  // namespace rpu::convert
