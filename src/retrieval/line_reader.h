// Lines of a text file read through a bounded buffer, for the streamed formats (.txt, .md,
// .jsonl). Each line is checked as it goes by: a NUL byte means a binary file and ill-formed
// UTF-8 is an error naming its byte offset, both DocumentErrors. A line longer than
// max_line_bytes comes out in pieces cut at character boundaries, so memory stays bounded
// whatever the file holds (a multi-GB file with no newline included).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "retrieval/input_file.h"

namespace rpu::retrieval {

struct Line {
  std::string_view text;  // without its "\n" and a "\r" before that; valid UTF-8
  uint64_t begin = 0;     // file offset of text[0]
  uint64_t number = 0;    // 1-based line number
  bool cut = false;       // the line goes on in the next piece (it reached max_line_bytes)
  bool continued = false; // a later piece of a cut line
  uint64_t end() const { return begin + text.size(); }
};

class LineReader {
 public:
  // `hash` (may be null) is fed every byte of the file, the BOM included.
  LineReader(InputFile& file, Sha256* hash, std::size_t buffer_bytes, std::size_t max_line_bytes);
  // The next line or piece; false at the end of the file. `out.text` stays valid until the next call.
  bool next(Line& out);
  uint64_t bytes_read() const { return block_offset_ + block_len_; }

 private:
  bool fill();  // reads the next block; false at the end
  Line finish_piece(std::size_t length, bool cut);

  InputFile& file_;
  Sha256* hash_;
  std::string block_;
  std::size_t block_pos_ = 0, block_len_ = 0;
  uint64_t block_offset_ = 0;  // file offset of block_[0]
  bool eof_ = false;
  std::size_t max_line_bytes_;
  std::string line_;           // the current line (or the rest of a cut one)
  uint64_t line_begin_ = 0;    // file offset of line_[0]
  std::size_t drop_ = 0;       // bytes of line_ handed out as a cut piece, dropped on the next call
  uint64_t line_number_ = 0;
  bool in_cut_line_ = false;
};

}  // namespace rpu::retrieval
