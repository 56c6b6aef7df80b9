// Text helpers for the jinja engine. Strings are kept as UTF-8, but @huggingface/jinja (the
// renderer we must match) runs on JavaScript strings: UTF-16 lengths and indices, JavaScript's
// notion of whitespace (\s, trim), and V8's Unicode case mappings. These helpers reproduce those
// semantics on UTF-8 so the engine never has to convert whole strings to UTF-16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rpu::jinja {

// Decodes the code point at s[i] and advances i. Invalid bytes decode as U+FFFD one byte at a
// time, so malformed input can never stall a loop.
char32_t next_code_point(std::string_view s, std::size_t& i);
void append_utf8(std::string& out, char32_t cp);
std::vector<char32_t> code_points(std::string_view s);

// JavaScript WhiteSpace + LineTerminator (what /\s/ and String.prototype.trim use).
bool is_js_space(char32_t cp);
// Byte length of the JavaScript whitespace at the start / end of s.
std::size_t js_space_prefix(std::string_view s);
std::size_t js_space_suffix(std::string_view s);
std::string_view js_trim_start(std::string_view s);
std::string_view js_trim_end(std::string_view s);
std::string_view js_trim(std::string_view s);

// String.prototype.length: UTF-16 code units.
std::size_t utf16_length(std::string_view s);
// The UTF-16 code unit at index (negative counts from the end, like String.prototype.at). A lone
// surrogate half comes back as U+FFFD, which is what it becomes once JavaScript writes UTF-8.
// Returns false when the index is out of range.
bool utf16_at(std::string_view s, long long index, std::string& out);
// JavaScript's `<` on strings: UTF-16 code unit order (differs from UTF-8 byte order only for
// code points above U+FFFF against U+E000..U+FFFF).
int utf16_compare(std::string_view a, std::string_view b);

// toUpperCase / toLowerCase with V8's full mappings (incl. Final_Sigma for lower).
std::string js_to_upper(std::string_view s);
std::string js_to_lower(std::string_view s);

}  // namespace rpu::jinja
