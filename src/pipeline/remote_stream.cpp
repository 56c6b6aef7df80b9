#include "pipeline/remote_stream.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "core/json_text.h"

#include "pipeline/remote_backend.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

// Token counts an upstream reports are read up to this (a billion); more is a wrong-shaped chunk.
constexpr int64_t kMaxTokens = int64_t{1} << 30;
// Tool calls one choice may make (agents' parallel calls are a handful).
constexpr int64_t kMaxToolCalls = 1024;

TokenProbability token_probability(const json& t) {
  TokenProbability p;
  if (t.contains("bytes") && t["bytes"].is_array()) {
    for (const auto& b : t["bytes"]) p.bytes += static_cast<char>(json_integer(b, "a logprob's bytes", 0, 255));
  } else {
    p.bytes = t.value("token", "");
  }
  p.logprob = t.value("logprob", 0.0f);
  return p;
}

std::vector<TokenLogprob> chat_logprobs(const json& choice) {
  std::vector<TokenLogprob> out;
  if (!choice.contains("logprobs") || !choice["logprobs"].is_object()) return out;
  const json& content = choice["logprobs"].value("content", json());
  if (!content.is_array()) return out;
  for (const auto& t : content) {
    TokenLogprob lp;
    lp.chosen = token_probability(t);
    if (t.contains("top_logprobs") && t["top_logprobs"].is_array()) {
      for (const auto& alt : t["top_logprobs"]) lp.top.push_back(token_probability(alt));
    }
    out.push_back(std::move(lp));
  }
  return out;
}

// Legacy completions logprobs: {"tokens": [...], "token_logprobs": [...]}.
std::vector<TokenLogprob> completion_logprobs(const json& choice) {
  std::vector<TokenLogprob> out;
  if (!choice.contains("logprobs") || !choice["logprobs"].is_object()) return out;
  const json& tokens = choice["logprobs"].value("tokens", json());
  const json& values = choice["logprobs"].value("token_logprobs", json());
  const json& tops = choice["logprobs"].value("top_logprobs", json());
  if (!tokens.is_array() || !values.is_array()) return out;
  for (size_t i = 0; i < tokens.size() && i < values.size(); ++i) {
    TokenLogprob lp;
    lp.chosen.bytes = tokens[i].is_string() ? tokens[i].get<std::string>() : "";
    // null: an echoed prompt's first token, which has none (kept as NaN, sent on as null).
    lp.chosen.logprob = values[i].is_number() ? values[i].get<float>() : std::numeric_limits<float>::quiet_NaN();
    if (tops.is_array() && i < tops.size() && tops[i].is_object()) {
      for (const auto& [piece, value] : tops[i].items()) {
        if (value.is_number()) lp.top.push_back({-1, piece, value.get<float>()});
      }
    }
    out.push_back(std::move(lp));
  }
  return out;
}

