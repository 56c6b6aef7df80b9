// The chunker: sections from read_document in, chunks sized for an embedding model out.
//
//   Chunker chunker(info, {.max_tokens = 256, .overlap_tokens = 32}, count_tokens, store_chunk);
//   ... chunker.add(std::move(section)) for each section, in order ...
//   chunker.finish();
//
// or, with the title known before the first section, all in one: chunk_document(...) below.
//
// Chunks never cross a section boundary (a new heading path, a new PDF page, a new JSONL
// record; only a section with `continues` set carries on the run before it). Within a run,
// chunks pack whole paragraphs up to max_tokens; a paragraph longer than that is cut at sentence
// ends, then between words, then between characters (never inside a UTF-8 character). Each chunk
// after the first of a run starts with the last ~overlap_tokens of the one before, as whole
// sentences or words. Every chunk has n_tokens <= max_tokens by the counter (unless a single
// character alone counts more). A chunk's text is the source's own text: each paragraph, or
// the part of one the chunk holds, verbatim, paragraphs joined by "\n\n"; no title or heading is
// added (the store adds context when it embeds).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "retrieval/document.h"

namespace rpu::retrieval {

struct ChunkOptions {
  int max_tokens = 256;     // >= 1
  int overlap_tokens = 32;  // clamped to [0, max_tokens / 2]
};

struct Chunk {
  std::string text;
  std::string title;         // the document's
  std::string heading_path;  // the section's
  // The chunk's span in the source file: exact for .txt and .md (LF line ends), approximate for
  // HTML and JSONL (interpolated within a paragraph's span), 0 for PDF.
  uint64_t byte_begin = 0, byte_end = 0;
  int page_begin = 0, page_end = 0;  // PDF pages (a chunk stays on one page), 0 otherwise
  int n_tokens = 0;                  // by the TokenCounter
  int ordinal = 0;                   // 0, 1, 2, ... over the document
};

using TokenCounter = std::function<int(std::string_view)>;  // tokens of the embedding model

class Chunker {  // streaming: add sections in order, chunks come out through the callback
 public:
  Chunker(const DocumentInfo& info, ChunkOptions options, TokenCounter count, std::function<void(Chunk&&)> emit);
  ~Chunker();
  Chunker(const Chunker&) = delete;
  Chunker& operator=(const Chunker&) = delete;

  void add(Section&& section);
  void finish();  // emits the last chunk; call once, after the last add

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// read_document + Chunker: sections are chunked as they are read, with the document's title
// (found before the first section, ReadOptions::on_start) in every chunk. Returns the info.
DocumentInfo chunk_document(const std::filesystem::path& path, ReadOptions read_options, ChunkOptions chunk_options,
                            const TokenCounter& count, const std::function<void(Chunk&&)>& emit);

}  // namespace rpu::retrieval
