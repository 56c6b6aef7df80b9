#include "chat/chat_template.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "chat/jinja_builtins.h"
#include "core/json_text.h"
#include "chat/jinja_error.h"
#include "chat/jinja_eval.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"

namespace rpu {

using nlohmann::ordered_json;

struct ChatTemplate::Compiled {
  std::string source;
  jinja::Program program;
};

namespace {

constexpr int kMaxJsonDepth = 256;

// A canonical array index ("0", "17", not "017" or "-1") below 2^32 - 1: JavaScript objects list
// such keys first, in numeric order, whatever order they were inserted in.
bool is_array_index(const std::string& key, std::uint64_t& index) {
  if (key.empty() || key.size() > 10 || (key.size() > 1 && key[0] == '0')) return false;
  index = 0;
  for (char c : key) {
    if (c < '0' || c > '9') return false;
    index = index * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return index < 4294967295ULL;
}

// convertToRuntimeValues: JSON numbers are JavaScript doubles; an integral one is an IntegerValue
// (so 2.0 prints as "2"), any other a FloatValue. `bytes` sums the strings and keys, which size
// the render's work budget.
jinja::Value to_value(const ordered_json& j, int depth, std::uint64_t& bytes) {
  using jinja::Value;
  if (depth > kMaxJsonDepth) jinja::raise("context nesting deeper than " + std::to_string(kMaxJsonDepth));
  switch (j.type()) {
    case ordered_json::value_t::null: return Value::none();
    case ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case ordered_json::value_t::number_integer: return Value::integer(static_cast<double>(j.get<std::int64_t>()));
    case ordered_json::value_t::number_unsigned: return Value::integer(static_cast<double>(j.get<std::uint64_t>()));
    case ordered_json::value_t::number_float: {
      const double d = j.get<double>();
      return std::isfinite(d) && std::floor(d) == d ? Value::integer(d) : Value::floating(d);
    }
    case ordered_json::value_t::string:
      bytes += j.get_ref<const std::string&>().size();
      return Value::string(j.get<std::string>());
    case ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(to_value(item, depth + 1, bytes));
      return Value::list(std::move(items));
    }
    case ordered_json::value_t::object: {
      jinja::Dict d;
      std::vector<std::pair<std::uint64_t, const std::string*>> indices;
      for (auto it = j.begin(); it != j.end(); ++it) {
        std::uint64_t index = 0;
        if (is_array_index(it.key(), index)) indices.emplace_back(index, &it.key());
      }
      std::sort(indices.begin(), indices.end());
      for (const auto& [index, key] : indices) d.set(*key, to_value(j.at(*key), depth + 1, bytes));
      for (auto it = j.begin(); it != j.end(); ++it) {
        std::uint64_t index = 0;
        if (!is_array_index(it.key(), index)) d.set(it.key(), to_value(it.value(), depth + 1, bytes));
        bytes += it.key().size();
      }
      return Value::object(std::move(d));
    }
    default: jinja::raise("unsupported JSON value in the context (binary data)");
  }
}

std::tm local_now() {
  const std::time_t t = std::time(nullptr);
  std::tm out{};
  localtime_r(&t, &out);
  return out;
}

}  // namespace

ChatTemplate ChatTemplate::parse(std::string source) {
  auto compiled = std::make_shared<Compiled>();
  compiled->program = jinja::parse(jinja::tokenize(source));
  compiled->source = std::move(source);
  return ChatTemplate(std::move(compiled));
}

const std::string& ChatTemplate::source() const { return compiled_->source; }

std::string ChatTemplate::render(const ordered_json& context) const { return render(context, ChatRenderOptions{}); }

std::string ChatTemplate::render(const ordered_json& context, const ChatRenderOptions& options) const {
  if (!context.is_object()) throw Error("chat template: the render context must be a JSON object");
  jinja::RenderLimits limits;
  limits.max_output_bytes = options.max_output_bytes;
  limits.max_steps = options.max_steps;
  limits.max_call_depth = options.max_call_depth;
  limits.max_cost = options.max_cost;
  limits.cancelled = options.cancelled;
  jinja::Interpreter interp(limits);
  try {
    auto globals = std::make_shared<jinja::Env>();
    jinja::install_globals(*globals, interp, options.now ? options.now : local_now);
    std::uint64_t context_bytes = 0;
    for (auto it = context.begin(); it != context.end(); ++it) {
      // The reference refuses to redeclare a global (true, range, namespace, ...).
      if (globals->has_own(it.key())) jinja::raise("context variable '" + it.key() + "' is already declared");
      globals->set(it.key(), to_value(it.value(), 0, context_bytes));
    }
    // A longer conversation may take proportionally more work; a runaway template may not.
    interp.extend_budget(context_bytes * jinja::kCostPerContextByte);
    return interp.run(compiled_->program, globals);
  } catch (const std::bad_alloc&) {
    throw Error("chat template: out of memory while rendering");
  } catch (const Error& e) {
    if (interp.budget_exhausted()) throw ChatTemplateBudgetError(e.what());
    throw;
  } catch (const std::exception& e) {
    throw Error(std::string("chat template: internal error: ") + e.what());
  }
}

namespace {

[[noreturn]] void bad_request(const std::string& what) { throw Error("chat request: " + what); }

void check_message(const ordered_json& m, std::size_t i, const ChatContextOptions& options, ordered_json& out) {
  const std::string where = "messages[" + std::to_string(i) + "]";
  if (!m.is_object()) bad_request(where + " must be an object");
  if (!m.contains("role") || !m["role"].is_string()) bad_request(where + ".role must be a string");
  if (m.contains("content")) {
    const auto& c = m["content"];
    // Objects are allowed too: some clients send structured tool results, which templates such as
    // Llama 3's render with tojson.
    if (!c.is_string() && !c.is_null() && !c.is_array() && !c.is_object())
      bad_request(where + ".content must be a string, null, an object or an array of parts");
    if (c.is_array())
      for (const auto& part : c)
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
          bad_request(where + ".content parts must be objects with a string \"type\"");
  }
  if (!m.contains("tool_calls") || m["tool_calls"].is_null()) return;
  const auto& calls = m["tool_calls"];
  if (!calls.is_array()) bad_request(where + ".tool_calls must be an array");
  for (std::size_t k = 0; k < calls.size(); ++k) {
    const std::string cw = where + ".tool_calls[" + std::to_string(k) + "]";
    const auto& call = calls[k];
    if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) bad_request(cw + ".function must be an object");
    const auto& fn = call["function"];
    if (!fn.contains("name") || !fn["name"].is_string()) bad_request(cw + ".function.name must be a string");
    if (!fn.contains("arguments")) continue;
    const auto& args = fn["arguments"];
    if (!args.is_string() && !args.is_object()) bad_request(cw + ".function.arguments must be a JSON string or an object");
    // Nested too deep (the request's own nesting was checked, not this string's), it stays a string.
    if (options.tool_call_arguments_as_objects && args.is_string() &&
        json_nesting_depth(args.get_ref<const std::string&>()) <= kMaxJsonNesting) {
      ordered_json parsed = ordered_json::parse(args.get<std::string>(), nullptr, false);
      if (parsed.is_object()) out["tool_calls"][k]["function"]["arguments"] = std::move(parsed);
    }
  }
}

}  // namespace

