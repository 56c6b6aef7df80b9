// The JSON OpenAI clients expect back: completion objects, stream chunks, embeddings, models.
#include <cmath>
#include <random>

#include "server/openai_protocol.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kFingerprint = "rpu-0.1";

// OpenAI reports each token's UTF-8 text and its exact bytes (a token may hold part of a
// character: its text then carries U+FFFD, its bytes the truth).
json probability_json(const TokenProbability& p) {
  json bytes = json::array();
  for (unsigned char c : p.bytes) bytes.push_back(static_cast<int>(c));
  return {{"token", p.bytes}, {"logprob", p.logprob}, {"bytes", bytes}};
}

json chat_logprobs(const std::optional<std::vector<TokenLogprob>>& logprobs) {
  if (!logprobs) return nullptr;
  json content = json::array();
  for (const TokenLogprob& t : *logprobs) {
    json entry = probability_json(t.chosen);
    json top = json::array();
    for (const TokenProbability& p : t.top) top.push_back(probability_json(p));
    entry["top_logprobs"] = top;
    content.push_back(entry);
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.total_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}}};
}

json chunk(const std::string& id, int64_t created, const std::string& model, const char* object, json choices,
           bool include_usage) {
  json c = {{"id", id}, {"object", object}, {"created", created}, {"model", model},
            {"system_fingerprint", kFingerprint}, {"choices", std::move(choices)}};
  if (include_usage) c["usage"] = nullptr;
  return c;
}

json chat_delta_choice(int index, json delta, json logprobs, json finish_reason) {
  return {{"index", index}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
          {"finish_reason", std::move(finish_reason)}};
}

// The legacy /v1/completions logprobs object: parallel arrays plus text offsets.
json legacy_logprobs(const std::vector<TokenLogprob>& logprobs, size_t text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(), offsets = json::array();
  for (const TokenLogprob& t : logprobs) {
    tokens.push_back(t.chosen.bytes);
    // An echoed prompt's first token has no log-probability (nothing precedes it): null, as OpenAI.
    const bool unscored = std::isnan(t.chosen.logprob);
    token_logprobs.push_back(unscored ? json(nullptr) : json(t.chosen.logprob));
    json alternatives = json::object();
    for (const TokenProbability& p : t.top) alternatives[p.bytes] = p.logprob;
    top.push_back(unscored ? json(nullptr) : alternatives);
    offsets.push_back(text_offset);
    text_offset += t.chosen.bytes.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const uint8_t* data, size_t n) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t b = static_cast<uint32_t>(data[i]) << 16 | (i + 1 < n ? static_cast<uint32_t>(data[i + 1]) << 8 : 0) |
                       (i + 2 < n ? data[i + 2] : 0);
    out.push_back(kBase64[(b >> 18) & 63]);
    out.push_back(kBase64[(b >> 12) & 63]);
    out.push_back(i + 1 < n ? kBase64[(b >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? kBase64[b & 63] : '=');
  }
  return out;
}

}  // namespace

