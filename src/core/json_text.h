// JSON text rpu did not write (tokenizer.json, tokenizer_config.json, training data, flags): its
// nesting is bounded by a cheap byte scan BEFORE parsing. nlohmann's parser is iterative, but
// copying, comparing and destroying a parsed value recurse once per level, and so does our own
// code over nested structures (tokenizer.json's Sequence of Sequence ...), so a file nested
// 100,000 deep would overflow the stack. No real file nests more than a dozen levels.
//
//   const auto j = rpu::parse_json_text<nlohmann::json>(text, path);  // rpu::Error when bad
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
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

}  // namespace rpu
