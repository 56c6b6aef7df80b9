#include "retrieval/line_reader.h"

#include <algorithm>
#include <cstring>

#include "retrieval/document.h"
#include "retrieval/utf8.h"

namespace rpu::retrieval {

LineReader::LineReader(InputFile& file, Sha256* hash, std::size_t buffer_bytes, std::size_t max_line_bytes)
    : file_(file), hash_(hash), block_(std::max<std::size_t>(buffer_bytes, 16), '\0'),
      max_line_bytes_(std::max<std::size_t>(max_line_bytes, 16)) {}

bool LineReader::fill() {
  if (eof_) return false;
  block_offset_ += block_len_;
  block_pos_ = 0;
  block_len_ = file_.read(block_.data(), block_.size());
  if (block_len_ == 0) {
    eof_ = true;
    return false;
  }
  const std::string_view block(block_.data(), block_len_);
  if (hash_ != nullptr) hash_->update(block);
  if (const void* nul = std::memchr(block.data(), '\0', block.size())) {
    const auto at = block_offset_ + static_cast<uint64_t>(static_cast<const char*>(nul) - block.data());
    throw DocumentError(file_.name() + ": binary file (NUL byte at offset " + std::to_string(at) + ")");
  }
  // A UTF-8 byte order mark says nothing a reader needs; skip it so it is not text.
  if (block_offset_ == 0 && block.starts_with("\xEF\xBB\xBF")) {
    block_pos_ = 3;
    line_begin_ = 3;
  }
  return true;
}

Line LineReader::finish_piece(std::size_t length, bool cut) {
  std::string_view text(line_.data(), length);
  if (!cut && text.ends_with('\r')) text.remove_suffix(1);
  const std::size_t valid = utf8_valid_prefix(text);
  if (valid < text.size()) {
    throw DocumentError(file_.name() + ": invalid UTF-8 at byte " + std::to_string(line_begin_ + valid) +
                        " (line " + std::to_string(line_number_) + ")");
  }
  Line out;
  out.text = text;
  out.begin = line_begin_;
  out.number = line_number_;
  out.cut = cut;
  out.continued = in_cut_line_;
  in_cut_line_ = cut;
  return out;
}

bool LineReader::next(Line& out) {
  if (drop_ > 0) {  // the rest of a cut line, or nothing after a complete one
    line_.erase(0, drop_);
    line_begin_ += drop_;
    drop_ = 0;
  }
  if (!in_cut_line_) ++line_number_;
  while (true) {
    if (line_.size() > max_line_bytes_) {
      // Cut at a character boundary and keep the rest for the next piece; a run of stray
      // continuation bytes is left for validation to name.
      std::size_t cut = utf8_floor(line_, max_line_bytes_);
      if (cut == 0) cut = max_line_bytes_;
      out = finish_piece(cut, true);
      drop_ = cut;
      return true;
    }
    if (block_pos_ == block_len_ && !fill()) {
      if (line_.empty()) return false;  // also after a cut piece that happened to end the file
      out = finish_piece(line_.size(), false);
      drop_ = line_.size();
      return true;
    }
    const char* start = block_.data() + block_pos_;
    const std::size_t avail = block_len_ - block_pos_;
    const void* newline = std::memchr(start, '\n', avail);
    const std::size_t take = newline ? static_cast<std::size_t>(static_cast<const char*>(newline) - start) : avail;
    line_.append(start, take);
    block_pos_ += take;  // at the "\n" when there is one: a line cut above comes back to it
    if (newline != nullptr && line_.size() <= max_line_bytes_) {
      ++block_pos_;
      out = finish_piece(line_.size(), false);
      drop_ = line_.size() + 1;  // the piece and its "\n" (line_begin_ moves past both)
      return true;
    }
  }
}

}  // namespace rpu::retrieval
