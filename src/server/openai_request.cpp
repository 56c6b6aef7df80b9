// Parsing and validating OpenAI requests. Every rejection names the offending field in
// `param`, as api.openai.com does, so clients can show where the request went wrong.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <regex>
#include <vector>

#include "chat/chat_template.h"
#include "core/json_text.h"
#include "decode/calculator.h"
#include "server/json_body.h"
#include "server/openai_protocol.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param, "");
}

bool present(const json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

std::string get_string(const json& j, const char* key, bool required) {
  if (!present(j, key)) {
    if (required) bad(key, fmt::format("'{}' is required", key));
    return {};
  }
  if (!j.at(key).is_string()) bad(key, fmt::format("'{}' must be a string", key));
  return j.at(key).get<std::string>();
}

double get_number(const json& j, const char* key, double fallback, double lo, double hi, bool lo_open = false) {
  if (!present(j, key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number()) bad(key, fmt::format("'{}' must be a number", key));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo)) {
    bad(key, fmt::format("'{}' must be {} {} and <= {}, got {}", key, lo_open ? ">" : ">=", lo, hi, x));
  }
  return x;
}

// Integers may be written 2.0; 2.5 is not an integer.
int64_t as_integer(const json& v, const std::string& name) {
  if (const std::optional<int64_t> x = json_whole_number(v)) return *x;
  bad(name, fmt::format("'{}' must be an integer", name));
}

std::optional<int64_t> get_integer(const json& j, const char* key, int64_t lo, int64_t hi) {
  if (!present(j, key)) return std::nullopt;
  const int64_t x = as_integer(j.at(key), key);
  if (x < lo || x > hi) bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x));
  return x;
}

bool get_bool(const json& j, const char* key, bool fallback) {
  if (!present(j, key)) return fallback;
  if (!j.at(key).is_boolean()) bad(key, fmt::format("'{}' must be a boolean", key));
  return j.at(key).get<bool>();
}

bool valid_name(const std::string& name) {
  static const std::regex pattern("^[a-zA-Z0-9_-]{1,64}$");
  return std::regex_match(name, pattern);
}

// {"token id": bias in [-100, 100]}, as OpenAI: the bias is added to the token's logit
// (-100 in effect bans it). Ids are checked against the vocabulary by the backend.
std::vector<std::pair<int32_t, float>> parse_logit_bias(const json& v) {
  if (!v.is_object()) bad("logit_bias", "'logit_bias' must be an object mapping token ids to numbers");
  if (v.size() > 65536) bad("logit_bias", "'logit_bias' may hold at most 65536 tokens");
  std::vector<std::pair<int32_t, float>> bias;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& key = it.key();
    const bool digits = !key.empty() && key.size() <= 10 && key.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoll(key) > INT32_MAX) {
      bad("logit_bias", fmt::format("'logit_bias' keys must be token ids (non-negative integers), got '{}'", key));
    }
    if (!it.value().is_number() || !std::isfinite(it.value().get<double>()) || std::fabs(it.value().get<double>()) > 100) {
      bad("logit_bias", fmt::format("'logit_bias' values must be numbers from -100 to 100 (token {})", key));
    }
    bias.emplace_back(static_cast<int32_t>(std::stoll(key)), it.value().get<float>());
  }
  return bias;
}

// Text parts are all a text model reads; anything else is refused rather than silently
// dropped, so a client never gets an answer to a question it did not fully ask.
void check_content_parts(const json& parts, const std::string& where) {
  for (size_t k = 0; k < parts.size(); ++k) {
    const json& part = parts[k];
    const std::string pw = fmt::format("{}[{}]", where, k);
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      bad(pw, pw + " must be an object with a string 'type'");
    }
    const std::string type = part["type"].get<std::string>();
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string()) bad(pw, pw + " is a text part without a string 'text'");
    } else if (type == "image_url" || type == "input_audio" || type == "file" || type == "image" || type == "audio") {
      bad(pw, fmt::format("{} is '{}' content, which is not supported by this model (it reads text only)", pw, type));
    } else {
      bad(pw, fmt::format("{} has the unknown content type '{}'", pw, type));
    }
  }
}

