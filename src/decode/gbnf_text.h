// GBNF text helpers for the JSON Schema converter (json_schema.cpp): literals, alternatives,
// JSON pointers, and decimal ranges (digit strings of the integers in [lo, hi]). Internal to
// src/decode.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace rpu::gbnf_text {

constexpr int kMaxDigits = 16;  // integer / fraction digits of a generated number

// A GBNF string literal for raw bytes.
std::string literal(std::string_view bytes);
// The literal of a JSON value's compact text.
std::string json_literal(const nlohmann::ordered_json& value);
// path + "/" + key, with '~' and '/' escaped as JSON Pointer requires.
std::string pointer_child(const std::string& path, const std::string& key);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
// "(a | b | c)", or the one part alone.
std::string alternatives(const std::vector<std::string>& parts);
// Digit strings (no sign, no leading zeros) of the integers in [lo, hi]; hi < 0: unbounded
// (up to kMaxDigits digits).
std::string digits_range(int64_t lo, int64_t hi);

}  // namespace rpu::gbnf_text
