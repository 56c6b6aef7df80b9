// ScrubSession: replaces the spans the Scrubber finds with typed placeholders, consistent
// within one conversation, in plain text and in OpenAI `messages` arrays.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

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

std::vector<std::string> placeholders_in(std::string_view text) {
  std::vector<std::string> out;
  for (size_t lt = text.find('<'); lt != std::string_view::npos; lt = text.find('<', lt + 1)) {
    size_t end = lt + 1;
    while (end < text.size() && ((text[end] >= 'A' && text[end] <= 'Z') || text[end] == '_' ||
                                 (text[end] >= '0' && text[end] <= '9'))) {
      ++end;
    }
    if (end >= text.size() || text[end] != '>') continue;
    const std::string_view name = text.substr(lt + 1, end - lt - 1);
    const size_t underscore = name.rfind('_');
    if (name.empty() || name[0] < 'A' || name[0] > 'Z' || underscore == std::string_view::npos ||
        underscore + 1 == name.size() || name.find_first_not_of("0123456789", underscore + 1) != std::string_view::npos) {
      continue;
    }
    out.emplace_back(text.substr(lt, end - lt + 1));
  }
  return out;
}

namespace {
constexpr std::string_view kPhonePrefix = "<PHONE_";
constexpr std::string_view kPhoneE164Prefix = "<PHONE_E164_";
}  // namespace

std::optional<std::string> phone_e164(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (c >= '0' && c <= '9') digits += c;
  }
  const size_t plus = phone.find_first_not_of(" \t");
  if (plus != std::string_view::npos && phone[plus] == '+') {
    if (digits.size() < 7 || digits.size() > 15) return std::nullopt;
    return "+" + digits;
  }
  if (digits.size() == 10 && digits[0] >= '2') return "+1" + digits;
  if (digits.size() == 11 && digits[0] == '1' && digits[1] >= '2') return "+" + digits;
  return std::nullopt;
}

std::string derived_source(std::string_view placeholder) {
  if (!placeholder.starts_with(kPhoneE164Prefix) || !placeholder.ends_with(">")) return "";
  const std::string_view number = placeholder.substr(kPhoneE164Prefix.size(), placeholder.size() - kPhoneE164Prefix.size() - 1);
  if (number.empty() || number.find_first_not_of("0123456789") != std::string_view::npos) return "";
  return std::string(kPhonePrefix) + std::string(number) + ">";
}

std::optional<std::string> derived_value(std::string_view placeholder, std::string_view source_value) {
  if (derived_source(placeholder).empty()) return std::nullopt;
  return phone_e164(source_value);
}

const std::string& ScrubSession::placeholder_for(PiiType type, const std::string& value) {
  auto it = placeholders_.find(value);
  if (it != placeholders_.end()) return it->second;
  // Only a phone written in E.164 is derived, from an earlier phone with the same E.164 form.
  if (type == PiiType::kPhone && phone_e164(value) == value) {
    for (const auto& [earlier, placeholder] : placeholders_) {
      if (!placeholder.starts_with(kPhonePrefix) || !derived_source(placeholder).empty()) continue;
      if (phone_e164(earlier) != value) continue;
      const std::string number = placeholder.substr(kPhonePrefix.size());  // "1>"
      return placeholders_.emplace(value, std::string(kPhoneE164Prefix) + number).first->second;
    }
  }
  const size_t n = ++counts_[static_cast<size_t>(type)];
  return placeholders_.emplace(value, fmt::format("<{}_{}>", pii_type_name(type), n)).first->second;
}

namespace {

bool word_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) != 0;  // UTF-8 bytes count as letters: never split a character
}

// Occurrences of `value` in `text` that stand alone (no letter or digit right before or after).
std::vector<std::pair<size_t, size_t>> whole_occurrences(std::string_view text, std::string_view value) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t at = text.find(value); at != std::string_view::npos; at = text.find(value, at + 1)) {
    const size_t end = at + value.size();
    const bool alone_before = at == 0 || !word_byte(text[at - 1]) || !word_byte(value.front());
    const bool alone_after = end == text.size() || !word_byte(text[end]) || !word_byte(value.back());
    if (alone_before && alone_after) out.emplace_back(at, end);
  }
  return out;
}

}  // namespace

// The detector's spans, then, in what is left, every value this session has already replaced
// wherever it appears again: an answer that quotes a name the detector only found after a cue in
// the request ("my name is ...": no cue in {"name": "..."}) must not carry it into the log in
// clear. The detector goes first so that nothing it would replace is left out.
std::string ScrubSession::scrub(std::string_view text) {
  struct Replacement {
    size_t begin, end;
    std::string placeholder;
  };
  std::vector<Replacement> replacements;
  std::vector<bool> taken(text.size(), false);
  auto take = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      if (taken[i]) return false;
    }
    std::fill(taken.begin() + static_cast<long>(begin), taken.begin() + static_cast<long>(end), true);
    return true;
  };
  for (const PiiSpan& span : scrubber_.find(text)) {
    take(span.begin, span.end);  // the detector's spans never overlap
    replacements.push_back({span.begin, span.end,
                            placeholder_for(span.type, std::string(text.substr(span.begin, span.end - span.begin)))});
  }
  // Known values longest first ("Ana Silva" before "Ana").
  std::vector<const std::pair<const std::string, std::string>*> known;
  for (const auto& entry : placeholders_) {
    if (entry.first.size() >= 3) known.push_back(&entry);
  }
  std::sort(known.begin(), known.end(), [](auto* a, auto* b) { return a->first.size() > b->first.size(); });
  for (const auto* entry : known) {
    for (const auto& [begin, end] : whole_occurrences(text, entry->first)) {
      if (take(begin, end)) replacements.push_back({begin, end, entry->second});
    }
  }
  std::sort(replacements.begin(), replacements.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (const Replacement& r : replacements) {
    out.append(text.substr(at, r.begin - at));
    out += r.placeholder;
    at = r.end;
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
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(arguments, nullptr, false);  // keys as written
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