// Merges streamed tool-call fragments: {index, id, type, function: {name, arguments}}.
void merge_tool_calls(json& calls, const json& deltas) {
  for (const auto& d : deltas) {
    // A huge index would make a vector of that many empty calls: refused.
    const auto index =
        static_cast<size_t>(json_integer(d, "index", static_cast<int64_t>(calls.size()), 0, kMaxToolCalls - 1));
    while (calls.size() <= index) {
      calls.push_back({{"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
    }
    json& call = calls[index];
    if (d.contains("id") && d["id"].is_string()) call["id"] = d["id"];
    if (d.contains("function") && d["function"].is_object()) {
      const json& f = d["function"];
      if (f.contains("name") && f["name"].is_string()) call["function"]["name"] = f["name"];
      if (f.contains("arguments") && f["arguments"].is_string()) {
        call["function"]["arguments"] = call["function"]["arguments"].get<std::string>() + f["arguments"].get<std::string>();
      }
    }
  }
}

}  // namespace

StreamDecoder::StreamDecoder(int choices, ChatEventSink sink)
    : sink_(std::move(sink)), choices_(static_cast<size_t>(std::max(choices, 0))) {}

bool StreamDecoder::feed(std::string_view bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  buffer_.append(bytes);
  // Events end with a blank line; lines may end in \r\n.
  for (;;) {
    size_t end = buffer_.find("\n\n");
    size_t skip = 2;
    const size_t crlf = buffer_.find("\r\n\r\n");
    if (crlf != std::string::npos && (end == std::string::npos || crlf < end)) end = crlf, skip = 4;
    if (end == std::string::npos) break;
    const std::string event = buffer_.substr(0, end);
    buffer_.erase(0, end + skip);
    size_t at = 0;
    while (at < event.size()) {
      size_t line_end = event.find('\n', at);
      if (line_end == std::string::npos) line_end = event.size();
      std::string_view line(event.data() + at, line_end - at);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.substr(0, 5) == "data:") {
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        on_data(line);
      }
      at = line_end + 1;
    }
  }
  if (buffer_.size() > kMaxEventBytes) {
    error_ = "upstream sent an event larger than " + std::to_string(kMaxEventBytes) + " bytes";
    buffer_.clear();
    return false;
  }
  return true;
}

void StreamDecoder::on_data(std::string_view payload) {
  if (payload == "[DONE]") return;  // the end of the body says the same
  json chunk;
  try {
    chunk = parse_json_text<json>(payload, "upstream chunk");  // nesting bounded: the upstream is not trusted
  } catch (const std::exception&) {
    error_ = "upstream sent a chunk that is not JSON";
    return;
  }
  // The fields are read with json::value/get, which throw on a value of the wrong type ("index":
  // "x", a logprob token that is a number): the upstream is not trusted, so that ends the call
  // with an error instead of escaping from the HTTP client's callback.
  try {
    on_chunk(chunk);
  } catch (const std::exception& e) {
    error_ = std::string("upstream sent a chunk of the wrong shape: ") + e.what();
  }
}

void StreamDecoder::on_chunk(const json& chunk) {
  if (chunk.contains("error")) {
    error_ = "upstream: " + chunk["error"].value("message", std::string("error"));
    return;
  }
  if (chunk.contains("usage") && chunk["usage"].is_object()) {
    const json& u = chunk["usage"];
    prompt_tokens_ = static_cast<int>(json_integer(u, "prompt_tokens", prompt_tokens_, 0, kMaxTokens));
    completion_tokens_ = static_cast<int>(json_integer(u, "completion_tokens", completion_tokens_, 0, kMaxTokens));
    if (u.contains("prompt_tokens_details") && u["prompt_tokens_details"].is_object()) {
      const json& details = u["prompt_tokens_details"];
      cached_tokens_ = static_cast<int>(json_integer(details, "cached_tokens", 0, 0, kMaxTokens));
    }
    if (u.contains("completion_tokens_details") && u["completion_tokens_details"].is_object()) {
      const json& details = u["completion_tokens_details"];
      reasoning_tokens_ = static_cast<int>(json_integer(details, "reasoning_tokens", 0, 0, kMaxTokens));
    }
  }
  if (!chunk.contains("choices") || !chunk["choices"].is_array()) return;
  for (const auto& choice : chunk["choices"]) on_choice(choice, chunk);
}

void StreamDecoder::on_choice(const json& choice, const json& chunk) {
  const int64_t index = json_integer(choice, "index", 0, 0, INT32_MAX);
  if (static_cast<size_t>(index) >= choices_.size()) return;
  Choice& c = choices_[static_cast<size_t>(index)];
  if (c.finished) return;
  ChatEvent e;
  e.index = static_cast<int>(index);
  if (choice.contains("delta") && choice["delta"].is_object()) {  // chat
    const json& delta = choice["delta"];
    if (delta.contains("content") && delta["content"].is_string()) e.text = delta["content"].get<std::string>();
    // vLLM, llama-server and rpu send a model's thinking apart (DeepSeek's name for it).
    if (delta.contains("reasoning_content") && delta["reasoning_content"].is_string()) {
      e.reasoning = delta["reasoning_content"].get<std::string>();
    }
    if (delta.contains("tool_calls") && delta["tool_calls"].is_array()) merge_tool_calls(c.tool_calls, delta["tool_calls"]);
    e.logprobs = chat_logprobs(choice);
  } else {  // completions
    if (choice.contains("text") && choice["text"].is_string()) e.text = choice["text"].get<std::string>();
    e.logprobs = completion_logprobs(choice);
  }
  const bool said = !e.text.empty() || !e.reasoning.empty();
  if (chunk.contains("rpu")) c.extension = chunk["rpu"];
  // "" is no reason (as null): a choice that ended with it would give its caller no last event.
  const json& reason = choice.contains("finish_reason") ? choice["finish_reason"] : json();
  if (reason.is_string() && !reason.get_ref<const std::string&>().empty()) {
    c.finished = true;
    c.finish_reason = reason.get<std::string>();
  }
  if (e.logprobs.empty()) {
    c.tokens += said ? 1 : 0;
  } else {
    const int entries = static_cast<int>(e.logprobs.size());
    c.tokens += entries - (c.echo.pending() ? echoed_entries(c, choice, e.logprobs.size()) : 0);
  }
  if (!said && e.logprobs.empty()) return;
  e.completion_tokens = c.tokens;
  sink_(e);
}

void StreamDecoder::expect_echoes(std::vector<EchoedPrompt> per_choice) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < per_choice.size() && i < choices_.size(); ++i) choices_[i].echo = per_choice[i];
}

// How many of a chunk's `entries` log-probability entries are the echoed prompt's (Choice::echo).
// A text prompt's are all in the choice's first chunk with entries, which every server starts at
// text offset 0 (later chunks' offsets are cumulative in vLLM's, OpenAI's and rpu's streams, per
// chunk in llama-server's, so only the first is read).
int StreamDecoder::echoed_entries(Choice& c, const json& choice, size_t entries) {
  if (c.echo.tokens >= 0) {
    const int64_t n = std::min<int64_t>(c.echo.tokens, static_cast<int64_t>(entries));
    c.echo.tokens -= n;
    return static_cast<int>(n);
  }
  const size_t prompt_bytes = std::exchange(c.echo.bytes, 0);  // only the first chunk's entries
  const json& offsets = choice["logprobs"].value("text_offset", json());
  if (!offsets.is_array()) return 0;
  int n = 0;
  for (size_t i = 0; i < entries && i < offsets.size(); ++i) {
    if (offsets[i].is_number_unsigned() && offsets[i].get<uint64_t>() < prompt_bytes) ++n;
  }
  return n;
}

