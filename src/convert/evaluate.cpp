#include "convert/evaluate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "core/error.h"
#include "gateway/cascade.h"
#include "gateway/gateway_backend.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

ChatRequest request_for(const LoggedCall& call, const Backend& backend, const EvaluateOptions& options) {
  // Under the client's own budget when the log has it, as the route will serve the call.
  int max_tokens = call.max_tokens > 0 ? std::min(call.max_tokens, options.max_tokens) : options.max_tokens;
  max_tokens += options.constraints.thinking_tokens;  // the route's allowance for the working
  ChatRequest r = greedy_request(call, backend.model_id(), max_tokens);  // a score must not depend on luck
  r.logprobs = true;  // the confidence the cascade would see (S6 calibrates on it)
  r.reasoning = options.reasoning;  // a strategy samples at its own temperature, from this seed
  r.copy_fields = options.constraints.copy_fields;  // as the route will send them
  if (options.constraints.force_tool_call) gateway::require_tool_call_on_user_turn(r);
  gateway::require_answer_schema(r, options.constraints.answer_schema);
  r.calculator = options.constraints.calculator;
  r.calculator_decimals = options.constraints.calculator_decimals;
  return r;
}

CallScore score_call(Backend& backend, const LoggedCall& call, const EvaluateOptions& options) {
  CallScore s;
  s.id = call.id;
  s.family = call.source_id != 0 ? call.source_id : call.id;
  const MetricKind kind = options.metric.value_or(metric_for_answer(call.answer));
  s.metric = metric_name(kind);
  const auto start = Clock::now();
  json message{{"role", "assistant"}, {"content", nullptr}};
  try {
    const CallResult result = run_chat(backend, request_for(call, backend, options));
    const ChoiceResult& choice = first_choice(result);
    message = assistant_message(choice);
    // An answer the cascade escalates at any threshold (cut at the token limit) gets -1, which
    // calibration never keeps local.
    if (!gateway::always_escalated(choice)) {
      s.confidence = gateway::choice_confidence(choice, gateway::ConfidenceMeasure::kMeanToken);
      s.answer_confidence = gateway::choice_confidence(choice, gateway::ConfidenceMeasure::kAnswer);
      s.model_confidence =
          gateway::choice_confidence(choice, gateway::ConfidenceMeasure::kMeanToken, gateway::TokenReading::kModel);
      s.model_answer_confidence =
          gateway::choice_confidence(choice, gateway::ConfidenceMeasure::kAnswer, gateway::TokenReading::kModel);
    }
    s.completion_tokens = choice.completion_tokens;
    if (choice.extension.is_object() && choice.extension.contains("samples") && choice.extension["samples"].is_number()) {
      s.samples = choice.extension["samples"].get<int>();
    }
  } catch (const std::exception& e) {
    s.error = e.what();
  }
  s.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (s.error.empty()) {
    const AnswerScore a = score_answer(kind, call.answer, message);
    s.score = a.value;
    s.correct = a.correct;
    // A placeholder the request does not hold reaches the client as it is (logged_call.h),
    // even where the scrubbed teacher answer has the same one.
    if (!foreign_placeholders(call, message).empty()) {
      s.score = 0;
      s.correct = false;
    }
    s.answer = answer_text(message);
  }
  return s;
}

}  // namespace

ChatRequest greedy_request(const LoggedCall& call, const std::string& model, int max_tokens) {
  ChatRequest r;
  r.model = model;
  r.messages = call.messages;
  r.tools = call.tools.is_array() && !call.tools.empty() ? call.tools : json();
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  r.sampling.top_k = 0;
  r.sampling.top_p = 1.0f;
  r.sampling.min_p = 0.0f;
  r.has_seed = true;
  r.sampling.seed = 1;
  return r;
}

const ChoiceResult& first_choice(const CallResult& result) {
  if (result.choices.empty()) fail("no choice returned");
  const ChoiceResult& choice = result.choices.front();
  if (choice.finish_reason == "error") fail("{}", choice.error);
  return choice;
}

