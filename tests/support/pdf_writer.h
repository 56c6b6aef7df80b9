// Minimal PDFs written by hand for the document-reader tests: pages of Helvetica text with a
// correct cross-reference table, optionally a Title, optionally an /Encrypt dictionary whose
// password check fails (so poppler opens the file locked), so the tests need no PDF tool.
#pragma once

#include <string>
#include <vector>

namespace rpu::test {

struct PdfSpec {
  std::vector<std::vector<std::string>> pages;  // each page: lines of ASCII text (no parentheses)
  std::string title;                            // "" for no /Info
  bool encrypted = false;
};

inline std::string make_pdf(const PdfSpec& spec) {
  std::vector<std::string> objects;  // object i + 1
  const int n_pages = static_cast<int>(spec.pages.size());
  const int font = 3 + 2 * n_pages;  // 1 catalog, 2 pages, then page + contents pairs, then the font
  std::string kids;
  for (int i = 0; i < n_pages; ++i) kids += std::to_string(3 + 2 * i) + " 0 R ";
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(n_pages) + " >>");
  for (int i = 0; i < n_pages; ++i) {
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents " + std::to_string(4 + 2 * i) +
                      " 0 R /Resources << /Font << /F1 " + std::to_string(font) + " 0 R >> >> >>");
    std::string content = "BT /F1 12 Tf 72 720 Td 14 TL\n";
    for (const std::string& line : spec.pages[i]) content += "(" + line + ") Tj T*\n";
    content += "ET";
    objects.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "\nendstream");
  }
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  std::string trailer_extra;
  if (!spec.title.empty()) {
    objects.push_back("<< /Title (" + spec.title + ") >>");
    trailer_extra += " /Info " + std::to_string(objects.size()) + " 0 R";
  }
  if (spec.encrypted) {
    const std::string junk(64, 'A');  // 32 bytes in hex: not what the empty password yields
    objects.push_back("<< /Filter /Standard /V 1 /R 2 /O <" + junk + "> /U <" + junk + "> /P -4 >>");
    trailer_extra += " /Encrypt " + std::to_string(objects.size()) + " 0 R /ID [<0123456789abcdef0123456789abcdef> "
                     "<0123456789abcdef0123456789abcdef>]";
  }
  std::string pdf = "%PDF-1.4\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const std::size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (std::size_t offset : offsets) {
    std::string digits = std::to_string(offset);
    pdf += std::string(10 - digits.size(), '0') + digits + " 00000 n \n";
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R" + trailer_extra + " >>\n";
  pdf += "startxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

}  // namespace rpu::test
