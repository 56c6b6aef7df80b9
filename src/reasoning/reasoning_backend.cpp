#include "reasoning/reasoning_backend.h"

#include "reasoning/strategies.h"

namespace rpu::reasoning {
namespace {

class FinishedCall : public CallHandle {
 public:
  void cancel() override {}
};

// "NAME+sc8" -> "sc8" when NAME is `base`.
std::optional<std::string> suffix_of(const std::string& model, const std::string& base) {
  if (model.size() <= base.size() + 1 || model.compare(0, base.size(), base) != 0 || model[base.size()] != '+') {
    return std::nullopt;
  }
  return model.substr(base.size() + 1);
}

}  // namespace

bool ReasoningBackend::accepts_model(const std::string& model) const {
  if (inner_.accepts_model(model)) return true;
  const auto suffix = suffix_of(model, inner_.model_id());
  if (!suffix) return false;
  try {
    return parse_model_suffix(*suffix).has_value();
  } catch (const ApiError&) {
    return true;  // a reasoning name with a bad value: chat() names the problem
  }
}

std::optional<ReasoningSpec> ReasoningBackend::spec_of(const ChatRequest& request) const {
  if (request.reasoning.is_object()) return parse_reasoning_spec(request.reasoning);
  if (const auto suffix = suffix_of(request.model, inner_.model_id())) return parse_model_suffix(*suffix);
  return std::nullopt;
}

int ReasoningBackend::choice_count(const ChatRequest& request) const {
  // Only whether a strategy is asked for matters here; chat() parses and checks it (a
  // verifier such as a JSON schema is costly to build, so it is built once, there).
  const auto suffix = suffix_of(request.model, inner_.model_id());
  const bool reasoned = request.reasoning.is_object() || (suffix && model_suffix_json(*suffix));
  return reasoned ? 1 : inner_.choice_count(request);
}

std::unique_ptr<CallHandle> ReasoningBackend::complete(const CompletionRequest& request, ChatEventSink sink) {
  CompletionRequest plain = request;
  plain.model = inner_.model_id();
  return inner_.complete(plain, std::move(sink));
}

std::unique_ptr<CallHandle> ReasoningBackend::chat(const ChatRequest& request, ChatEventSink sink) {
  const std::optional<ReasoningSpec> spec = spec_of(request);
  if (!spec) {
    ChatRequest plain = request;
    plain.model = inner_.model_id();
    return inner_.chat(plain, std::move(sink));
  }
  if (request.n != 1) {
    throw ApiError(400, "n must be 1 with a reasoning strategy (set the number of samples with reasoning.n)",
                   "invalid_request_error", "n", "");
  }
  SampleSource source(inner_, request, spec->temperature, options_.parallel);
  const std::optional<std::string> step_prompt =
      spec->strategy == Strategy::kStepSearch ? inner_.render_chat(request) : std::nullopt;
  ReasonedAnswer answer = reason(source, *spec, options_.judge, last_user_message(request.messages), request.cancelled, step_prompt);

  ChatEvent event;
  event.index = 0;
  event.text = answer.chosen.text;
  event.reasoning = answer.chosen.reasoning;
  event.finish_reason = answer.chosen.finish_reason.empty() ? "stop" : answer.chosen.finish_reason;
  if (answer.chosen.tool_calls.is_array() && !answer.chosen.tool_calls.empty()) {
    event.tool_calls = answer.chosen.tool_calls;
    event.finish_reason = "tool_calls";
  }
  event.extension = std::move(answer.extension);
  event.prompt_tokens = source.prompt_tokens();
  event.cached_tokens = source.cached_tokens();
  event.completion_tokens = source.completion_tokens();  // every sampled token is paid for
  event.reasoning_tokens = source.reasoning_tokens();
  sink(event);
  return std::make_unique<FinishedCall>();
}

}  // namespace rpu::reasoning
