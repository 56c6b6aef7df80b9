// The scrubber's detectors: one PCRE2 pattern per shape of value, each candidate confirmed by
// a C++ check (checksums, ranges, context). Overlaps are resolved by type priority.
#include <algorithm>
#include <cctype>
#include <functional>

#include "core/error.h"
#include "gateway/scrub.h"
#include "gateway/scrub_names.h"
#include "reasoning/pattern.h"

namespace rpu::gateway {

struct Scrubber::Detector {
  PiiType type;
  reasoning::Pattern pattern;
  int group = 0;  // the value is this group of the match (0: the whole match)
  // Confirms a candidate: the whole text and the value's byte range (may narrow the range).
  std::function<bool(std::string_view text, size_t& begin, size_t& end)> accept;
};

namespace {

using Accept = std::function<bool(std::string_view, size_t&, size_t&)>;

std::string_view slice(std::string_view text, size_t begin, size_t end) { return text.substr(begin, end - begin); }

size_t count_digits(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return isdigit(static_cast<unsigned char>(c)); }));
}

bool ends_with_ci(std::string_view text, std::string_view suffix) {
  if (text.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (tolower(static_cast<unsigned char>(text[text.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

// A dotted number right after "v", "version" or "build" is a version, not an address.
bool after_version_word(std::string_view text, size_t begin) {
  std::string_view before = text.substr(0, begin);
  while (!before.empty() && (before.back() == ' ' || before.back() == ':' || before.back() == '=')) before.remove_suffix(1);
  return ends_with_ci(before, "v") || ends_with_ci(before, "version") || ends_with_ci(before, "build") ||
         ends_with_ci(before, "release") || ends_with_ci(before, "ver");
}

// Numbers right after a word naming an identifier ("Order", "Part no.", "barcode") are not
// personal data even when they have a phone's or a card's shape.
bool after_identifier_word(std::string_view text, size_t begin) {
  std::string before(text.substr(begin > 16 ? begin - 16 : 0, begin > 16 ? 16 : begin));
  for (char& c : before) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  for (const char* word : {"order", "part", "sku", "serial", "invoice", "ref", "model", "isbn", "ean",
                           "barcode", "tracking", "ticket", "gtin", "upc", "iban", "po "})
    if (before.find(word) != std::string::npos) return true;
  return false;
}

// A candidate that starts right after "<digit><space>" is the tail of a longer number.
bool inside_longer_number(std::string_view text, size_t begin) {
  return begin >= 2 && (text[begin - 1] == ' ' || text[begin - 1] == '-') && isdigit(static_cast<unsigned char>(text[begin - 2]));
}

size_t distinct_digits(std::string_view s) {
  bool seen[10] = {};
  size_t n = 0;
  for (char c : s)
    if (isdigit(static_cast<unsigned char>(c)) && !seen[c - '0']) seen[c - '0'] = true, ++n;
  return n;
}

bool phone_ok(std::string_view text, size_t& begin, size_t& end) {
  const std::string_view value = slice(text, begin, end);
  const size_t digits = count_digits(value);
  if (digits < 7 || digits > 15) return false;
  // An ISO date or a run of one digit is not a phone number.
  if (value.size() >= 10 && isdigit(static_cast<unsigned char>(value[0])) && value[4] == '-' && value[7] == '-') return false;
  // Product codes and order numbers: "SKU-030 1234", "#555-123-4567".
  if (begin > 0 && (isalnum(static_cast<unsigned char>(text[begin - 1])) || text[begin - 1] == '#')) return false;
  return distinct_digits(value) >= 3 && !after_identifier_word(text, begin) && !inside_longer_number(text, begin) &&
         value.find("123456789") == std::string_view::npos;  // a digit alphabet
}

std::vector<std::unique_ptr<Scrubber::Detector>> make_detectors() {
  std::vector<std::unique_ptr<Scrubber::Detector>> out;
  auto add = [&](PiiType type, std::string_view regex, int group, Accept accept) {
    add_detector(out, type, regex, group, std::move(accept));
  };
  const Accept any = [](std::string_view, size_t&, size_t&) { return true; };

  add(PiiType::kUrlCredentials, R"((?i)\b[a-z][a-z0-9+.\-]*://[^\s:/@"'<>]+:[^\s@/"'<>]+@[^\s/?#"'<>,;]+)", 0, any);
  add(PiiType::kEmail, R"((?<![\w.%+\-])(?<!//)[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b)", 0, any);
  add(PiiType::kSecret,
      R"(\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"
      R"(|AKIA[0-9A-Z]{16}|xox[abposr]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35}|glpat-[A-Za-z0-9_\-]{20,})"
      R"(|eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}))", 0, any);
  add(PiiType::kSecret, R"((?i:\bbearer)\s+([A-Za-z0-9._~+/=\-]{16,}))", 1, any);
  add(PiiType::kSecret, R"(\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,})", 0, any);
  // A value assigned to a password / secret / token / key field.
  add(PiiType::kSecret,
      R"((?i:(?<![A-Za-z])(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key|client[_\-]?secret)))"
      R"(["']?[ \t]*[:=][ \t]*["']?([^\s"',;]{8,}))",
      1, [](std::string_view t, size_t& b, size_t& e) {
        const std::string_view v = slice(t, b, e);
        return v.find("://") == std::string_view::npos && count_digits(v) > 0 && v.find('<') == std::string_view::npos;
      });
  add(PiiType::kIban, R"(\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b)", 0,
      [](std::string_view t, size_t& b, size_t& e) { return iban_valid(slice(t, b, e)); });
  add(PiiType::kCreditCard, R"((?<![\d\-+.])[2-6]\d{3}(?:[ \-]?\d){9,15}(?![\d\-]|\.\d))", 0,
      [](std::string_view t, size_t& b, size_t& e) {
        const std::string_view v = slice(t, b, e);
        const size_t n = count_digits(v);
        return n >= 13 && n <= 19 && luhn_valid(v) && distinct_digits(v) >= 2 && !after_identifier_word(t, b) &&
               !inside_longer_number(t, b);
      });
  add(PiiType::kSsn, R"((?<![\d\-])\d{3}-\d{2}-\d{4}(?![\d\-]))", 0,
      [](std::string_view t, size_t& b, size_t& e) { return ssn_valid(slice(t, b, e)); });
  add(PiiType::kIp, R"((?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d))", 0,
      [](std::string_view t, size_t& b, size_t& e) { return ipv4_valid(slice(t, b, e)) && !after_version_word(t, b) && t.substr(e, 1) != "/"; });
  add(PiiType::kIp, R"((?<![0-9A-Za-z:.])[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*+(?![0-9A-Za-z:]))", 0,
      [](std::string_view t, size_t& b, size_t& e) {
        while (e > b && t[e - 1] == '.') --e;  // a sentence's full stop
        return ipv6_valid(slice(t, b, e));
      });
  // International, NANP, and national numbers with a trunk 0.
  add(PiiType::kPhone, R"((?<![\w+])\+\d{1,3}(?:[ .\-]?\(\d{1,4}\))?(?:[ .\-]?\d{1,5}){2,5}(?![\d\-]))", 0, phone_ok);
  add(PiiType::kPhone, R"((?<![\w\-.])(?:\(\d{3}\) ?|\d{3}[\-. ])\d{3}[\-. ]\d{4}(?![\w\-]|\.\d))", 0, phone_ok);
  add(PiiType::kPhone, R"((?<![\w\-./])0\d{2,4}(?:[ /\-]?\d{3,8})(?:[ \-]\d{2,4})?(?![\w\-/]|\.\d))", 0,
      [](std::string_view t, size_t& b, size_t& e) {
        const size_t n = count_digits(slice(t, b, e));
        return n >= 9 && n <= 12 && phone_ok(t, b, e);
      });
  add_address_detectors(out);
  add_person_detectors(out);
  // Last: long mixed-class tokens with high entropy.
  add(PiiType::kSecret, R"((?<![A-Za-z0-9_+/=\-])[A-Za-z0-9_+/\-]{20,}={0,2}(?![A-Za-z0-9_+/=\-]))", 0,
      [](std::string_view t, size_t& b, size_t& e) { return looks_like_secret_token(slice(t, b, e)); });
  return out;
}

}  // namespace

void add_detector(std::vector<std::unique_ptr<Scrubber::Detector>>& out, PiiType type, std::string_view regex,
                  int group, std::function<bool(std::string_view, size_t&, size_t&)> accept) {
  out.push_back(std::make_unique<Scrubber::Detector>(
      Scrubber::Detector{type, reasoning::Pattern(regex, "scrubber"), group, std::move(accept)}));
}

Scrubber::Scrubber() : detectors_(make_detectors()) {}
Scrubber::~Scrubber() = default;

std::vector<PiiSpan> Scrubber::find(std::string_view text) const {
  struct Candidate {
    PiiSpan span;
    size_t priority;  // the detector's index: earlier detectors win overlaps
  };
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < detectors_.size(); ++i) {
    const Detector& d = *detectors_[i];
    reasoning::Pattern::Match m;
    size_t start = 0;
    while (start <= text.size()) {
      const auto status = d.pattern.find(text, start, m);
      if (status == reasoning::Pattern::Status::kNoMatch) break;
      // Fail closed: a text the detectors cannot finish must not pass through unscrubbed.
      if (status == reasoning::Pattern::Status::kBudgetExceeded)
        fail("scrubber: {} pattern ran out of its match budget on a {}-byte text", pii_type_name(d.type), text.size());
      const auto& group = static_cast<size_t>(d.group) < m.groups.size() ? m.groups[static_cast<size_t>(d.group)] : std::nullopt;
      size_t begin = group ? group->first : 0, end = group ? group->second : 0;
      const bool accepted = group && end > begin && d.accept(text, begin, end);
      if (accepted) candidates.push_back({{d.type, begin, end}, i});
      // After a rejected candidate, look again from the next character: "Can Catherine Dubois"
      // is rejected as a whole but holds a name.
      start = accepted && m.end > m.begin ? m.end : m.begin + 1;
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.span.end - a.span.begin > b.span.end - b.span.begin;
  });
  std::vector<PiiSpan> kept;
  for (const auto& c : candidates) {
    const bool overlaps = std::any_of(kept.begin(), kept.end(), [&](const PiiSpan& k) { return c.span.begin < k.end && k.begin < c.span.end; });
    if (!overlaps) kept.push_back(c.span);
  }
  std::sort(kept.begin(), kept.end(), [](const PiiSpan& a, const PiiSpan& b) { return a.begin < b.begin; });
  return kept;
}

}  // namespace rpu::gateway
