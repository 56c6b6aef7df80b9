// Unicode case data for the jinja engine, generated from V8 by tests/peers/gen_unicode_case.mjs so
// that `upper` / `lower` reproduce JavaScript's toUpperCase / toLowerCase exactly.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rpu::jinja::unicode_data {

// Code points start, start + stride, ... (count of them) map to themselves + delta.
struct CaseRun {
  std::uint32_t start;
  std::uint16_t count;
  std::uint8_t stride;
  std::int32_t delta;
};

// A code point whose full mapping has several code points (e.g. U+00DF -> "SS").
struct CaseMulti {
  std::uint32_t from;
  std::uint32_t to[3];
};

struct CodeRange {
  std::uint32_t first;
  std::uint32_t last;
};

extern const CaseRun kUpperRuns[];
extern const std::size_t kUpperRunCount;
extern const CaseMulti kUpperMulti[];
extern const std::size_t kUpperMultiCount;
extern const CaseRun kLowerRuns[];
extern const std::size_t kLowerRunCount;
extern const CaseMulti kLowerMulti[];
extern const std::size_t kLowerMultiCount;
extern const CodeRange kCased[];
extern const std::size_t kCasedCount;
extern const CodeRange kCaseIgnorable[];
extern const std::size_t kCaseIgnorableCount;

}  // namespace rpu::jinja::unicode_data
