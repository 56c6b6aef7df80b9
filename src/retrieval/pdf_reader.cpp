// .pdf through poppler-cpp: one section per page (page set, no heading path, offsets 0: a PDF's
// text has no byte range of its own in the file). The title is the document's Title entry, else
// the file name. A file poppler cannot open is "broken"; one it opens locked (a user password
// is needed) is "encrypted"; both DocumentErrors naming the file.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <climits>
#include <memory>
#include <mutex>
#include <string>

#include "core/text.h"
#include "retrieval/readers.h"
#include "retrieval/section_builder.h"
#include "retrieval/utf8.h"

namespace rpu::retrieval {
namespace {

std::string to_utf8(const poppler::ustring& text) {
  const poppler::byte_array bytes = text.to_utf8();
  return utf8_sanitize(std::string_view(bytes.data(), bytes.size()));
}

// Lines without trailing blanks and with runs of spaces made one (text extraction pads columns).
std::string tidy_page(std::string_view text) {
  std::string out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t eol = text.find_first_of("\n\f", pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    out += is_blank(line) ? std::string() : collapse_whitespace(line);
    out += '\n';
    pos = eol + 1;
  }
  return out;
}

}  // namespace

void read_pdf(ReaderContext& ctx) {
  const std::string data = read_whole_file(ctx.file, ctx.options.max_whole_file_bytes, "PDF");
  ctx.hash.update(data);
  const std::string& name = ctx.file.name();
  if (data.size() > static_cast<std::size_t>(INT_MAX)) throw DocumentError(name + ": PDF file too big");
  if (data.find("%PDF-") > 1024) throw DocumentError(name + ": not a PDF file (no %PDF- header)");
  // poppler prints its complaints about damaged files to stderr; the error we throw says enough.
  static std::once_flag quiet;
  std::call_once(quiet, [] { poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr); });
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(data.data(), static_cast<int>(data.size())));
  if (!doc) throw DocumentError(name + ": broken PDF (poppler cannot open it)");
  if (doc->is_locked()) throw DocumentError(name + ": encrypted PDF (a password is needed to read it)");
  const std::string title = collapse_whitespace(to_utf8(doc->get_title()));
  if (!title.empty()) ctx.info.title = std::string(utf8_truncate(title, ctx.options.max_title_bytes));
  ctx.started();
  SectionBuilder builder(ctx.options.max_section_bytes, ctx.emit);
  const int pages = doc->pages();
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) continue;  // a page poppler cannot build is skipped; the rest of the document is still worth having
    builder.start("", i + 1);
    builder.add_text(tidy_page(to_utf8(page->text(poppler::rectf(), poppler::page::raw_order_layout))), 0, 0);
  }
  builder.finish();
}

}  // namespace rpu::retrieval
