// UTF-8 checks the readers and the chunker share: text is validated where it enters (so an error
// can name the byte), and every cut the chunker makes lands on a character boundary.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rpu::retrieval {

// The length of the longest prefix of `s` that is well-formed UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF). Equal to s.size() when all of it is.
std::size_t utf8_valid_prefix(std::string_view s);

// `s` with every ill-formed sequence replaced by U+FFFD (for text from parsers of formats that
// carry their own encodings, where there is no byte of the file to point at).
std::string utf8_sanitize(std::string_view s);

// The largest character boundary <= pos (a position not inside a multi-byte character).
std::size_t utf8_floor(std::string_view s, std::size_t pos);

// The byte length of the character starting at s[pos] (1 for a stray continuation byte).
std::size_t utf8_char_length(std::string_view s, std::size_t pos);

// `s` cut to at most max_bytes at a character boundary.
std::string_view utf8_truncate(std::string_view s, std::size_t max_bytes);

}  // namespace rpu::retrieval
