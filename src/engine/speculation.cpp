#include "engine/speculation.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "io/gguf.h"

namespace rpu {

void SpeculationOptions::validate() const {
  if (draft_max < 1 || draft_max > 64) fail("draft-max must be between 1 and 64, got {}", draft_max);
  if (ngram_min < 1 || ngram_max < ngram_min || ngram_max > 16) {
    fail("lookup n-gram sizes must satisfy 1 <= min <= max <= 16, got {}..{}", ngram_min, ngram_max);
  }
  if (!(draft_p_min >= 0.0f && draft_p_min <= 1.0f)) fail("draft-p-min must be in [0, 1], got {}", draft_p_min);
}

std::vector<int32_t> lookup_draft(std::span<const int32_t> context, int ngram_min, int ngram_max, int max_tokens) {
  const int size = static_cast<int>(context.size());
  for (int n = std::min(ngram_max, size - 1); n >= ngram_min; --n) {
    const std::span<const int32_t> tail = context.subspan(static_cast<size_t>(size - n));
    // Most recent earlier occurrence first: recent text predicts best what follows.
    for (int start = size - n - 1; start >= 0; --start) {
      if (!std::equal(tail.begin(), tail.end(), context.begin() + start)) continue;
      // Copied as LZ77 copies: past the context's end the copy reads its own output, so a
      // repeating stretch (a match a few tokens back) still yields a full-length guess.
      std::vector<int32_t> guess;
      for (int i = start + n; static_cast<int>(guess.size()) < max_tokens; ++i) {
        guess.push_back(i < size ? context[static_cast<size_t>(i)] : guess[static_cast<size_t>(i - size)]);
      }
      return guess;
    }
  }
  return {};
}

namespace {

float probability_of(std::span<const TokenProb> dist, int32_t token) {
  for (const TokenProb& t : dist) {
    if (t.id == token) return t.prob;
  }
  return 0.0f;
}

int32_t draw(std::span<const TokenProb> dist, double total, double u) {
  double r = u * total;
  for (const TokenProb& t : dist) {
    r -= t.prob;
    if (r < 0.0) return t.id;
  }
  return dist.back().id;
}

}  // namespace

int DraftBudget::next(int draft_max) {
  if (pause_ > 0) {
    --pause_;
    return 0;
  }
  return std::min(limit_, draft_max);
}

void DraftBudget::update(int guessed, int kept, int draft_max) {
  if (guessed <= 0) return;  // nothing was tried: no news
  if (kept == 0) {
    limit_ = 1;
    pause_ = next_pause_;
    next_pause_ = std::min(kMaxPause, 2 * next_pause_);
    return;
  }
  limit_ = kept == guessed ? 2 * std::min(limit_, draft_max) : kept + 1;
  limit_ = std::min(limit_, draft_max);
  next_pause_ = 1;
}

DraftVerdict verify_draft(const DraftToken& draft, std::span<const TokenProb> p, Sampler& uniform) {
  if (p.empty()) fail("cannot verify a draft against an empty distribution");
  const double p_x = probability_of(p, draft.token);
  const double q_x = draft.q.empty() ? 1.0 : probability_of(draft.q, draft.token);
  // Accept with probability min(1, p/q); no draw is spent when the answer is certain (greedy).
  if (p_x > 0.0 && (p_x >= q_x || uniform.uniform() * q_x < p_x)) return {draft.token, true};
  // Rejected: draw from the residual max(0, p - q), which excludes the draft token's excess.
  thread_local std::vector<TokenProb> residual;
  residual.clear();
  for (const TokenProb& t : p) {
    const double q_t = draft.q.empty() ? (t.id == draft.token ? 1.0 : 0.0) : probability_of(draft.q, t.id);
    const double r = std::max(0.0, static_cast<double>(t.prob) - q_t);
    if (r <= 0.0) continue;
    residual.push_back({t.id, static_cast<float>(r)});
  }
  if (residual.empty()) return {draw(p, 1.0, uniform.uniform()), false};  // p == q up to rounding
  double sum = 0.0;
  for (const TokenProb& t : residual) sum += t.prob;
  return {draw(residual, sum, uniform.uniform()), false};
}

void check_draft_vocabulary(const Model& target, const Model& draft) {
  const std::string& path = draft.file().path();
  if (draft.config().arch->encoder) fail("draft model {} is an embedding model; it cannot propose tokens", path);
  if (draft.config().n_vocab != target.config().n_vocab) {
    fail("draft model {} has a vocabulary of {} tokens but the model has {}: a draft needs the same vocabulary", path,
         draft.config().n_vocab, target.config().n_vocab);
  }
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
    const GgufValue* a = target.file().find(key);
    const GgufValue* b = draft.file().find(key);
    if ((a == nullptr) != (b == nullptr) || (a != nullptr && !(*a == *b))) {
      fail("draft model {} does not share the model's vocabulary ({} differs)", path, key);
    }
  }
}