void StreamDecoder::fail(const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_.empty()) error_ = error;
}

void StreamDecoder::finish(const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_.empty()) error_ = error;
  // The usage chunk's count is the truth; chunk counts only split it between choices.
  int64_t counted = 0;
  for (const Choice& c : choices_) counted += c.tokens;
  if (completion_tokens_ >= 0 && !choices_.empty()) {
    const int64_t last = choices_.back().tokens + (completion_tokens_ - counted);
    choices_.back().tokens = static_cast<int>(std::clamp<int64_t>(last, 0, kMaxTokens));
  }
  for (size_t i = 0; i < choices_.size(); ++i) {
    Choice& c = choices_[i];
    ChatEvent e;
    e.index = static_cast<int>(i);
    e.finish_reason = c.finished ? c.finish_reason : "error";
    if (!c.finished) e.error = error_.empty() ? "the upstream stream ended before this choice finished" : error_;
    if (!c.tool_calls.empty()) e.tool_calls = c.tool_calls;
    e.extension = c.extension;
    e.prompt_tokens = prompt_tokens_;
    e.cached_tokens = cached_tokens_;
    e.completion_tokens = std::max(0, c.tokens);
    // The usage chunk counts reasoning tokens for the whole call: the last choice carries them.
    if (i + 1 == choices_.size()) e.reasoning_tokens = std::max(0, reasoning_tokens_);
    sink_(e);
  }
}

namespace {

// The fields every generating request shares; llama.cpp / rpu extensions only when set
// (hosted APIs refuse unknown fields).
void put_generation_fields(json& body, const GenerationFields& r) {
  body["model"] = r.model;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  if (r.max_tokens >= 0) body["max_tokens"] = r.max_tokens;
  if (r.n != 1) body["n"] = r.n;
  body["temperature"] = r.sampling.temperature;
  if (r.sampling.top_p < 1) body["top_p"] = r.sampling.top_p;
  if (r.has_seed) body["seed"] = r.sampling.seed;
  if (!r.stop.empty()) body["stop"] = r.stop;
  if (r.sampling.presence_penalty != 0) body["presence_penalty"] = r.sampling.presence_penalty;
  if (r.sampling.frequency_penalty != 0) body["frequency_penalty"] = r.sampling.frequency_penalty;
  if (r.sampling.top_k > 0) body["top_k"] = r.sampling.top_k;
  if (r.sampling.min_p > 0) body["min_p"] = r.sampling.min_p;
  if (r.sampling.repeat_penalty != 1) body["repeat_penalty"] = r.sampling.repeat_penalty;
  if (r.ignore_eos) body["ignore_eos"] = true;
  if (!r.sampling.logit_bias.empty()) {
    nlohmann::ordered_json bias = nlohmann::ordered_json::object();
    for (const auto& [id, value] : r.sampling.logit_bias) bias[std::to_string(id)] = value;
    body["logit_bias"] = std::move(bias);
  }
}

}  // namespace

json chat_request_json(const ChatRequest& r) {
  json body = {{"messages", r.messages}};
  put_generation_fields(body, r);
  if (r.tools.is_array() && !r.tools.empty()) body["tools"] = r.tools;
  if (!r.tool_choice.is_null()) body["tool_choice"] = r.tool_choice;
  if (r.response_format.is_object()) body["response_format"] = r.response_format;
  if (r.chat_template_kwargs.is_object()) body["chat_template_kwargs"] = r.chat_template_kwargs;
  if (r.reasoning.is_object()) body["reasoning"] = r.reasoning;
  if (!r.copy_fields.empty()) body["copy_fields"] = copy_fields_json(r.copy_fields);  // rpu's extension: only rpu upstreams get it
  if (r.calculator) {  // rpu's extension too
    body["calculator"] = r.calculator_decimals >= 0 ? json{{"decimals", r.calculator_decimals}} : json(true);
  }
  if (!r.split_reasoning) body["reasoning_format"] = "none";  // llama-server and rpu honour it
  if (!r.grammar.empty()) body["grammar"] = r.grammar;  // llama-server and rpu honour it
  if (r.logprobs) {
    body["logprobs"] = true;
    if (r.top_logprobs > 0) body["top_logprobs"] = r.top_logprobs;
  }
  return body;
}

json completion_request_json(const CompletionRequest& r) {
  json prompts = json::array();
  for (const CompletionPrompt& p : r.prompts) {
    if (p.is_tokens) {
      prompts.push_back(p.tokens);
    } else {
      prompts.push_back(p.text);
    }
  }
  json body = {{"prompt", prompts.size() == 1 ? prompts[0] : prompts}};
  put_generation_fields(body, r);
  if (r.echo) body["echo"] = true;
  if (r.logprobs >= 0) body["logprobs"] = r.logprobs;
  return body;
}

}  // namespace rpu