std::string to_json_text(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string make_response_id(const std::string& prefix) {
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id.push_back(kAlphabet[engine() % 62]);
  return id;
}

std::string sse_data(const nlohmann::ordered_json& value) { return "data: " + to_json_text(value) + "\n\n"; }
std::string sse_done() { return "data: [DONE]\n\n"; }

nlohmann::ordered_json chat_completion(const std::string& id, int64_t created, const std::string& model,
                                       const std::vector<ChatChoice>& choices, const Usage& usage) {
  json list = json::array();
  for (const ChatChoice& c : choices) {
    json message = {{"role", "assistant"}, {"content", c.content ? json(*c.content) : json(nullptr)}};
    if (!c.reasoning.empty()) message["reasoning_content"] = c.reasoning;
    if (c.tool_calls.is_array() && !c.tool_calls.empty()) message["tool_calls"] = c.tool_calls;
    message["refusal"] = nullptr;
    list.push_back({{"index", c.index}, {"message", message}, {"logprobs", chat_logprobs(c.logprobs)},
                    {"finish_reason", c.finish_reason}});
  }
  return {{"id", id},       {"object", "chat.completion"}, {"created", created}, {"model", model},
          {"choices", list}, {"usage", usage_json(usage)},  {"system_fingerprint", kFingerprint}};
}

nlohmann::ordered_json chat_chunk_role(const std::string& id, int64_t created, const std::string& model, int index,
                                       bool include_usage) {
  return chunk(id, created, model, "chat.completion.chunk",
               json::array({chat_delta_choice(index, {{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}},
                                              nullptr, nullptr)}),
               include_usage);
}

nlohmann::ordered_json chat_chunk_content(const std::string& id, int64_t created, const std::string& model, int index,
                                          const std::string& reasoning, const std::string& text,
                                          const std::optional<std::vector<TokenLogprob>>& logprobs,
                                          bool include_usage) {
  json delta = json::object();
  if (!reasoning.empty()) delta["reasoning_content"] = reasoning;
  if (!text.empty() || reasoning.empty()) delta["content"] = text;
  return chunk(id, created, model, "chat.completion.chunk",
               json::array({chat_delta_choice(index, delta, chat_logprobs(logprobs), nullptr)}), include_usage);
}

nlohmann::ordered_json chat_chunk_tool_calls(const std::string& id, int64_t created, const std::string& model,
                                             int index, const nlohmann::ordered_json& tool_calls, bool include_usage) {
  json calls = json::array();
  for (size_t i = 0; i < tool_calls.size(); ++i) {
    json call = tool_calls[i];
    json delta = {{"index", static_cast<int>(i)}};
    for (auto it = call.begin(); it != call.end(); ++it) delta[it.key()] = it.value();
    calls.push_back(delta);
  }
  return chunk(id, created, model, "chat.completion.chunk",
               json::array({chat_delta_choice(index, {{"tool_calls", calls}}, nullptr, nullptr)}), include_usage);
}

nlohmann::ordered_json chat_chunk_finish(const std::string& id, int64_t created, const std::string& model, int index,
                                         const std::string& finish_reason, bool include_usage) {
  return chunk(id, created, model, "chat.completion.chunk",
               json::array({chat_delta_choice(index, json::object(), nullptr, finish_reason)}), include_usage);
}

nlohmann::ordered_json chat_chunk_usage(const std::string& id, int64_t created, const std::string& model,
                                        const Usage& usage) {
  json c = chunk(id, created, model, "chat.completion.chunk", json::array(), false);
  c["usage"] = usage_json(usage);
  return c;
}

nlohmann::ordered_json text_completion(const std::string& id, int64_t created, const std::string& model,
                                       const std::vector<CompletionChoice>& choices, const Usage& usage) {
  json list = json::array();
  for (const CompletionChoice& c : choices) {
    list.push_back({{"text", c.text}, {"index", c.index},
                    {"logprobs", c.logprobs ? legacy_logprobs(*c.logprobs, 0) : json(nullptr)},
                    {"finish_reason", c.finish_reason}});
  }
  json u = {{"prompt_tokens", usage.prompt_tokens}, {"completion_tokens", usage.completion_tokens},
            {"total_tokens", usage.total_tokens}};
  return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
          {"system_fingerprint", kFingerprint}, {"choices", list}, {"usage", u}};
}

nlohmann::ordered_json completion_chunk(const std::string& id, int64_t created, const std::string& model, int index,
                                        const std::string& text,
                                        const std::optional<std::vector<TokenLogprob>>& logprobs,
                                        size_t text_offset, const std::optional<std::string>& finish_reason,
                                        bool include_usage) {
  json choice = {{"text", text}, {"index", index},
                 {"logprobs", logprobs ? legacy_logprobs(*logprobs, text_offset) : json(nullptr)},
                 {"finish_reason", finish_reason ? json(*finish_reason) : json(nullptr)}};
  return chunk(id, created, model, "text_completion", json::array({choice}), include_usage);
}

nlohmann::ordered_json completion_usage_chunk(const std::string& id, int64_t created, const std::string& model,
                                              const Usage& usage) {
  json c = chunk(id, created, model, "text_completion", json::array(), false);
  c["usage"] = {{"prompt_tokens", usage.prompt_tokens}, {"completion_tokens", usage.completion_tokens},
                {"total_tokens", usage.total_tokens}};
  return c;
}

nlohmann::ordered_json embeddings_list(const std::string& model, const std::vector<std::vector<float>>& embeddings,
                                       bool as_base64, int prompt_tokens) {
  json data = json::array();
  for (size_t i = 0; i < embeddings.size(); ++i) {
    json e = {{"object", "embedding"}, {"index", static_cast<int>(i)}};
    if (as_base64) {
      // Little-endian float32 bytes, as OpenAI sends them (this machine is little-endian).
      e["embedding"] = base64(reinterpret_cast<const uint8_t*>(embeddings[i].data()), embeddings[i].size() * 4);
    } else {
      e["embedding"] = embeddings[i];
    }
    data.push_back(e);
  }
  return {{"object", "list"}, {"data", data}, {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

nlohmann::ordered_json rerank_list(const RerankRequest& request, const RerankResult& result) {
  json results = json::array();
  for (size_t i : rerank_order(result.scores, request.top_n)) {
    json item = {{"index", static_cast<int>(i)}, {"relevance_score", result.scores[i]}};
    if (request.return_documents) {
      const bool object = i < request.documents_as_sent.size() && request.documents_as_sent[i].is_object();
      item["document"] = object ? json(request.documents_as_sent[i]) : json{{"text", request.documents[i]}};
    }
    results.push_back(std::move(item));
  }
  return {{"model", request.model},
          {"object", "list"},
          {"results", results},
          {"usage", {{"prompt_tokens", result.prompt_tokens}, {"total_tokens", result.prompt_tokens}}}};
}

nlohmann::ordered_json models_list(const std::vector<std::string>& ids) {
  json data = json::array();
  for (const std::string& id : ids) {
    data.push_back({{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", "rpu"}});
  }
  return {{"object", "list"}, {"data", data}};
}

}  // namespace rpu
