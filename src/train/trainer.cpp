#include "train/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "core/error.h"
#include "model/forward.h"
#include "train/decoder.h"
#include "train/optimizer.h"

namespace rpu::train {
namespace {

using Clock = std::chrono::steady_clock;

// Examples packed back to back into rows of seq_len tokens; an example never spans rows.
// Per token: position within its example, the row index where the example starts (attention
// stays inside it), the next token as target and whether that target counts.
struct PackedRows {
  int seq_len = 0;
  std::vector<int32_t> tokens, positions, segment_start, targets;
  std::vector<float> weights;
  std::vector<std::pair<int32_t, int32_t>> segments;  // (first token, length), in order
  int64_t rows() const { return static_cast<int64_t>(tokens.size()) / seq_len; }
};

PackedRows pack(const std::vector<Example>& examples, int seq_len, uint64_t shuffle_seed) {
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (shuffle_seed != 0) std::shuffle(order.begin(), order.end(), std::mt19937_64(shuffle_seed));
  PackedRows p;
  p.seq_len = seq_len;
  int used = seq_len;  // tokens used in the current row (full: start a new one)
  auto new_row = [&] {
    for (int i = 0; i < seq_len; ++i) {
      const int32_t index = static_cast<int32_t>(p.tokens.size());
      p.tokens.push_back(0);
      p.positions.push_back(0);
      p.segment_start.push_back(index);  // padding attends to itself only (starts stay non-decreasing)
      p.targets.push_back(0);
      p.weights.push_back(0.0f);
    }
    used = 0;
  };
  for (size_t idx : order) {
    const Example& e = examples[idx];
    const int len = static_cast<int>(e.tokens.size());
    if (used + len > seq_len) new_row();
    const int32_t start = static_cast<int32_t>(p.tokens.size()) - seq_len + used;
    for (int j = 0; j < len; ++j) {
      const size_t t = static_cast<size_t>(start + j);
      p.tokens[t] = e.tokens[static_cast<size_t>(j)];
      p.positions[t] = j;
      p.segment_start[t] = start;
      const bool has_next = j + 1 < len;
      p.targets[t] = has_next ? e.tokens[static_cast<size_t>(j + 1)] : 0;
      p.weights[t] = has_next && e.loss_mask[static_cast<size_t>(j + 1)] ? 1.0f : 0.0f;
    }
    p.segments.emplace_back(start, len);
    used += len;
  }
  return p;
}

// Rows [first, first + count) as one batch; segment starts are made relative to the batch.
struct BatchView {
  std::vector<int32_t> segment_start;
  TrainBatch batch;
};

BatchView view_rows(const PackedRows& p, int64_t first_row, int64_t count) {
  BatchView v;
  const size_t begin = static_cast<size_t>(first_row * p.seq_len), n = static_cast<size_t>(count * p.seq_len);
  v.segment_start.resize(n);
  for (size_t i = 0; i < n; ++i) v.segment_start[i] = p.segment_start[begin + i] - static_cast<int32_t>(begin);
  v.batch.tokens = std::span<const int32_t>(p.tokens).subspan(begin, n);
  v.batch.positions = std::span<const int32_t>(p.positions).subspan(begin, n);
  v.batch.segment_start = v.segment_start;
  v.batch.targets = std::span<const int32_t>(p.targets).subspan(begin, n);
  v.batch.weights = std::span<const float>(p.weights).subspan(begin, n);
  return v;
}

// Teacher logits [n, n_vocab] for a batch: each example of the batch run on its own through
// the inference engine (same positions as the student sees).
void teacher_logits(const Model& teacher, ForwardPass& pass, const BatchView& v, std::vector<float>& out) {
  const size_t n = v.batch.tokens.size(), vocab = static_cast<size_t>(teacher.config().n_vocab);
  out.assign(n * vocab, 0.0f);
  size_t t = 0;
  while (t < n) {
    size_t end = t + 1;
    while (end < n && v.segment_start[end] == v.segment_start[t]) ++end;
    const auto weights = v.batch.weights.subspan(t, end - t);
    if (std::any_of(weights.begin(), weights.end(), [](float w) { return w > 0; })) {
      pass.rewind(0);
      const auto logits = pass.eval(v.batch.tokens.subspan(t, end - t), /*all_logits=*/true);
      std::copy(logits.begin(), logits.end(), out.begin() + static_cast<std::ptrdiff_t>(t * vocab));
    }
    t = end;
  }
}

double evaluate(Decoder<float>& decoder, const PackedRows& rows, int eval_rows, int batch_rows) {
  double loss = 0, weight = 0;
  const int64_t total = std::min<int64_t>(rows.rows(), eval_rows);
  for (int64_t r = 0; r < total; r += batch_rows) {
    const BatchView v = view_rows(rows, r, std::min<int64_t>(batch_rows, total - r));
    const LossValue value = decoder.forward(v.batch);
    loss += value.total * value.weight_sum;
    weight += value.weight_sum;
  }
  return weight > 0 ? loss / weight : -1.0;
}

void write_svg(const std::string& path, const std::vector<std::array<double, 3>>& points) {
  // points: (tokens, train loss, validation loss or < 0)
  if (points.empty()) return;
  double max_x = 1, max_y = 0, min_y = 1e30;
  for (const auto& p : points) {
    max_x = std::max(max_x, p[0]);
    for (int k = 1; k < 3; ++k) {
      if (p[k] >= 0) {
        max_y = std::max(max_y, p[k]);
        min_y = std::min(min_y, p[k]);
      }
    }
  }
  if (min_y > max_y) return;
  min_y = std::max(0.0, min_y - 0.05 * (max_y - min_y + 1e-9));
  const double w = 800, h = 480, left = 70, right = 20, top = 40, bottom = 60;
  auto X = [&](double x) { return left + (w - left - right) * x / max_x; };
  auto Y = [&](double y) { return top + (h - top - bottom) * (1.0 - (y - min_y) / (max_y - min_y + 1e-12)); };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"24\" font-size=\"16\">training loss</text>\n",
      w, h, w, h, left);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", left, h - bottom, w - right);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", left, top, h - bottom);
  for (int i = 0; i <= 5; ++i) {
    const double yv = min_y + (max_y - min_y) * i / 5.0, xv = max_x * i / 5.0;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.3g}</text>\n", left - 6, Y(yv) + 4, yv);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.3g}</text>\n", X(xv), h - bottom + 18, xv);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">tokens seen</text>\n", (left + w - right) / 2, h - 18);
  const char* colors[3] = {"", "#1f77b4", "#d62728"};
  const char* names[3] = {"", "train", "held-out"};
  for (int k = 1; k < 3; ++k) {
    std::string pts;
    for (const auto& p : points) {
      if (p[static_cast<size_t>(k)] >= 0) pts += fmt::format("{:.1f},{:.1f} ", X(p[0]), Y(p[static_cast<size_t>(k)]));
    }
    if (pts.empty()) continue;
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", colors[k], pts);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", w - right - 80, top + 16 * k, colors[k], names[k]);
  }
  svg += "</svg>\n";
  std::ofstream(path) << svg;
}