DraftModel::DraftModel(const Model& model, int n_ctx, int n_seq, ThreadPool* pool)
    : forward_(model, n_ctx, n_seq, pool), history_(static_cast<size_t>(n_seq)) {}

void DraftModel::reset() {
  for (size_t seq = 0; seq < history_.size(); ++seq) {
    forward_.rewind(static_cast<int>(seq), 0);
    history_[seq].clear();
  }
}

void DraftModel::catch_up(const Job& job, std::vector<SequenceChunk>& chunks) {
  // Keep what the cache shares with the context (at least the last token is evaluated again,
  // for its logits); the rest (old guesses, another request's tokens) is forgotten.
  std::vector<int32_t>& history = history_[static_cast<size_t>(job.seq)];
  size_t keep = 0;
  while (keep < history.size() && keep < job.context.size() && history[keep] == job.context[keep]) ++keep;
  keep = std::min(keep, job.context.size() - 1);
  forward_.rewind(job.seq, static_cast<int>(keep));
  history.resize(keep);
  const std::span<const int32_t> rest = job.context.subspan(keep);
  history.insert(history.end(), rest.begin(), rest.end());
  chunks.push_back({job.seq, rest, ChunkOutput::kLastLogits, rest.size() > 1});
}

void DraftModel::draft(std::span<Job> jobs, float p_min) {
  std::vector<SequenceChunk> chunks;
  std::vector<size_t> active;  // jobs still guessing, in chunk order
  std::vector<std::unique_ptr<Sampler>> samplers(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    Job& job = jobs[j];
    job.out->clear();
    if (job.max_tokens <= 0 || job.context.empty()) continue;
    catch_up(job, chunks);
    active.push_back(j);
    // The target's truncation and temperature without penalties: q may be any distribution,
    // as long as each guess is drawn from the q recorded with it.
    SamplingParams params = *job.sampling;
    params.repeat_penalty = 1.0f;
    params.frequency_penalty = params.presence_penalty = 0.0f;
    params.logit_bias.clear();
    params.seed = rng_.next();
    samplers[j] = std::make_unique<Sampler>(params);
  }
  std::vector<TokenProb> q;
  const size_t n_vocab = static_cast<size_t>(forward_.model().config().n_vocab);
  while (!chunks.empty()) {
    forward_.eval(chunks);
    std::vector<size_t> still;
    for (size_t i = 0; i < chunks.size(); ++i) {
      Job& job = jobs[active[i]];
      const std::span<const float> logits = forward_.logits().subspan(i * n_vocab, n_vocab);
      Sampler& sampler = *samplers[active[i]];
      sampler.distribution(logits, q);
      const int32_t token = q.size() == 1 ? q.front().id : draw(q, 1.0, sampler.uniform());
      float confidence = probability_of(q, token);
      if (job.sampling->temperature <= 0.0f) {
        // A greedy guess is a point mass; its confidence is the draft's softmax top probability.
        float max_logit = -std::numeric_limits<float>::infinity();
        for (float l : logits) max_logit = std::max(max_logit, l);
        double sum = 0.0;
        for (float l : logits) sum += std::exp(static_cast<double>(l - max_logit));
        confidence = static_cast<float>(1.0 / sum);
      }
      // Too unsure: stop before this guess (the first guess is always kept).
      if (confidence < p_min && !job.out->empty()) continue;
      job.out->push_back({token, job.sampling->temperature <= 0.0f ? std::vector<TokenProb>{} : q});
      if (static_cast<int>(job.out->size()) < job.max_tokens) still.push_back(active[i]);
    }
    // The next step evaluates each continuing job's newest guess (inputs_ outlives the eval).
    chunks.clear();
    inputs_.clear();
    for (size_t j : still) inputs_.push_back(jobs[j].out->back().token);
    for (size_t i = 0; i < still.size(); ++i) {
      const Job& job = jobs[still[i]];
      history_[static_cast<size_t>(job.seq)].push_back(inputs_[i]);
      chunks.push_back({job.seq, std::span<const int32_t>(&inputs_[i], 1), ChunkOutput::kLastLogits, false});
    }
    active.swap(still);
  }
}

}  // namespace rpu
