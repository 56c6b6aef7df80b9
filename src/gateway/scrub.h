// Personal data scrubbing (issue 12, S2): finds personal data in text and replaces each value
// with a typed placeholder (<EMAIL_1>, <PHONE_2>, <PERSON_1>, ...) before anything is logged.
//
// How each type is found (regexes via reasoning::Pattern, i.e. PCRE2 with a match budget; a
// C++ validator decides each candidate):
//   EMAIL           local@domain.tld
//   PHONE           +CC international forms, NANP "(555) 123-4567" / "555-123-4567", national
//                   forms with a trunk 0 ("030 12345678"); 7-15 digits; dates, numbers after
//                   "Order"/"Part"/"SKU"/... and tails of longer numbers rejected
//   CREDIT_CARD     13-19 digits with optional space/dash groups, card-network first digit, Luhn
//   IBAN            country code + check digits + BBAN, mod-97 == 1
//   SSN             ###-##-####, area not 000/666/9xx, group not 00, serial not 0000
//   IP              IPv4 (octets 0-255, not inside a longer dotted number, not after "v"/"version")
//                   and IPv6 (inet_pton, at least three groups)
//   SECRET          known key prefixes (sk-, sk-proj-, ghp_/gho_/ghs_, github_pat_, AKIA, xox?-,
//                   AIza, glpat-, sk_live_, JWTs, Bearer tokens), values of password / secret /
//                   token / api_key fields, and high-entropy tokens (>= 20 chars, lower +
//                   upper + digits, Shannon entropy >= 3.7 bits/char; hex strings such as git
//                   SHAs, sha256 digests and UUIDs are never secrets)
//   URL_CREDENTIALS scheme://user:pass@host[:port]: the whole authority is replaced
//   PERSON          a first-name list (data/pii/first_names.txt, embedded at build time)
//                   followed by a capitalised surname, or any capitalised name after a context
//                   cue ("my name is", "Mr./Ms./Dr.", "Dear", "Hi", sign-offs like "Regards,")
//   ADDRESS         house number + capitalised street words + street suffix (Street/St/Ave/Road/
//                   Blvd/...), optional unit, city, state and ZIP; German "<Name>straße 12";
//                   French "12 rue de ..."
// A text that exhausts a pattern's match budget throws rpu::Error (fail closed).
// Overlaps: the earlier detector wins (URL credentials before e-mail, ..., the entropy rule last).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rpu::gateway {

enum class PiiType { kUrlCredentials, kEmail, kSecret, kIban, kCreditCard, kSsn, kIp, kPhone, kAddress, kPerson };
inline constexpr size_t kPiiTypeCount = 10;

std::string_view pii_type_name(PiiType type);  // "EMAIL", "URL_CREDENTIALS", ...
// Every placeholder ScrubSession writes ("<NAME_N>": NAME of A-Z and '_' starting with a
// letter, N digits) in `text`, in order, repeats included.
std::vector<std::string> placeholders_in(std::string_view text);

// A phone number's E.164 form, "+" and its digits: a number written with "+" keeps its digits;
// 10 digits without one are a North American number (+1), and so are 11 starting with 1; other
// national forms ("030 12345678": the country is not written) have none.
std::optional<std::string> phone_e164(std::string_view phone);

// Derived placeholders. An answer often writes a request's value again in another form (a tool
// wants phone numbers in E.164), and in a scrubbed log that new string would be a new
// placeholder the request lacks, which a specialist served on scrubbed input could never fill.
// So ScrubSession writes a phone that is the E.164 form of one it has already replaced as
// "<PHONE_E164_n>": "<PHONE_n>'s value, in E.164", which the restorer (unscrub.h) computes back.
// derived_source: the placeholder a derived one is made from ("<PHONE_1>" for
// "<PHONE_E164_1>"), "" for any other text. derived_value: a derived placeholder's value given
// its source's value (nullopt when that value has no such form).
std::string derived_source(std::string_view placeholder);
std::optional<std::string> derived_value(std::string_view placeholder, std::string_view source_value);

struct PiiSpan {
  PiiType type;
  size_t begin = 0;  // byte range in the scanned text
  size_t end = 0;
};

// Validators (exposed for tests). Spaces and dashes inside the value are ignored.
bool luhn_valid(std::string_view number);
bool iban_valid(std::string_view iban);
bool ssn_valid(std::string_view ssn);  // "###-##-####"
bool ipv4_valid(std::string_view address);
bool ipv6_valid(std::string_view address);
double shannon_entropy(std::string_view text);  // bits per byte
bool looks_like_secret_token(std::string_view token);  // the high-entropy rule

// Compiled detectors; build once and share (find() is const and thread-safe).
class Scrubber {
 public:
  Scrubber();
  ~Scrubber();
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // Non-overlapping spans, sorted by position.
  std::vector<PiiSpan> find(std::string_view text) const;

  struct Detector;

 private:
  std::vector<std::unique_ptr<Detector>> detectors_;
};

// One conversation: the same value always gets the same placeholder; numbering is per type
// and starts at 1. Different sessions are independent.
class ScrubSession {
 public:
  explicit ScrubSession(const Scrubber& scrubber) : scrubber_(scrubber) {}

  std::string scrub(std::string_view text);
  // An OpenAI `messages` array in place: string content, text parts of array content, and
  // tool_calls[].function.arguments (a JSON string, scrubbed as text). Other fields stay.
  void scrub_messages(nlohmann::json& messages);
  void scrub_messages(nlohmann::ordered_json& messages);
  // Every string inside `value` (tool schemas, a legacy prompt, fields besides messages).
  void scrub_strings(nlohmann::json& value);
  void scrub_strings(nlohmann::ordered_json& value);

  // A new value of `type` gets the next number; a phone that is the E.164 form of an earlier
  // one gets the derived placeholder (see derived_source).
  const std::string& placeholder_for(PiiType type, const std::string& value);
  // value -> placeholder, for every value seen so far.
  const std::map<std::string, std::string>& mapping() const { return placeholders_; }
  // Distinct values seen per type.
  const std::array<size_t, kPiiTypeCount>& counts() const { return counts_; }

 private:
  template <typename Json>
  void scrub_messages_of(Json& messages);
  template <typename Json>
  void scrub_strings_of(Json& value);
  std::string scrub_arguments(const std::string& arguments);

  const Scrubber& scrubber_;
  std::map<std::string, std::string> placeholders_;  // value -> placeholder
  std::array<size_t, kPiiTypeCount> counts_{};
};

}  // namespace rpu::gateway