// Where a run is, as its checkpoint records it.
struct RunPosition {
  int step = 0;
  int64_t tokens_seen = 0;
};

// The checkpoint: the position, every tensor's values, then the optimizer's moments. Written
// to a temporary file and renamed, so a run killed mid-write keeps the previous one.
void save_checkpoint(const std::string& path, const RunPosition& at, const DecoderParams<float>& params,
                     const AdamW& optimizer) {
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&at.step), sizeof at.step);
  out.write(reinterpret_cast<const char*>(&at.tokens_seen), sizeof at.tokens_seen);
  for (const auto& t : params.tensors()) {
    const uint64_t n = t.values.size();
    out.write(reinterpret_cast<const char*>(&n), sizeof n);
    out.write(reinterpret_cast<const char*>(t.values.data()), static_cast<std::streamsize>(n * sizeof(float)));
  }
  optimizer.save(out);
  out.close();
  std::filesystem::rename(tmp, path);
}

RunPosition load_checkpoint(const std::string& path, DecoderParams<float>& params, AdamW& optimizer,
                            int total_steps) {
  RunPosition at;
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(&at.step), sizeof at.step);
  in.read(reinterpret_cast<char*>(&at.tokens_seen), sizeof at.tokens_seen);
  for (auto& t : params.tensors()) {
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), sizeof n);
    if (!in || n != t.values.size()) fail("{}: checkpoint does not match this model (tensor {})", path, t.name);
    in.read(reinterpret_cast<char*>(t.values.data()), static_cast<std::streamsize>(n * sizeof(float)));
  }
  optimizer.load(in);
  // A run stopped by --minutes records the step it reached, so only a finished run gets here;
  // going on would train nothing and overwrite the model, so say what would continue it.
  if (at.step >= total_steps) {
    fail("--resume: {} is at step {}, and this run has {} steps in all: nothing left to train (raise --steps or "
         "--epochs to go on)",
         path, at.step, total_steps);
  }
  return at;
}

