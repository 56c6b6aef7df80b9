// ScrubSession: replaces the spans the Scrubber finds with typed placeholders, consistent
// within one conversation, in plain text and in OpenAI `messages` arrays.
#include <fmt/format.h>

#include "core/json_text.h"
#include "gateway/scrub.h"

namespace rpu::gateway {

std::string_view pii_type_name(PiiType type) {
  switch (type) {
    case PiiType::kUrlCredentials: return "URL_CREDENTIALS";
    case PiiType::kEmail: return "EMAIL";
    case PiiType::kSecret: return "SECRET";
    case PiiType::kIban: return "IBAN";
    case PiiType::kCreditCard: return "CREDIT_CARD";
    case PiiType::kSsn: return "SSN";
    case PiiType::kIp: return "IP";
    case PiiType::kPhone: return "PHONE";
    case PiiType::kAddress: return "ADDRESS";
    case PiiType::kPerson: return "PERSON";
  }
  return "PII";
}

const std::string& ScrubSession::placeholder_for(PiiType type, const std::string& value) {
  auto it = placeholders_.find(value);
  if (it != placeholders_.end()) return it->second;
  const size_t n = ++counts_[static_cast<size_t>(type)];
  return placeholders_.emplace(value, fmt::format("<{}_{}>", pii_type_name(type), n)).first->second;
}

std::string ScrubSession::scrub(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (const PiiSpan& span : scrubber_.find(text)) {
    out.append(text.substr(at, span.begin - at));
    out += placeholder_for(span.type, std::string(text.substr(span.begin, span.end - span.begin)));
    at = span.end;
  }
  out.append(text.substr(at));
  return out;
}

template <typename Json>
void ScrubSession::scrub_strings_of(Json& value) {
  if (value.is_string()) {
    value = scrub(value.template get_ref<const std::string&>());
  } else if (value.is_array() || value.is_object()) {
    for (auto& item : value) scrub_strings_of(item);
  }
}

void ScrubSession::scrub_strings(nlohmann::json& value) { scrub_strings_of(value); }
void ScrubSession::scrub_strings(nlohmann::ordered_json& value) { scrub_strings_of(value); }

// Tool-call arguments are a JSON text: its string values are scrubbed one by one (so escapes
// such as "\n" do not hide a word boundary); text that does not parse is scrubbed as text.
std::string ScrubSession::scrub_arguments(const std::string& arguments) {
  if (json_nesting_depth(arguments) > kMaxJsonNesting) return scrub(arguments);
  nlohmann::json parsed = nlohmann::json::parse(arguments, nullptr, false);
  if (parsed.is_discarded()) return scrub(arguments);
  scrub_strings(parsed);
  return parsed.dump();
}

template <typename Json>
void ScrubSession::scrub_messages_of(Json& messages) {
  if (!messages.is_array()) return;
  for (auto& message : messages) {
    if (!message.is_object()) continue;
    if (auto content = message.find("content"); content != message.end()) {
      if (content->is_string()) {
        *content = scrub(content->template get_ref<const std::string&>());
      } else if (content->is_array()) {
        for (auto& part : *content) {
          if (part.is_object() && part.contains("text") && part["text"].is_string())
            part["text"] = scrub(part["text"].template get_ref<const std::string&>());
        }
      }
    }
    if (auto calls = message.find("tool_calls"); calls != message.end() && calls->is_array()) {
      for (auto& call : *calls) {
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
        auto& function = call["function"];
        if (function.contains("arguments") && function["arguments"].is_string())
          function["arguments"] = scrub_arguments(function["arguments"].template get_ref<const std::string&>());
      }
    }
  }
}

void ScrubSession::scrub_messages(nlohmann::json& messages) { scrub_messages_of(messages); }
void ScrubSession::scrub_messages(nlohmann::ordered_json& messages) { scrub_messages_of(messages); }

}  // namespace rpu::gateway
