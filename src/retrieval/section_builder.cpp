#include "retrieval/section_builder.h"

#include <algorithm>

#include "retrieval/utf8.h"

namespace rpu::retrieval {

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; });
}

SectionBuilder::SectionBuilder(uint64_t max_section_bytes, const std::function<void(Section&&)>& emit)
    : max_bytes_(std::max<uint64_t>(max_section_bytes, 16)), emit_(emit) {}

void SectionBuilder::start(std::string heading_path, int page) {
  finish();
  section_.heading_path = std::move(heading_path);
  section_.page = page;
  next_continues_ = false;
}

void SectionBuilder::add_line(std::string_view line, uint64_t begin) { add_line(line, begin, begin + line.size()); }

void SectionBuilder::add_line(std::string_view line, uint64_t begin, uint64_t end) {
  if (!paragraph_.empty() && paragraph_.size() + 1 + line.size() > max_bytes_) end_paragraph();
  // A single line longer than a section (possible only when a reader hands one in whole) is cut
  // at character boundaries here, so no paragraph ever passes the limit.
  const bool verbatim = end - begin == line.size();  // else the span is the whole line's, for every piece
  while (line.size() > max_bytes_) {
    const std::size_t cut = std::max<std::size_t>(utf8_floor(line, max_bytes_), 1);
    add_line(line.substr(0, cut), begin, verbatim ? begin + cut : end);
    end_paragraph();
    line.remove_prefix(cut);
    if (verbatim) begin += cut;
  }
  if (paragraph_.empty()) {
    paragraph_span_.begin = begin;
  } else {
    paragraph_ += '\n';
  }
  paragraph_ += line;
  paragraph_span_.end = std::max(end, paragraph_span_.begin);
}

void SectionBuilder::end_paragraph() {
  if (paragraph_.empty()) return;
  if (is_blank(paragraph_)) {
    paragraph_.clear();
    return;
  }
  if (!section_.text.empty() && section_.text.size() + 2 + paragraph_.size() > max_bytes_) {
    flush_section();
    next_continues_ = true;  // same heading, cut only for size
  }
  if (section_.text.empty()) {
    section_.byte_begin = paragraph_span_.begin;
  } else {
    section_.text += "\n\n";
  }
  section_.text += paragraph_;
  section_.byte_end = paragraph_span_.end;
  section_.paragraph_spans.push_back(paragraph_span_);
  paragraph_.clear();
}

void SectionBuilder::add_text(std::string_view text, uint64_t begin, uint64_t end) {
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (is_blank(line)) {
      end_paragraph();
    } else {
      add_line(line, begin, end);
    }
    pos = eol + 1;
  }
  end_paragraph();
}

void SectionBuilder::finish() {
  end_paragraph();
  flush_section();
}

void SectionBuilder::flush_section() {
  if (section_.text.empty()) return;
  Section out;
  out.heading_path = section_.heading_path;
  out.page = section_.page;
  std::swap(out.text, section_.text);
  std::swap(out.paragraph_spans, section_.paragraph_spans);
  out.byte_begin = section_.byte_begin;
  out.byte_end = section_.byte_end;
  out.continues = next_continues_;
  section_.text.clear();
  section_.paragraph_spans.clear();
  emit_(std::move(out));
}

}  // namespace rpu::retrieval
