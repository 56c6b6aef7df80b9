// Unicode regular expressions for pre-tokenizers, on PCRE2 (UTF + UCP, JIT when available).
// Tokenizer regexes are written for Rust's regex/Oniguruma engines; the one difference that
// changes token ids is what `\s` means, so `\s` and `\S` are rewritten to Unicode White_Space
// (PCRE2 alone would also count U+180E MONGOLIAN VOWEL SEPARATOR as a space).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rpu {

class Regex {
 public:
  // Throws rpu::Error naming the pattern when it does not compile.
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  struct Match {
    size_t begin;
    size_t end;
  };
  // Every non-empty, non-overlapping match, left to right. Invalid UTF-8 never matches.
  // Thread-safe: the compiled pattern is shared, match state is per thread.
  void find_all(std::string_view text, std::vector<Match>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8
};

// Escapes a literal string so that it matches only itself.
std::string regex_escape(std::string_view literal);

}  // namespace rpu
