// S4's evaluation: a candidate Backend answers a cluster's held-out calls (the logged
// messages and tools, greedy, or with a reasoning strategy: strategies.h), and each answer is
// scored against the teacher's with the call's metric (metric.h). Calls run in parallel up to
// `parallel` (the backend's slots). What a strategy costs is counted per call: its samples
// and the tokens generated over all of them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convert/answer_form.h"
#include "convert/logged_call.h"
#include "convert/metric.h"
#include "core/thread_pool.h"
#include "engine/scheduler.h"
#include "model/model.h"
#include "pipeline/local_backend.h"
#include "tokenizer/tokenizer.h"

namespace rpu::convert {

struct EvaluateOptions {
  int max_tokens = 256;    // bound per answer (a looping small model must not stall the run)
  int parallel = 1;        // calls in flight (a LocalBackend: its scheduler's slots)
  std::optional<MetricKind> metric;  // the cluster's override; none: each call's answer shape
  // The "reasoning" extension every call carries (strategies.h); null: greedy. The backend
  // must understand it (a reasoning::ReasoningBackend, as the gateway serves local models).
  nlohmann::ordered_json reasoning;
  OutputConstraints constraints;  // as the route will ask them
};

struct CallScore {
  int64_t id = 0;
  // The held-out call this one stands for: its own id, or a variant's source's (augment.h).
  // A held-out call and its variants weigh one call together in every mean (family_weights).
  int64_t family = 0;
  double weight = 1;  // 1 / its family's calls among those evaluated (set by evaluate)
  std::string metric;
  double score = 0;
  bool correct = false;
  std::string answer;  // the candidate's answer_text
  double latency_ms = 0;
  // The confidence the gateway's cascade judges the answer by (gateway/cascade.h
  // choice_confidence): the strategy's (vote share, verifier agreement) when there is one,
  // else exp(mean token logprob). S6 calibrates min_confidence on it. -1: none, or the
  // cascade escalates the answer at any threshold (an error, or cut at the token limit).
  double confidence = -1;
  // The same with the whole answer's probability as the measure (gateway ConfidenceMeasure
  // kAnswer; the strategy's when there is one). S6 calibrates on both and keeps the better.
  double answer_confidence = -1;
  // Both again with the model's own probabilities, constraints ignored (TokenReading::kModel,
  // the reading before): in `rpu convert select --details` and the state's samples, to compare.
  double model_confidence = -1, model_answer_confidence = -1;
  int samples = 1;            // answers sampled for this call (the strategy's "samples")
  int completion_tokens = 0;  // tokens generated over all of them
  std::string error;   // the call failed (scored 0)
};

// Each call's weight: 1 / the number of calls of its family, so every held-out call counts once
// however many variants it has. Why: variants can only be made of calls with values to vary
// (a number, a name), so a plain mean over-weights those; the eighth bench run's tool cluster had
// 64 held-out calls and 133 variants, none of "Call <PERSON_1> on <PHONE_1>.", whose answers
// were the ones the specialist got wrong. Weighted, the scores and the calibration estimate
// live traffic, which is like the held-out calls; the variants lower the variance within a family.
std::vector<double> family_weights(const std::vector<CallScore>& calls);

struct Evaluation {
  std::string candidate;
  // Means over the calls weighted by family_weights (plain means without variants).
  double mean_score = 0;   // mean of CallScore::score (0 with no calls)
  double accuracy = 0;     // share of calls fully correct
  double latency_p50_ms = 0;
  double seconds = 0;
  double samples_per_call = 1;          // mean CallScore::samples: the compute a strategy costs
  double completion_tokens_per_call = 0;
  std::vector<CallScore> calls;  // in the order of the held-out calls
};

Evaluation evaluate(Backend& backend, const std::vector<const LoggedCall*>& held_out, const EvaluateOptions& options);

// What S4 (a candidate) and augmentation (the teacher, augment.h) share when they ask a model
// about a logged call:
// the call's messages and tools as a greedy request to `model` (temperature 0, seed 1);
ChatRequest greedy_request(const LoggedCall& call, const std::string& model, int max_tokens);
// the answer's first choice, or rpu::Error when there is none or it ended in "error";
const ChoiceResult& first_choice(const CallResult& result);
// that choice as the log keeps an answer: {"role": "assistant", "content", "reasoning_content"?,
// "tool_calls"?};
nlohmann::ordered_json assistant_message(const ChoiceResult& choice);
// work(i) for every i < count on `parallel` threads (blocking calls in flight), each once, in
// no set order; once a work returns false, no thread starts another.
void run_calls_in_parallel(size_t count, int parallel, const std::function<bool(size_t)>& work);

// A GGUF model served in this process for evaluation: model, tokenizer, thread pool,
// scheduler with `slots` sequences, LocalBackend (the pipeline `rpu serve` uses).
struct LocalModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<LocalBackend> backend;
};
// ctx 0: the model's training context, at most 4096. Throws rpu::Error.
std::unique_ptr<LocalModel> open_local_model(std::unique_ptr<Model> model, const std::string& name, int slots,
                                             int threads, int ctx = 0);

}  // namespace rpu::convert
