// Pre-tokenizers: split normalized text into the pieces ("words") the subword model sees,
// with the semantics of Hugging Face tokenizers (Split with its delimiter behaviours,
// ByteLevel, Metaspace, Whitespace, BERT, Digits, Punctuation, Sequence), plus the
// per-`tokenizer.ggml.pre` regex lists that GGUF files name instead of spelling out.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace rpu {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
SplitBehavior parse_split_behavior(std::string_view name);  // "Isolated", ... (case-insensitive)

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` with their splits. `at_text_start`: the first piece begins the input
  // (not a stretch after a special token), which Metaspace's prepend_scheme "first" needs.
  virtual void apply(std::vector<std::string>& pieces, bool at_text_start) const = 0;
};

// Split on a regex (or a literal, escaped by the caller), keeping delimiters as `behavior` says;
// `invert` makes the matches the pieces and the text between them the delimiters.
std::unique_ptr<PreTokenizer> make_split(std::string_view pattern, SplitBehavior behavior, bool invert);
// GPT-2 byte level: optional prefix space, optional GPT-2 regex split, then bytes -> unicode.
std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex);
// Only the byte -> unicode mapping (what GGUF byte-level BPE applies after its regexes).
std::unique_ptr<PreTokenizer> make_byte_encoder();
enum class PrependScheme { kAlways, kFirst, kNever };
std::unique_ptr<PreTokenizer> make_metaspace(std::string replacement, PrependScheme scheme, bool split);
std::unique_ptr<PreTokenizer> make_whitespace();        // \w+|[^\w\s]+
std::unique_ptr<PreTokenizer> make_whitespace_split();  // split on whitespace, drop it
std::unique_ptr<PreTokenizer> make_bert();              // whitespace split + punctuation isolated
std::unique_ptr<PreTokenizer> make_digits(bool individual);
std::unique_ptr<PreTokenizer> make_punctuation(SplitBehavior behavior);
std::unique_ptr<PreTokenizer> make_sequence(std::vector<std::unique_ptr<PreTokenizer>> steps);

// The regexes llama.cpp's converter records by name in `tokenizer.ggml.pre` (each one an
// isolating Split, applied in order), followed by the byte encoder. Throws for unknown names.
std::unique_ptr<PreTokenizer> make_gguf_pretokenizer(const std::string& pre);
// The Split regexes behind a `tokenizer.ggml.pre` name (null when unknown), and GPT-2's own
// pattern (what a ByteLevel pre-tokenizer with use_regex splits by): for converters that name
// a tokenizer.json's pre-tokenizer.
const std::vector<std::string_view>* gguf_pretokenizer_regexes(const std::string& pre);
std::string_view gpt2_split_pattern();

}  // namespace rpu
