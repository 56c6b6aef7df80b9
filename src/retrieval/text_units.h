// Where the chunker may cut a paragraph that is too long for one chunk: at sentence ends, else
// between words, else between characters. Positions are byte offsets into the text; the
// whitespace between two units belongs to neither, so a run of units taken from a paragraph is
// the paragraph's own bytes from the first unit's begin to the last one's end.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace rpu::retrieval {

struct TextRange {
  std::size_t begin = 0, end = 0;
  std::size_t size() const { return end - begin; }
};

// Sentences of text[range]: each ends after '.', '!' or '?' (and any closing quotes or
// brackets) followed by whitespace, or after a CJK full stop, '！' or '？'. Never empty.
std::vector<TextRange> sentence_ranges(std::string_view text, TextRange range);

// Runs of non-whitespace (ASCII whitespace) in text[range].
std::vector<TextRange> word_ranges(std::string_view text, TextRange range);

// The end of every character in text[range], in order (the places a hard cut may go).
std::vector<std::size_t> char_ends(std::string_view text, TextRange range);

}  // namespace rpu::retrieval