// The roles of OpenAI's chat API; content a string or text parts (assistant messages that
// only call tools may have none; tool results may be structured objects).
void check_message(const json& m, size_t i) {
  const std::string where = fmt::format("messages[{}]", i);
  if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
    bad(where, where + " must be an object with a string 'role'");
  }
  const std::string role = m["role"].get<std::string>();
  static const char* const kRoles[] = {"system", "developer", "user", "assistant", "tool", "function"};
  if (std::find(std::begin(kRoles), std::end(kRoles), role) == std::end(kRoles)) {
    bad(where + ".role", fmt::format("{}.role must be system, developer, user, assistant or tool; got '{}'", where, role));
  }
  const std::string cw = where + ".content";
  if (!present(m, "content")) {
    if (role != "assistant" && role != "function") bad(cw, fmt::format("{} is required for a '{}' message", cw, role));
    return;
  }
  const json& c = m.at("content");
  if (c.is_array()) {
    check_content_parts(c, cw);
  } else if (!c.is_string() && !(c.is_object() && role == "tool")) {
    bad(cw, cw + " must be a string or an array of content parts");
  }
}

// Fields shared by chat and completions.
// min_max_tokens: 0 where no output is a valid request (a completion's echoed prompt).
// default_model: the model of a body without one (empty: "model" is required).
void parse_generation_fields(const json& j, GenerationFields& f, int default_max_tokens, int min_max_tokens = 1,
                             const std::string& default_model = "") {
  f.model = get_string(j, "model", default_model.empty());
  if (f.model.empty()) f.model = default_model;
  f.max_tokens = default_max_tokens;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (auto v = get_integer(j, key, min_max_tokens, int64_t{1} << 30)) f.max_tokens = static_cast<int>(*v);
  }
  f.n = static_cast<int>(get_integer(j, "n", 1, 16).value_or(1));
  SamplingParams& s = f.sampling;
  s.temperature = static_cast<float>(get_number(j, "temperature", 1.0, 0.0, 2.0));
  s.top_p = static_cast<float>(get_number(j, "top_p", 1.0, 0.0, 1.0));
  if (s.top_p == 0.0f) {  // nucleus of probability 0: only the most likely token, i.e. greedy
    s.temperature = 0.0f;
    s.top_p = 1.0f;
  }
  s.top_k = static_cast<int>(get_integer(j, "top_k", 0, int64_t{1} << 24).value_or(0));
  s.min_p = static_cast<float>(get_number(j, "min_p", 0.0, 0.0, 1.0));
  s.repeat_penalty = static_cast<float>(get_number(j, "repeat_penalty", 1.0, 0.0, 10.0, /*lo_open=*/true));
  s.presence_penalty = static_cast<float>(get_number(j, "presence_penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = static_cast<float>(get_number(j, "frequency_penalty", 0.0, -2.0, 2.0));
  if (present(j, "seed")) {
    s.seed = static_cast<uint64_t>(as_integer(j.at("seed"), "seed"));
    f.has_seed = true;
  }
  if (present(j, "stop")) {
    const json& stop = j.at("stop");
    if (stop.is_string()) {
      if (!stop.get<std::string>().empty()) f.stop.push_back(stop.get<std::string>());
    } else if (stop.is_array()) {
      if (stop.size() > 4) bad("stop", "'stop' may hold at most 4 sequences");
      for (const json& s2 : stop) {
        if (!s2.is_string()) bad("stop", "'stop' must hold strings");
        // An empty stop string can never match; like "stop": "", it is ignored.
        if (!s2.get<std::string>().empty()) f.stop.push_back(s2.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or an array of strings");
    }
  }
  if (present(j, "logit_bias")) s.logit_bias = parse_logit_bias(j.at("logit_bias"));
  f.stream = get_bool(j, "stream", false);
  if (present(j, "stream_options")) {
    const json& o = j.at("stream_options");
    if (!o.is_object()) bad("stream_options", "'stream_options' must be an object");
    if (!f.stream) bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
    f.include_usage = get_bool(o, "include_usage", false);
  }
  f.ignore_eos = get_bool(j, "ignore_eos", false);
  if (present(j, "user")) get_string(j, "user", false);
}

}  // namespace

nlohmann::ordered_json error_body(const ApiError& e) {
  json error = {{"message", e.what()}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) error["param"] = e.param;
  if (!e.code.empty()) error["code"] = e.code;
  return {{"error", error}};
}

namespace {

// response_format: {"type": "text" | "json_object"} or {"type": "json_schema", "json_schema": {...}}.
json parse_response_format(const json& rf) {
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string()) {
    bad("response_format", "'response_format' must be an object with a string 'type'");
  }
  const std::string type = rf["type"].get<std::string>();
  if (type == "json_schema") {
    if (!rf.contains("json_schema") || !rf["json_schema"].is_object()) {
      bad("response_format", "'response_format.json_schema' must be an object");
    }
    const json& js = rf["json_schema"];
    if (!js.contains("name") || !js["name"].is_string() || !valid_name(js["name"].get<std::string>())) {
      bad("response_format", "'response_format.json_schema.name' must be 1-64 letters, digits, '_' or '-'");
    }
    if (js.contains("schema") && !js["schema"].is_object() && !js["schema"].is_boolean()) {
      bad("response_format", "'response_format.json_schema.schema' must be an object");
    }
    if (js.contains("strict") && !js["strict"].is_null() && !js["strict"].is_boolean()) {
      bad("response_format", "'response_format.json_schema.strict' must be a boolean");
    }
  } else if (type != "text" && type != "json_object") {
    bad("response_format", "'response_format.type' must be 'text', 'json_object' or 'json_schema'");
  }
  return rf;
}

// tools: OpenAI function tools; returns their names (for tool_choice).
std::vector<std::string> check_tools(const json& tools) {
  std::vector<std::string> tool_names;
  if (!tools.is_array()) bad("tools", "'tools' must be an array");
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string where = fmt::format("tools[{}]", i);
    // `type` is checked to be a string before it is read: {"type": {...}} is a 400, not a crash.
    if (!t.is_object() || !t.contains("type") || !t["type"].is_string() || t["type"].get<std::string>() != "function" ||
        !t.contains("function") || !t["function"].is_object()) {
      bad(where, where + " must be {\"type\": \"function\", \"function\": {...}}");
    }
    const json& fn = t["function"];
    if (!fn.contains("name") || !fn["name"].is_string() || !valid_name(fn["name"].get<std::string>())) {
      bad(where, where + ".function.name must be 1-64 letters, digits, '_' or '-'");
    }
    if (fn.contains("parameters") && !fn["parameters"].is_null() && !fn["parameters"].is_object()) {
      bad(where, where + ".function.parameters must be a JSON Schema object");
    }
    tool_names.push_back(fn["name"].get<std::string>());
  }
  return tool_names;
}

// tool_choice: none | auto | required | {"type": "function", "function": {"name": one of the tools}}.
void check_tool_choice(const json& tc, const std::vector<std::string>& tool_names) {
  if (tc.is_string()) {
    const std::string c = tc.get<std::string>();
    if (c != "none" && c != "auto" && c != "required") bad("tool_choice", "'tool_choice' must be none, auto, required or a function");
    if (c == "required" && tool_names.empty()) bad("tool_choice", "'tool_choice' is 'required' but no tools were given");
  } else if (tc.is_object()) {
    if (!tc.contains("function") || !tc["function"].is_object() || !tc["function"].contains("name") ||
        !tc["function"]["name"].is_string()) {
      bad("tool_choice", "'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
    const std::string name = tc["function"]["name"].get<std::string>();
    if (std::find(tool_names.begin(), tool_names.end(), name) == tool_names.end()) {
      bad("tool_choice", "'tool_choice' names the function '" + name + "', which is not among 'tools'");
    }
  } else {
    bad("tool_choice", "'tool_choice' must be a string or an object");
  }
}

// rpu's calculator extension (decode/calculator.h): arithmetic results computed, not guessed.
// true, false, or {"decimals": N}: every result written with N decimals.
void parse_calculator(const json& c, ChatRequest& r) {
  if (c.is_boolean()) {
    r.calculator = c.get<bool>();
    return;
  }
  const std::optional<int64_t> decimals =
      c.is_object() && c.size() == 1 && c.contains("decimals") ? json_whole_number(c["decimals"]) : std::nullopt;
  if (!decimals || *decimals < 0 || *decimals > kMaxCalculatorDecimals) {
    bad("calculator", fmt::format("'calculator' must be true, false or {{\"decimals\": N}} with N from 0 to {}",
                                  kMaxCalculatorDecimals));
  }
  r.calculator = true;
  r.calculator_decimals = static_cast<int>(*decimals);
}

// rpu's extensions and llama-server's (knowledge, reasoning, copy_fields, calculator, reasoning_format).
void parse_chat_extensions(const json& j, ChatRequest& r) {
  // rpu's retrieval extension; its fields are checked by src/retrieval when the call runs.
  if (present(j, "knowledge")) {
    r.knowledge = j.at("knowledge");
    if (!r.knowledge.is_object()) bad("knowledge", "'knowledge' must be an object such as {\"kb\": \"docs\", \"k\": 5}");
  }
  // rpu's reasoning extension; its fields are checked by src/reasoning when the call runs.
  if (present(j, "reasoning")) {
    r.reasoning = j.at("reasoning");
    if (!r.reasoning.is_object()) bad("reasoning", "'reasoning' must be an object");
  }
  // rpu's copy extension (decode/copy_matcher.h): keys whose string values are copied verbatim.
  if (present(j, "copy_fields")) {
    try {
      r.copy_fields = parse_copy_fields(j.at("copy_fields"));
    } catch (const Error& e) {
      bad("copy_fields", e.what());
    }
  }
  if (present(j, "calculator")) parse_calculator(j.at("calculator"), r);
  // llama-server's reasoning_format: "none" keeps a "<think>" span in the content
  // (pipeline/think_split.h); "auto" and "deepseek" move it to reasoning_content (the default).
  if (present(j, "reasoning_format")) {
    const json& f = j.at("reasoning_format");
    if (!f.is_string() || (f != "none" && f != "auto" && f != "deepseek")) {
      bad("reasoning_format", "'reasoning_format' must be \"auto\", \"deepseek\" or \"none\"");
    }
    r.split_reasoning = f != "none";
  }
}

}  // namespace

ChatRequest parse_chat_request(std::string_view body, const std::string& default_model) {
  const json j = parse_json_body(body);
  ChatRequest r;
  parse_generation_fields(j, r, -1, 1, default_model);
  if (!present(j, "messages")) bad("messages", "'messages' is required");
  r.messages = j.at("messages");
  if (!r.messages.is_array()) bad("messages", "'messages' must be an array");
  if (r.messages.empty()) bad("messages", "'messages' must contain at least one message");
  for (size_t i = 0; i < r.messages.size(); ++i) check_message(r.messages[i], i);
  r.logprobs = get_bool(j, "logprobs", false);
  if (present(j, "top_logprobs")) {
    if (!r.logprobs) bad("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    r.top_logprobs = static_cast<int>(*get_integer(j, "top_logprobs", 0, 20));
  }
  if (present(j, "response_format")) r.response_format = parse_response_format(j.at("response_format"));
  if (present(j, "grammar")) {  // llama-server's extension: GBNF text, parsed when the request runs
    if (!j.at("grammar").is_string()) bad("grammar", "'grammar' must be a string of GBNF rules");
    r.grammar = j.at("grammar").get<std::string>();
  }
  std::vector<std::string> tool_names;
  if (present(j, "tools")) {
    r.tools = j.at("tools");
    tool_names = check_tools(r.tools);
  }
  if (present(j, "tool_choice")) {
    r.tool_choice = j.at("tool_choice");
    check_tool_choice(r.tool_choice, tool_names);
  }
  if (present(j, "parallel_tool_calls")) get_bool(j, "parallel_tool_calls", true);
  if (present(j, "chat_template_kwargs")) {
    r.chat_template_kwargs = j.at("chat_template_kwargs");
    if (!r.chat_template_kwargs.is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    for (auto it = r.chat_template_kwargs.begin(); it != r.chat_template_kwargs.end(); ++it) {
      if (is_request_template_variable(it.key())) {
        bad("chat_template_kwargs", fmt::format("'chat_template_kwargs' may not set '{}': it comes from the request", it.key()));
      }
    }
  }
  parse_chat_extensions(j, r);
  return r;
}

CompletionRequest parse_completion_request(std::string_view body) {
  const json j = parse_json_body(body);
  CompletionRequest r;
  parse_generation_fields(j, r, 16, /*min_max_tokens=*/0);  // 16: OpenAI's default for completions
  if (!present(j, "prompt")) bad("prompt", "'prompt' is required");
  const json& p = j.at("prompt");
  auto token_list = [](const json& a, const std::string& where) {
    std::vector<int32_t> ids;
    for (const json& t : a) {
      const int64_t id = as_integer(t, where);
      if (id < 0 || id > INT32_MAX) bad(where, where + " holds a token id out of range");
      ids.push_back(static_cast<int32_t>(id));
    }
    if (ids.empty()) bad(where, where + " is an empty list of tokens");
    return ids;
  };
  if (p.is_string()) {
    r.prompts.push_back({p.get<std::string>(), {}, false});
  } else if (p.is_array()) {
    if (p.empty()) bad("prompt", "'prompt' must not be empty");
    if (p[0].is_number()) {
      r.prompts.push_back({"", token_list(p, "prompt"), true});
    } else {
      for (const json& e : p) {
        if (e.is_string()) {
          r.prompts.push_back({e.get<std::string>(), {}, false});
        } else if (e.is_array()) {
          r.prompts.push_back({"", token_list(e, "prompt"), true});
        } else {
          bad("prompt", "'prompt' must be a string, an array of strings, or token ids");
        }
      }
    }
  } else {
    bad("prompt", "'prompt' must be a string, an array of strings, or token ids");
  }
  if (r.prompts.size() > 64) bad("prompt", "at most 64 prompts per request");
  r.echo = get_bool(j, "echo", false);
  // OpenAI stops at 5; llama-server and vLLM take up to 20 (lm-eval-harness's gguf model asks 10).
  if (present(j, "logprobs")) r.logprobs = static_cast<int>(*get_integer(j, "logprobs", 0, 20));
  // max_tokens 0 with echo: the prompt back, scored (with logprobs), as OpenAI's legacy API.
  if (r.max_tokens == 0 && !r.echo) bad("max_tokens", "'max_tokens' 0 generates nothing: it needs 'echo' true");
  if (present(j, "suffix")) bad("suffix", "'suffix' (insertion) is not supported");
  if (auto best_of = get_integer(j, "best_of", 1, 16); best_of && *best_of != r.n) {
    bad("best_of", "'best_of' must equal 'n' (candidates are not re-ranked)");
  }
  return r;
}

EmbeddingRequest parse_embedding_request(std::string_view body) {
  const json j = parse_json_body(body);
  EmbeddingRequest r;
  r.model = get_string(j, "model", true);
  if (!present(j, "input")) bad("input", "'input' is required");
  const json& in = j.at("input");
  auto tokens = [](const json& a) {
    std::vector<int32_t> ids;
    for (const json& t : a) {
      const int64_t id = as_integer(t, "input");
      if (id < 0 || id > INT32_MAX) bad("input", "'input' holds a token id out of range");
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  };
  if (in.is_string()) {
    r.inputs.push_back({in.get<std::string>(), {}, false});
  } else if (in.is_array() && !in.empty() && in[0].is_number()) {
    r.inputs.push_back({"", tokens(in), true});
  } else if (in.is_array()) {
    for (const json& e : in) {
      if (e.is_string()) {
        r.inputs.push_back({e.get<std::string>(), {}, false});
      } else if (e.is_array()) {
        r.inputs.push_back({"", tokens(e), true});
      } else {
        bad("input", "'input' must be a string, an array of strings, or token ids");
      }
    }
  } else {
    bad("input", "'input' must be a string, an array of strings, or token ids");
  }
  if (r.inputs.empty()) bad("input", "'input' must not be empty");
  if (r.inputs.size() > 2048) bad("input", "at most 2048 inputs per request");
  for (const EmbeddingInput& e : r.inputs) {
    if (e.is_tokens ? e.tokens.empty() : e.text.empty()) bad("input", "'input' must not contain empty inputs");
  }
  const std::string format = present(j, "encoding_format") ? get_string(j, "encoding_format", false) : "float";
  if (format != "float" && format != "base64") bad("encoding_format", "'encoding_format' must be 'float' or 'base64'");
  r.base64 = format == "base64";
  if (auto d = get_integer(j, "dimensions", 1, int64_t{1} << 20)) r.dimensions = static_cast<int>(*d);
  return r;
}

// Jina's and Cohere's shape, which llama-server also reads: {model, query, documents, top_n,
// return_documents}, each document a string or (Cohere) an object whose "text" is scored, its
// other fields echoed. The model may be left out (TEI clients send none): the handler then
// names the reranker served.
RerankRequest parse_rerank_request(std::string_view body) {
  const json j = parse_json_body(body);
  RerankRequest r;
  r.model = get_string(j, "model", false);
  r.query = get_string(j, "query", true);
  constexpr const char* kShape = "a non-empty array of strings or of {\"text\": string} objects";
  if (!present(j, "documents")) bad("documents", fmt::format("'documents' is required: {}", kShape));
  const json& documents = j.at("documents");
  if (!documents.is_array() || documents.empty()) bad("documents", fmt::format("'documents' must be {}", kShape));
  constexpr size_t kMaxDocuments = 4096;
  if (documents.size() > kMaxDocuments) bad("documents", fmt::format("at most {} documents per request", kMaxDocuments));
  bool any_object = false;
  for (size_t i = 0; i < documents.size(); ++i) {
    const json& d = documents[i];
    if (d.is_string()) {
      r.documents.push_back(d.get<std::string>());
    } else if (d.is_object()) {
      const auto text = d.find("text");
      if (text == d.end() || !text->is_string()) {
        bad("documents", fmt::format("'documents[{}].text' must be a string (a document object is scored by its text)", i));
      }
      r.documents.push_back(text->get<std::string>());
      any_object = true;
    } else {
      bad("documents", fmt::format("'documents[{}]' must be a string or a {{\"text\": string}} object", i));
    }
  }
  if (any_object) r.documents_as_sent = documents;
  if (auto top_n = get_integer(j, "top_n", 1, INT32_MAX)) r.top_n = static_cast<int>(*top_n);
  r.return_documents = get_bool(j, "return_documents", false);
  return r;
}

TokenizeRequest parse_tokenize_request(std::string_view body) {
  const json j = parse_json_body(body);
  TokenizeRequest r;
  r.model = get_string(j, "model", false);
  if (!present(j, "content")) bad("content", "'content' is required");
  r.content = get_string(j, "content", true);
  r.add_special = get_bool(j, "add_special", false);
  r.parse_special = get_bool(j, "parse_special", true);
  r.with_pieces = get_bool(j, "with_pieces", false);
  return r;
}

DetokenizeRequest parse_detokenize_request(std::string_view body) {
  const json j = parse_json_body(body);
  DetokenizeRequest r;
  r.model = get_string(j, "model", false);
  if (!present(j, "tokens") || !j.at("tokens").is_array()) bad("tokens", "'tokens' must be an array of token ids");
  for (const json& t : j.at("tokens")) {
    const int64_t id = as_integer(t, "tokens");
    if (id < 0 || id > INT32_MAX) bad("tokens", fmt::format("'tokens' holds {}, not a token id", id));
    r.tokens.push_back(static_cast<int32_t>(id));
  }
  return r;
}

}  // namespace rpu
