// The per-format readers behind read_document (document.cpp), which has already opened the
// file, sniffed it and chosen the reader. Internal to src/retrieval.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "retrieval/document.h"
#include "retrieval/input_file.h"

namespace rpu::retrieval {

struct ReaderContext {
  InputFile& file;
  const ReadOptions& options;
  const std::function<void(Section&&)>& emit;
  DocumentInfo& info;  // a whole-file reader sets the title before calling started()
  Sha256& hash;        // fed every byte of the file
  std::function<void()> started;  // calls ReadOptions::on_start once, before the first section
};

// Streamed: the title was found by read_document from the head of the file.
void read_text(ReaderContext& ctx);
void read_markdown(ReaderContext& ctx);
void read_jsonl(ReaderContext& ctx);
// Read whole: they find the title themselves, then call ctx.started().
void read_html(ReaderContext& ctx);
void read_pdf(ReaderContext& ctx);

// The title from a file's first bytes ("" when there is none): the first non-blank line of a
// .txt; for a .md the front matter's title:, else its first level-1 heading (outside code blocks).
std::string text_title(std::string_view head);
std::string markdown_title(std::string_view head);

}  // namespace rpu::retrieval