// The teacher's logits for distillation (none when there is no teacher or no distillation).
struct Teacher {
  const Model* model = nullptr;
  std::unique_ptr<ForwardPass> pass;
  std::vector<float> buffer;

  const float* logits(const BatchView& v) {
    if (!pass) return nullptr;
    teacher_logits(*model, *pass, v, buffer);
    return buffer.data();
  }
};

// One optimizer step's gradients: o.grad_accum micro-batches of step s's rows, forward and
// backward; returns the weighted loss sum, its weight and the tokens read.
struct StepLoss {
  double loss_sum = 0, weight_sum = 0;
  int64_t tokens = 0;
};

StepLoss accumulate_step(Decoder<float>& decoder, DecoderParams<float>& grads, Teacher& teacher,
                         const LossOptions& loss_options, const PackedRows& rows, int64_t s, const TrainOptions& o) {
  StepLoss out;
  for (int micro = 0; micro < o.grad_accum; ++micro) {
    const int64_t first = (s * o.grad_accum + micro) * o.batch_rows;
    if (first >= rows.rows()) break;
    const BatchView v = view_rows(rows, first, std::min<int64_t>(o.batch_rows, rows.rows() - first));
    const LossValue value = decoder.forward(v.batch, loss_options, teacher.logits(v));
    decoder.backward(grads);
    out.loss_sum += value.total * value.weight_sum;
    out.weight_sum += value.weight_sum;
    out.tokens += static_cast<int64_t>(v.batch.tokens.size());
  }
  return out;
}

// "[####....] step 12/100 loss 1.2345 held-out 1.3000 | 4636 tok/s | ETA 3:05"
std::string progress_line(int step, int total_steps, double loss, double held_out, double tokens_per_second,
                          double eta_seconds) {
  const int width = 24, filled = static_cast<int>(width * (step + 1) / std::max(1, total_steps));
  return fmt::format("[{}{}] step {}/{} loss {:.4f}{} | {:.0f} tok/s | ETA {}:{:02}", std::string(filled, '#'),
                     std::string(width - filled, '.'), step + 1, total_steps, loss,
                     held_out >= 0 ? fmt::format(" held-out {:.4f}", held_out) : "", tokens_per_second,
                     static_cast<int>(eta_seconds) / 60, static_cast<int>(eta_seconds) % 60);
}

// AdamW over the trainable tensors: matrices (and adapters) decay, norms and biases do not.
AdamW make_optimizer(DecoderParams<float>& params, DecoderParams<float>& grads, const TrainOptions& o) {
  AdamWOptions adam;
  adam.weight_decay = o.weight_decay;
  adam.clip_norm = o.clip_norm;
  AdamW optimizer(adam);
  auto param_tensors = params.tensors();
  auto grad_tensors = grads.tensors();
  for (size_t i = 0; i < param_tensors.size(); ++i) {
    if (!param_tensors[i].trainable) continue;
    optimizer.add(param_tensors[i].name, param_tensors[i].values, grad_tensors[i].values, !param_tensors[i].is_vector);
  }
  return optimizer;
}

// loss.csv (appended to on --resume) and the points of loss.svg.
class LossLog {
 public:
  LossLog(const std::string& out_dir, bool resume) : path_(out_dir + "/loss.csv") {
    csv_.open(path_, resume ? std::ios::app : std::ios::trunc);
    if (!resume || std::filesystem::file_size(path_) == 0) {
      csv_ << "step,tokens,train_loss,validation_loss,learning_rate,tokens_per_second\n";
    }
  }
  // held_out < 0: not evaluated at this step.
  void add(int step, int64_t tokens_seen, double loss, double held_out, float lr, double tokens_per_second) {
    csv_ << fmt::format("{},{},{:.6f},{},{:.6g},{:.1f}\n", step, tokens_seen, loss,
                        held_out >= 0 ? fmt::format("{:.6f}", held_out) : "", lr, tokens_per_second);
    csv_.flush();
    curve_.push_back({static_cast<double>(tokens_seen), loss, held_out});
  }
  const std::vector<std::array<double, 3>>& curve() const { return curve_; }

 private:
  std::string path_;
  std::ofstream csv_;
  std::vector<std::array<double, 3>> curve_;
};

void check_options(const DecoderParams<float>& params, const TrainOptions& o, const Model* teacher) {
  if (o.batch_rows < 1 || o.grad_accum < 1 || o.epochs < 1) fail("batch rows, accumulation and epochs must be >= 1");
  if (o.distill_weight > 0 && teacher == nullptr) fail("distillation needs a teacher model");
  if (teacher != nullptr && teacher->config().n_vocab != params.config().n_vocab) {
    fail("the teacher has {} tokens in its vocabulary but the student {}: distillation needs the same tokenizer",
         teacher->config().n_vocab, params.config().n_vocab);
  }
}

}  // namespace

