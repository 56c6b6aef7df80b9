// Turns lines or paragraphs into Sections for the readers: paragraphs are runs of non-blank
// lines (kept verbatim, so their source spans are exact), joined by "\n\n" into a section until
// it would pass max_section_bytes, when a continuing section starts. Every reader goes through
// here so that all formats obey the same limits.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "retrieval/document.h"

namespace rpu::retrieval {

// True for a line of only ASCII whitespace (space, \t, \r, \f, \v): it ends a paragraph.
bool is_blank(std::string_view line);

class SectionBuilder {
 public:
  SectionBuilder(uint64_t max_section_bytes, const std::function<void(Section&&)>& emit);

  // Ends the current section; the next text belongs to a new one (a heading, a page, a record).
  void start(std::string heading_path, int page = 0);
  // Adds a line to the current paragraph (a paragraph that would pass max_section_bytes is
  // ended first). `begin` is the line's source offset; its end is begin + line.size().
  void add_line(std::string_view line, uint64_t begin);
  // Like add_line but the source span is given (for text whose bytes differ from the source).
  void add_line(std::string_view line, uint64_t begin, uint64_t end);
  void end_paragraph();
  // Splits `text` at blank lines into paragraphs, all with the source span [begin, end).
  void add_text(std::string_view text, uint64_t begin, uint64_t end);
  // Ends the paragraph and emits the pending section, if any.
  void finish();

 private:
  void flush_section();

  uint64_t max_bytes_;
  const std::function<void(Section&&)>& emit_;
  Section section_;          // the section being filled
  std::string paragraph_;
  SourceSpan paragraph_span_;
  bool next_continues_ = false;
};

}  // namespace rpu::retrieval
