// read_document: picks the reader from the extension, rejects binary files by looking at the
// first bytes, finds a streamed file's title in its head, and hashes what the reader reads.
#include "retrieval/document.h"

#include <algorithm>
#include <cctype>

#include "core/text.h"
#include "retrieval/input_file.h"
#include "retrieval/readers.h"
#include "retrieval/utf8.h"

namespace rpu::retrieval {
namespace {

constexpr std::size_t kHeadBytes = 64 << 10;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string read_head(const std::filesystem::path& path, std::size_t n) {
  InputFile file(path);
  std::string head(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const std::size_t k = file.read(head.data() + got, n - got);
    if (k == 0) break;
    got += k;
  }
  head.resize(got);
  return head;
}

// Text is mostly printable: a NUL, a UTF-16 byte order mark or more than 10% control bytes
// (other than tab, newline, carriage return, form feed and vertical tab) mean it is not text.
void check_text(const std::string& name, std::string_view head) {
  if (head.starts_with("\xFF\xFE") || head.starts_with("\xFE\xFF")) {
    throw DocumentError(name + ": UTF-16 text is not supported (convert the file to UTF-8)");
  }
  if (const std::size_t nul = head.find('\0'); nul != std::string_view::npos) {
    throw DocumentError(name + ": binary file (NUL byte at offset " + std::to_string(nul) + ")");
  }
  const auto control = std::count_if(head.begin(), head.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') || c == 0x7F;
  });
  if (!head.empty() && static_cast<std::size_t>(control) * 10 > head.size()) {
    throw DocumentError(name + ": binary file (" + std::to_string(control) + " control bytes in the first " +
                        std::to_string(head.size()) + ")");
  }
}

}  // namespace

std::string document_kind(const std::filesystem::path& path) {
  const std::string ext = lower(path.extension().string());
  if (ext == ".txt" || ext == ".text") return "txt";
  if (ext == ".md" || ext == ".markdown") return "md";
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return "html";
  if (ext == ".pdf") return "pdf";
  if (ext == ".jsonl" || ext == ".ndjson") return "jsonl";
  return "";
}

DocumentInfo read_document(const std::filesystem::path& path, const ReadOptions& options,
                           const std::function<void(Section&&)>& emit) {
  DocumentInfo info;
  info.path = path.string();
  info.kind = options.kind.empty() ? document_kind(path) : options.kind;
  if (info.kind != "txt" && info.kind != "md" && info.kind != "html" && info.kind != "pdf" && info.kind != "jsonl") {
    throw DocumentError(info.path + ": unsupported " +
                        (options.kind.empty() ? "extension '" + path.extension().string() + "'" : "kind '" + options.kind + "'") +
                        " (supported: .txt .md .html .htm .pdf .jsonl)");
  }
  info.title = path.filename().string();
  InputFile file(path);
  info.bytes = file.size();
  if (info.kind != "pdf") {
    std::string head = read_head(path, kHeadBytes);
    check_text(info.path, head);
    if (head.size() < kHeadBytes) head += '\n';  // the whole file: its last line is complete
    if (head.starts_with("\xEF\xBB\xBF")) head.erase(0, 3);  // a byte order mark is not part of the title
    std::string title;
    if (info.kind == "txt") title = text_title(head);
    if (info.kind == "md") title = markdown_title(head);
    title = std::string(trim_ascii(title));
    if (!title.empty()) info.title = utf8_sanitize(utf8_truncate(title, options.max_title_bytes));
  }
  Sha256 hash;
  bool started = false;
  ReaderContext ctx{file, options, emit, info, hash, [&] {
                      if (!started && options.on_start) options.on_start(info);
                      started = true;
                    }};
  if (info.kind == "txt") read_text(ctx);
  if (info.kind == "md") read_markdown(ctx);
  if (info.kind == "jsonl") read_jsonl(ctx);
  if (info.kind == "html") read_html(ctx);
  if (info.kind == "pdf") read_pdf(ctx);
  // What was hashed is what was read: the size from before reading is only an estimate if the
  // file changed meanwhile.
  info.bytes = hash.bytes();
  info.sha256 = hash.hex();
  return info;
}

std::string sha256_file(const std::filesystem::path& path) {
  InputFile file(path);
  Sha256 hash;
  std::string block(1 << 16, '\0');
  while (const std::size_t n = file.read(block.data(), block.size())) hash.update(std::string_view(block.data(), n));
  return hash.hex();
}

}  // namespace rpu::retrieval