ordered_json make_chat_context(const ordered_json& messages, const ordered_json& tools, const ChatContextOptions& options,
                               const ordered_json& extra) {
  if (!messages.is_array()) bad_request("messages must be an array");
  ordered_json checked = ordered_json::array();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    ordered_json copy = messages[i];
    check_message(messages[i], i, options, copy);
    checked.push_back(std::move(copy));
  }
  if (!tools.is_null() && !tools.is_array()) bad_request("tools must be an array or null");
  if (tools.is_array())
    for (std::size_t i = 0; i < tools.size(); ++i)
      if (!tools[i].is_object()) bad_request("tools[" + std::to_string(i) + "] must be an object");
  if (!extra.is_null() && !extra.is_object()) bad_request("extra template variables must be a JSON object");

  ordered_json ctx = ordered_json::object();
  ctx["messages"] = std::move(checked);
  ctx["add_generation_prompt"] = options.add_generation_prompt;
  ctx["tools"] = tools.is_array() && !tools.empty() ? tools : ordered_json(nullptr);
  ctx["documents"] = nullptr;
  if (!options.bos_token.empty()) ctx["bos_token"] = options.bos_token;
  if (!options.eos_token.empty()) ctx["eos_token"] = options.eos_token;
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      if (is_request_template_variable(it.key()))
        bad_request("template variable '" + it.key() + "' comes from the request and cannot be set as an extra");
      ctx[it.key()] = it.value();
    }
  return ctx;
}

std::string template_reply_lead(const ChatTemplate& tmpl, const std::string& bos_token, const std::string& eos_token) {
  // A probe conversation: the prompt before the reply, and the same conversation with the reply
  // (a marker no template rewrites) written by the template.
  const std::string marker = "rpu-reply-marker";
  const ordered_json user = {{"role", "user"}, {"content", "hello"}};
  ChatContextOptions options;
  options.bos_token = bos_token;
  options.eos_token = eos_token;
  try {
    options.add_generation_prompt = true;
    const std::string prompt = tmpl.render(make_chat_context(ordered_json::array({user}), nullptr, options, nullptr));
    options.add_generation_prompt = false;
    const ordered_json answered = ordered_json::array({user, {{"role", "assistant"}, {"content", marker}}});
    const std::string full = tmpl.render(make_chat_context(answered, nullptr, options, nullptr));
    const std::size_t at = full.find(marker, prompt.size());
    if (full.compare(0, prompt.size(), prompt) != 0 || at == std::string::npos) return "";
    const std::string lead = full.substr(prompt.size(), at - prompt.size());
    return lead.find_first_not_of(" \t") == std::string::npos ? lead : "";
  } catch (const std::exception&) {
    return "";  // a template that refuses the probe (e.g. demands a system message) keeps its replies as generated
  }
}

}  // namespace rpu
