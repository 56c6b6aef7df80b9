#include "tokenizer/normalizer.h"

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace rpu {
namespace {

using unicode::decode;
using unicode::kInvalid;

// Applies `fn(cp, out)` to every character; invalid bytes are copied unchanged.
template <typename Fn>
std::string map_chars(std::string_view text, Fn fn) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0, len = 0; pos < text.size(); pos += len) {
    const char32_t cp = decode(text, pos, len);
    if (cp == kInvalid) {
      out += text[pos];
    } else {
      fn(cp, out);
    }
  }
  return out;
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::NormalForm form) : form_(form) {}
  std::string apply(std::string_view text) const override { return unicode::normalize(text, form_); }

 private:
  unicode::NormalForm form_;
};

class Lowercase : public Normalizer {
 public:
  std::string apply(std::string_view text) const override {
    return map_chars(text, [](char32_t cp, std::string& out) { unicode::append_lowercase(out, cp); });
  }
};

class StripAccents : public Normalizer {
 public:
  std::string apply(std::string_view text) const override {
    return map_chars(text, [](char32_t cp, std::string& out) {
      if (!unicode::is_mark_nonspacing(cp)) unicode::append_utf8(out, cp);
    });
  }
};

class Replace : public Normalizer {
 public:
  Replace(std::string_view pattern, std::string content) : regex_(pattern), content_(std::move(content)) {}
  std::string apply(std::string_view text) const override {
    std::vector<Regex::Match> matches;
    regex_.find_all(text, matches);
    if (matches.empty()) return std::string(text);
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
  std::string apply(std::string_view text) const override {
    return text.empty() ? std::string() : prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  std::string apply(std::string_view text) const override {
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
  std::string apply(std::string_view text) const override {
    std::string s = map_chars(text, [this](char32_t cp, std::string& out) {
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
    if (o_.strip_accents) s = StripAccents().apply(unicode::normalize(s, unicode::NormalForm::kNFD));
    if (o_.lowercase) s = Lowercase().apply(s);
    return s;
  }

 private:
  BertNormalizerOptions o_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  std::string apply(std::string_view text) const override {
    std::string s(text);
    for (const auto& step : steps_) s = step->apply(s);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

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