json assistant_message(const ChoiceResult& choice) {
  json message{{"role", "assistant"}, {"content", choice.text}};
  if (!choice.reasoning.empty()) message["reasoning_content"] = choice.reasoning;
  if (choice.tool_calls.is_array() && !choice.tool_calls.empty()) message["tool_calls"] = choice.tool_calls;
  return message;
}

void run_calls_in_parallel(size_t count, int parallel, const std::function<bool(size_t)>& work) {
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    for (size_t i; !stop && (i = next.fetch_add(1)) < count;) {
      if (!work(i)) stop = true;
    }
  };
  const int n = std::clamp(parallel, 1, std::max<int>(1, static_cast<int>(count)));
  std::vector<std::thread> workers;
  for (int i = 1; i < n; ++i) workers.emplace_back(worker);
  worker();
  for (auto& t : workers) t.join();
}

std::vector<double> family_weights(const std::vector<CallScore>& calls) {
  std::map<int64_t, size_t> members;
  for (const CallScore& c : calls) ++members[c.family];
  std::vector<double> weights;
  weights.reserve(calls.size());
  for (const CallScore& c : calls) weights.push_back(1.0 / static_cast<double>(members[c.family]));
  return weights;
}

Evaluation evaluate(Backend& backend, const std::vector<const LoggedCall*>& held_out, const EvaluateOptions& options) {
  Evaluation ev;
  ev.candidate = backend.model_id();
  ev.calls.resize(held_out.size());
  const auto start = Clock::now();
  run_calls_in_parallel(held_out.size(), options.parallel, [&](size_t i) {
    ev.calls[i] = score_call(backend, *held_out[i], options);
    return true;
  });
  ev.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (ev.calls.empty()) return ev;
  std::vector<double> latencies;
  ev.samples_per_call = 0;
  const std::vector<double> weights = family_weights(ev.calls);
  double families = 0;
  for (size_t i = 0; i < ev.calls.size(); ++i) {
    CallScore& c = ev.calls[i];
    c.weight = weights[i];
    ev.samples_per_call += c.samples;
    ev.completion_tokens_per_call += c.completion_tokens;
    ev.mean_score += c.weight * c.score;
    ev.accuracy += c.correct ? c.weight : 0.0;
    families += c.weight;
    latencies.push_back(c.latency_ms);
  }
  ev.mean_score /= families;
  ev.accuracy /= families;
  ev.samples_per_call /= static_cast<double>(ev.calls.size());
  ev.completion_tokens_per_call /= static_cast<double>(ev.calls.size());
  std::sort(latencies.begin(), latencies.end());
  const size_t mid = latencies.size() / 2;
  ev.latency_p50_ms = latencies.size() % 2 == 1 ? latencies[mid] : (latencies[mid - 1] + latencies[mid]) / 2;
  return ev;
}

std::unique_ptr<LocalModel> open_local_model(std::unique_ptr<Model> model, const std::string& name, int slots,
                                             int threads, int ctx) {
  auto m = std::make_unique<LocalModel>();
  m->model = std::move(model);
  m->tokenizer = Tokenizer::from_gguf(m->model->file());
  if (m->tokenizer->vocab().size() != m->model->config().n_vocab) {
    fail("{}: tokenizer has {} tokens but the model has {}", name, m->tokenizer->vocab().size(), m->model->config().n_vocab);
  }
  SchedulerOptions so;
  so.n_seq = std::max(1, slots);
  so.n_ctx = ctx > 0 ? ctx : std::min(m->model->config().n_ctx_train, 4096);
  m->pool = std::make_unique<ThreadPool>(std::max(1, threads));
  m->scheduler = std::make_unique<Scheduler>(*m->model, *m->tokenizer, so, m->pool.get());
  m->backend = std::make_unique<LocalBackend>(*m->model, *m->tokenizer, *m->scheduler, LocalBackendOptions{name, ""});
  return m;
}

}  // namespace rpu::convert
