// Normalizers: rewrite text before pre-tokenization, with the semantics of Hugging Face
// tokenizers (NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, Replace, Prepend, Strip, the BERT
// normalizer, Sequence).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace rpu {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // The normalized text. A normalizer may grow text (NFKD, Replace, Prepend), and chained ones
  // multiply: eight Replace steps of "a" -> "aaaaaaaaaa" turn one byte into 100 MB. So growing
  // past max_normalized_bytes(text.size()) is an rpu::Error naming the normalizer as malformed.
  std::string apply(std::string_view text) const;
  // The same within an absolute bound on the result (a Sequence passes its input's bound on).
  virtual std::string apply_within(std::string_view text, std::size_t max_bytes) const = 0;
};

// 32 times the input plus 4 KiB: far above real normalizers (NFKD of U+FDFA, the largest
// decomposition, is 11x; BERT's spaces around CJK characters 1.7x) and small enough to stop
// a runaway chain before it costs more than a few times the input's memory.
std::size_t max_normalized_bytes(std::size_t input_bytes);


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