TrainReport run_training(DecoderParams<float>& params, const TrainData& data, const TrainOptions& o, ThreadPool* pool,
                         const Model* teacher, const std::function<void(const std::string&)>& progress) {
  check_options(params, o, teacher);
  std::filesystem::create_directories(o.out_dir);
  DecoderParams<float> grads = params.zeros_like();
  AdamW optimizer = make_optimizer(params, grads, o);

  const PackedRows validation = pack(data.validation, o.seq_len, 0);
  const int64_t rows_per_epoch = pack(data.train, o.seq_len, 0).rows();
  const int64_t steps_per_epoch = std::max<int64_t>(1, rows_per_epoch / (o.batch_rows * o.grad_accum));
  int total_steps = static_cast<int>(steps_per_epoch * o.epochs);
  if (o.max_steps > 0) total_steps = std::min(total_steps, o.max_steps);
  const LearningRateSchedule schedule{o.learning_rate, o.warmup_steps, total_steps, o.final_lr_ratio};

  const std::string checkpoint = o.out_dir + "/checkpoint.bin";
  RunPosition at;
  if (o.resume && std::filesystem::exists(checkpoint)) at = load_checkpoint(checkpoint, params, optimizer, total_steps);

  Decoder<float> decoder(params, pool);
  Teacher teach;
  if (teacher != nullptr && o.distill_weight > 0) {
    teach.model = teacher;
    teach.pass = std::make_unique<ForwardPass>(*teacher, o.seq_len, pool);
  }
  LossOptions loss_options;
  loss_options.distill_weight = o.distill_weight;
  loss_options.temperature = o.temperature;

  LossLog log(o.out_dir, o.resume);

  TrainReport report;
  const auto start = Clock::now();
  int& step = at.step;
  int64_t run_tokens = 0;
  bool out_of_time = false;  // --minutes: stopped before total_steps; the checkpoint keeps the step reached
  while (step < total_steps && !out_of_time) {
    const int epoch = step / static_cast<int>(steps_per_epoch);
    const PackedRows rows = pack(data.train, o.seq_len, o.seed * 7919 + static_cast<uint64_t>(epoch) + 1);
    for (int64_t s = step % steps_per_epoch; s < steps_per_epoch && step < total_steps; ++s, ++step) {
      const StepLoss sum = accumulate_step(decoder, grads, teach, loss_options, rows, s, o);
      run_tokens += sum.tokens;
      at.tokens_seen += sum.tokens;
      optimizer.scale_grads(1.0f / static_cast<float>(o.grad_accum));
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const float lr = schedule.at(step, o.max_minutes > 0 ? elapsed / (o.max_minutes * 60) : 0.0);
      optimizer.step(lr, pool);
      const double loss = sum.weight_sum > 0 ? sum.loss_sum / sum.weight_sum : 0.0;
      const double tps = elapsed > 0 ? static_cast<double>(run_tokens) / elapsed : 0.0;
      if (report.steps == 0) report.first_loss = loss;
      report.last_loss = loss;
      ++report.steps;
      double val = -1;
      out_of_time = o.max_minutes > 0 && elapsed > o.max_minutes * 60;
      const bool last = step + 1 == total_steps || out_of_time;
      if (validation.rows() > 0 && (step % o.eval_every == 0 || last)) {
        val = evaluate(decoder, validation, o.eval_rows, o.batch_rows);
        if (report.first_validation_loss < 0) report.first_validation_loss = val;
        report.last_validation_loss = val;
      }
      log.add(step + 1, at.tokens_seen, loss, val, lr, tps);
      if (progress) {
        const double eta = tps > 0 ? (total_steps - step - 1) * (elapsed / report.steps) : 0;
        progress(progress_line(step, total_steps, loss, val, tps, eta));
      }
      if ((step + 1) % o.checkpoint_every == 0) save_checkpoint(checkpoint, {step + 1, at.tokens_seen}, params, optimizer);
      if (last) {
        ++step;
        break;
      }
    }
  }
  save_checkpoint(checkpoint, at, params, optimizer);
  write_svg(o.out_dir + "/loss.svg", log.curve());
  report.tokens = run_tokens;
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report.tokens_per_second = report.seconds > 0 ? static_cast<double>(run_tokens) / report.seconds : 0;
  return report;
}

}  // namespace rpu::train
