// Document readers for knowledge bases (issue 14): a file on disk becomes a stream of Sections
// (runs of text under one heading path, or one PDF page), in order, with offsets back into the
// file so that a search hit can point at its source. The chunker (chunker.h) packs sections
// into embedding-sized chunks; the knowledge-base store owns everything after that.
//
//   rpu::retrieval::DocumentInfo info = rpu::retrieval::read_document(path, {}, [&](Section&& s) { ... });
//
// Text formats (.txt, .md, .jsonl) are streamed through a bounded buffer, so a file of many GB
// is never held whole; HTML and PDF need their whole tree and are read whole, up to a cap.
// Every problem a file can have is a DocumentError naming the file; nothing in a file crashes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace rpu::retrieval {

class DocumentError : public rpu::Error {
 public:
  using rpu::Error::Error;
};

// A byte range [begin, end) in the source file.
struct SourceSpan {
  uint64_t begin = 0, end = 0;
};

struct Section {            // a run of text under one heading path
  std::string heading_path; // "Install > From source" ("" when none); for PDF "" and page set
  std::string text;         // valid UTF-8; paragraphs separated by "\n\n", none empty
  uint64_t byte_begin = 0, byte_end = 0;  // offsets in the source file (for PDF: 0)
  int page = 0;             // 1-based PDF page, 0 otherwise
  // Where each paragraph of `text` (split at "\n\n") came from. For .txt and .md a paragraph
  // is the source bytes verbatim (only a "\r" before each "\n" dropped), so these are exact;
  // for HTML they are approximate (line granularity), for JSONL the record's line; empty for
  // PDF. The chunker uses them to give chunks offsets.
  std::vector<SourceSpan> paragraph_spans;
  // True when this section is the same run of text as the previous one, cut only because it
  // reached ReadOptions::max_section_bytes (a long .txt, a huge JSONL record). The chunker packs
  // across such a cut; any other new section starts a new chunk.
  bool continues = false;
};

struct DocumentInfo {
  std::string path;
  std::string kind;    // txt md html pdf jsonl
  std::string title;
  std::string sha256;  // hex, of the file's bytes (filled once the whole file has been read)
  uint64_t bytes = 0;  // the file's size (on_start), then the bytes read and hashed
};

struct ReadOptions {
  uint64_t max_section_bytes = 64 << 10;  // a bigger section is cut (continues = true), a bigger paragraph too
  std::string jsonl_text_field = "text";
  std::string jsonl_title_field = "title";
  // "" detects the kind from the extension; else one of txt md html pdf jsonl.
  std::string kind;
  // The read size for streamed formats; memory stays about buffer_bytes + max_section_bytes.
  std::size_t buffer_bytes = 1 << 20;
  // HTML and PDF are read whole: a bigger file is a DocumentError.
  uint64_t max_whole_file_bytes = uint64_t{256} << 20;
  // A JSONL record cannot be cut: a longer line is a DocumentError.
  uint64_t max_jsonl_line_bytes = uint64_t{64} << 20;
  // Titles are cut (at a character boundary) to this many bytes.
  std::size_t max_title_bytes = 200;
  // Called once before the first section, with everything but sha256 known (the title of a
  // .txt or .md comes from its first 64 KiB), so a consumer that needs the title for each
  // chunk can be set up before sections stream (chunk_document in chunker.h does this).
  std::function<void(const DocumentInfo&)> on_start;
};

// Detects the kind from the extension (and content sniffing: a binary file is an error); hashes
// the content; calls `emit` once per section, in order. Throws DocumentError naming the file and
// the problem: unsupported extension, binary file (NUL bytes / many control bytes), invalid
// UTF-8 in a .txt/.md/.jsonl file (an error naming the byte offset: text is never silently
// altered; HTML and PDF text comes out of their parsers, where invalid bytes become U+FFFD),
// encrypted or broken PDF, a bad JSONL line (an error naming file:line), unreadable file.
DocumentInfo read_document(const std::filesystem::path& path, const ReadOptions& options,
                           const std::function<void(Section&&)>& emit);

// The file's SHA-256 as 64 hex digits, read in bounded blocks. DocumentError if unreadable.
std::string sha256_file(const std::filesystem::path& path);

// The kind read_document would use for `path` ("" when the extension is not supported).
std::string document_kind(const std::filesystem::path& path);

}  // namespace rpu::retrieval
