// JSON text rpu did not write (tokenizer.json, tokenizer_config.json, training data, flags): its
// nesting is bounded by a cheap byte scan BEFORE parsing. nlohmann's parser is iterative, but
// copying, comparing and destroying a parsed value recurse once per level, and so does our own
// code over nested structures (tokenizer.json's Sequence of Sequence ...), so a file nested
// 100,000 deep would overflow the stack. No real file nests more than a dozen levels.
//
//   const auto j = rpu::parse_json_text<nlohmann::json>(text, path);  // rpu::Error when bad
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace rpu {

inline constexpr std::size_t kMaxJsonNesting = 128;

// The deepest nesting of [ and { in `text` (brackets inside strings do not count). The scan
// stops once it passes `limit`, so a hostile file costs no more than reading it.
std::size_t json_nesting_depth(std::string_view text, std::size_t limit = kMaxJsonNesting);

// Throws rpu::Error "NAME: JSON nested deeper than N levels (at byte B)" when it is.
void check_json_nesting(std::string_view text, std::string_view name, std::size_t max_depth = kMaxJsonNesting);

// Checks the nesting, then parses; a syntax error is an rpu::Error "NAME: not valid JSON (...)".
template <typename Json = nlohmann::json>
Json parse_json_text(std::string_view text, std::string_view name, std::size_t max_depth = kMaxJsonNesting) {
  check_json_nesting(text, name, max_depth);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", name, e.what());
  }
}

// A JSON value as a whole number, if it is one that fits: 7 and 7.0, not 2.5, 1e300 or a
// string. nlohmann's get<int> of 1e300 is undefined behaviour and of 2.5 truncates.
template <typename Json>
std::optional<int64_t> json_whole_number(const Json& value) {
  if (value.is_number_unsigned()) {
    const auto u = value.template get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.template get<int64_t>();
  if (!value.is_number_float()) return std::nullopt;
  const double d = value.template get<double>();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) >= 9e15) return std::nullopt;
  return static_cast<int64_t>(d);
}

// A whole number in [lo, hi] read from JSON rpu did not write, e.g. an upstream's "index" or
// usage counts; throws rpu::Error "NAME must be an integer between LO and HI" otherwise.
template <typename Json>
int64_t json_integer(const Json& value, std::string_view name, int64_t lo, int64_t hi) {
  const std::optional<int64_t> x = json_whole_number(value);
  if (!x || *x < lo || *x > hi) fail("{} must be an integer between {} and {}", name, lo, hi);
  return *x;
}

// The same for a field of an object: `fallback` when the field is absent or null.
template <typename Json>
int64_t json_integer(const Json& object, const char* key, int64_t fallback, int64_t lo, int64_t hi) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return fallback;
  return json_integer(object[key], key, lo, hi);
}

}  // namespace rpu
