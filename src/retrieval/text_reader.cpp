// .txt: paragraphs are runs of non-blank lines, kept verbatim; the whole file is one run of text
// (one heading path, ""), cut into continuing sections by size.
#include "retrieval/line_reader.h"
#include "retrieval/readers.h"
#include "retrieval/section_builder.h"

namespace rpu::retrieval {

void read_text(ReaderContext& ctx) {
  ctx.started();
  LineReader lines(ctx.file, &ctx.hash, ctx.options.buffer_bytes, ctx.options.max_section_bytes);
  SectionBuilder builder(ctx.options.max_section_bytes, ctx.emit);
  builder.start("");
  Line line;
  while (lines.next(line)) {
    if (line.cut || line.continued) {
      // A piece of an over-long line: a paragraph of its own (it fills one anyway).
      builder.end_paragraph();
      builder.add_line(line.text, line.begin);
      builder.end_paragraph();
    } else if (is_blank(line.text)) {
      builder.end_paragraph();
    } else {
      builder.add_line(line.text, line.begin);
    }
  }
  builder.finish();
}

std::string text_title(std::string_view head) {
  std::size_t pos = 0;
  while (pos < head.size()) {
    std::size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) eol = head.size();
    const std::string_view line = head.substr(pos, eol - pos);
    if (!is_blank(line)) return std::string(line);
    pos = eol + 1;
  }
  return "";
}

}  // namespace rpu::retrieval
