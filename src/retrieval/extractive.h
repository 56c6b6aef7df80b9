// Extractive answers ("knowledge": {..., "extractive": true}): every word of the answer is a
// word of the texts it was given (the retrieved sources, their instructions and the question).
// A small reader that copies a source imprecisely ("Larg shrubyze, immense" for "Large,
// immense") is held to the sources' words; which words, in which order, is still its choice.
// Enforced as a grammar, so the scheduler masks tokens exactly as it does for JSON schemas.
// (Holding each word to one that follows the previous word in a source, a stricter rule, was
// measured worse on the reader benchmark: bench/RESULTS.md, "Extractive answers".)
//
// A word is a maximal run of ASCII letters and digits and non-ASCII bytes (UTF-8 characters),
// as written or with its first letter in the other case ("Large" and "large", not "LaRGE").
// Other ASCII characters (punctuation, spaces, newlines) separate words and are free; the
// answer may end only after a whole word or a separator.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rpu::retrieval {

// The distinct words of `texts` and their other-case spellings, in order of first appearance.
std::vector<std::string> extractive_words(const std::vector<std::string_view>& texts);

// GBNF (root rule "root") accepting exactly the texts made of `words` and separators.
std::string extractive_grammar(const std::vector<std::string>& words);

}  // namespace rpu::retrieval
