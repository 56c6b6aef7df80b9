// Unicode helpers the tokenizers share: UTF-8 decoding that never throws (invalid bytes are
// reported, not guessed at), character classes with the meaning Hugging Face tokenizers give
// them (Rust's char methods), normalization forms, and GPT-2's byte <-> unicode mapping.
// Character data comes from utf8proc so that every tokenizer agrees on one Unicode version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rpu::unicode {

constexpr char32_t kInvalid = 0xFFFFFFFF;

// Decodes the character at text[pos]; sets `length` to the bytes it spans. A byte that does
// not start a well-formed sequence (overlong, surrogate, truncated, > U+10FFFF) decodes as
// kInvalid with length 1, so callers can keep it as a raw byte.
char32_t decode(std::string_view text, size_t pos, size_t& length);
void append_utf8(std::string& out, char32_t cp);
std::string to_utf8(char32_t cp);
bool is_valid_utf8(std::string_view text);

// Unicode White_Space (what Rust's char::is_whitespace and regex \s mean).
bool is_whitespace(char32_t cp);
bool is_letter(char32_t cp);        // L*
bool is_number(char32_t cp);        // N*
bool is_punctuation(char32_t cp);   // P*
bool is_mark_nonspacing(char32_t cp);  // Mn
bool is_other(char32_t cp);         // C* (Cc, Cf, Cs, Co, Cn)
// BERT's CJK ideograph ranges (the "Chinese characters" it splits one by one).
bool is_cjk_ideograph(char32_t cp);
// Full lowercase mapping (a few characters lowercase to two, e.g. U+0130).
void append_lowercase(std::string& out, char32_t cp);

enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };
// Normalizes every well-formed run of the text; invalid bytes pass through unchanged.
std::string normalize(std::string_view text, NormalForm form);

// GPT-2 byte-level BPE: each byte is shown as a printable character (bytes that are already
// printable map to themselves; the rest go to U+0100 and up).
const std::string& byte_to_unicode(uint8_t byte);
// The byte a byte-level character stands for, or -1 when it is not one.
int unicode_to_byte(char32_t cp);

}  // namespace rpu::unicode
