// Normalizers: rewrite text before pre-tokenization, with the semantics of Hugging Face
// tokenizers (NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, Replace, Prepend, Strip, the BERT
// normalizer, Sequence).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace rpu {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string apply(std::string_view text) const = 0;
};


std::unique_ptr<Normalizer> make_unicode_normalizer(std::string_view form);  // "NFC", "NFD", "NFKC", "NFKD"
std::unique_ptr<Normalizer> make_lowercase();
std::unique_ptr<Normalizer> make_strip_accents();  // drops nonspacing marks (use after NFD)
// Replaces every match of `pattern` (a regex; escape a literal with regex_escape) by `content`.
std::unique_ptr<Normalizer> make_replace(std::string_view pattern, std::string content);
std::unique_ptr<Normalizer> make_prepend(std::string prefix);  // only to non-empty text
std::unique_ptr<Normalizer> make_strip(bool left, bool right);  // Unicode whitespace
struct BertNormalizerOptions {
  bool clean_text = true;            // drop control characters, whitespace -> ' '
  bool handle_chinese_chars = true;  // put spaces around CJK ideographs
  bool strip_accents = true;         // NFD, then drop nonspacing marks
  bool lowercase = true;
};
std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerOptions& options);
std::unique_ptr<Normalizer> make_normalizer_sequence(std::vector<std::unique_ptr<Normalizer>> steps);

}  // namespace rpu
