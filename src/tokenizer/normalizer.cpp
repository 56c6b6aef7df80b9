#include "tokenizer/normalizer.h"

#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace rpu {
namespace {

using unicode::decode;
using unicode::kInvalid;

[[noreturn]] void too_long(size_t max_bytes) {
  fail("the tokenizer's normalizer grows the text past {} bytes ({}x the input plus 4 KiB): its normalizer "
       "(tokenizer.json) is malformed",
       max_bytes, 32);
}

void check_size(size_t bytes, size_t max_bytes) {
  if (bytes > max_bytes) too_long(max_bytes);
}

// Applies `fn(cp, out)` to every character; invalid bytes are copied unchanged.
template <typename Fn>
std::string map_chars(std::string_view text, size_t max_bytes, Fn fn) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  for (size_t pos = 0, len = 0; pos < text.size(); pos += len) {
    const char32_t cp = decode(text, pos, len);
    if (cp == kInvalid) {
      out += text[pos];
    } else {
      fn(cp, out);
    }
    check_size(out.size(), max_bytes);
  }
  return out;
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::NormalForm form) : form_(form) {}
  std::string apply_within(std::string_view text, size_t max_bytes) const override {
    std::string out = unicode::normalize(text, form_);  // at most 18 code points per character
    check_size(out.size(), max_bytes);
    return out;
  }

 private:
  unicode::NormalForm form_;
};

class Lowercase : public Normalizer {
 public:
  std::string apply_within(std::string_view text, size_t max_bytes) const override {
    return map_chars(text, max_bytes, [](char32_t cp, std::string& out) { unicode::append_lowercase(out, cp); });
  }
};

class StripAccents : public Normalizer {
 public:
  std::string apply_within(std::string_view text, size_t max_bytes) const override {
    return map_chars(text, max_bytes, [](char32_t cp, std::string& out) {
      if (!unicode::is_mark_nonspacing(cp)) unicode::append_utf8(out, cp);
    });
  }
};

class Replace : public Normalizer {
 public:
  Replace(std::string_view pattern, std::string content) : regex_(pattern), content_(std::move(content)) {}
  std::string apply_within(std::string_view text, size_t max_bytes) const override {
    std::vector<Regex::Match> matches;
    regex_.find_all(text, matches);
    if (matches.empty()) return std::string(text);
    // The result's size is known before building it: refuse a runaway expansion up front.
    size_t matched = 0;
    for (const auto& m : matches) matched += m.end - m.begin;
    const size_t unmatched = text.size() - matched;
    if (!content_.empty() && matches.size() > (max_bytes - std::min(unmatched, max_bytes)) / content_.size()) {
      too_long(max_bytes);
    }
    check_size(unmatched, max_bytes);
    std::string out;
    size_t prev = 0;
    for (const auto& m : matches) {
      out.append(text.substr(prev, m.begin - prev));
      out += content_;
      prev = m.end;
    }
    out.append(text.substr(prev));
    return out;
  }

 private:
  Regex regex_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string apply_within(std::string_view text, size_t max_bytes) const override {
    if (!text.empty()) check_size(prefix_.size() + text.size(), max_bytes);
    return text.empty() ? std::string() : prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  std::string apply_within(std::string_view text, size_t /*max_bytes: it only shrinks*/) const override {
    size_t begin = 0;
    size_t end = text.size();
    if (left_) {
      for (size_t len = 0; begin < end; begin += len) {
        const char32_t cp = decode(text, begin, len);
        if (cp == kInvalid || !unicode::is_whitespace(cp)) break;
      }
    }
    if (right_) {
      // Walk forward remembering where the trailing whitespace run starts.
      size_t run = end;
      for (size_t pos = begin, len = 0; pos < end; pos += len) {
        const char32_t cp = decode(text, pos, len);
        const bool space = cp != kInvalid && unicode::is_whitespace(cp);
        if (!space) {
          run = end;
        } else if (run == end) {
          run = pos;
        }
      }
      end = run;
    }
    return std::string(text.substr(begin, end - begin));
  }

 private:
  bool left_, right_;
};

class BertNormalizer : public Normalizer {
 public:
  explicit BertNormalizer(const BertNormalizerOptions& o) : o_(o) {}
  std::string apply_within(std::string_view text, size_t max_bytes) const override {
    std::string s = map_chars(text, max_bytes, [this](char32_t cp, std::string& out) {
      if (o_.clean_text) {
        if (cp == 0 || cp == 0xfffd) return;
        const bool space = cp == '\t' || cp == '\n' || cp == '\r' || unicode::is_whitespace(cp);
        if (space) {
          out += ' ';
          return;
        }
        if (unicode::is_other(cp)) return;
      }
      if (o_.handle_chinese_chars && unicode::is_cjk_ideograph(cp)) {
        out += ' ';
        unicode::append_utf8(out, cp);
        out += ' ';
        return;
      }
      unicode::append_utf8(out, cp);
    });
    if (o_.strip_accents) s = StripAccents().apply_within(unicode::normalize(s, unicode::NormalForm::kNFD), max_bytes);
    if (o_.lowercase) s = Lowercase().apply_within(s, max_bytes);
    return s;
  }

 private:
  BertNormalizerOptions o_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  std::string apply_within(std::string_view text, size_t max_bytes) const override {
    std::string s(text);
    for (const auto& step : steps_) s = step->apply_within(s, max_bytes);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

size_t max_normalized_bytes(size_t input_bytes) {
  constexpr size_t kSlack = 4096;
  return input_bytes > (SIZE_MAX - kSlack) / 32 ? SIZE_MAX : 32 * input_bytes + kSlack;
}

std::string Normalizer::apply(std::string_view text) const { return apply_within(text, max_normalized_bytes(text.size())); }

std::unique_ptr<Normalizer> make_unicode_normalizer(std::string_view form) {
  if (form == "NFC") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::kNFC);
  if (form == "NFD") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::kNFD);
  if (form == "NFKC") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::kNFKC);
  if (form == "NFKD") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::kNFKD);
  fail("unknown unicode normal form '{}'", form);
}

std::unique_ptr<Normalizer> make_lowercase() { return std::make_unique<Lowercase>(); }
std::unique_ptr<Normalizer> make_strip_accents() { return std::make_unique<StripAccents>(); }
std::unique_ptr<Normalizer> make_replace(std::string_view pattern, std::string content) {
  return std::make_unique<Replace>(pattern, std::move(content));
}
std::unique_ptr<Normalizer> make_prepend(std::string prefix) { return std::make_unique<Prepend>(std::move(prefix)); }
std::unique_ptr<Normalizer> make_strip(bool left, bool right) { return std::make_unique<Strip>(left, right); }
std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerOptions& options) {
  return std::make_unique<BertNormalizer>(options);
}
std::unique_ptr<Normalizer> make_normalizer_sequence(std::vector<std::unique_ptr<Normalizer>> steps) {
  return std::make_unique<Sequence>(std::move(steps));
}

}  // namespace rpu
