// The base log-probabilities file of `rpu perplexity --kl-divergence-base FILE`: the
// distribution a base model (say the F16 file) gives every scored token of a text, so a second
// model (a quantization of it) can later be compared against it token by token
// (engine/perplexity.h) without loading both models at once.
//
// Rows are stored as llama-perplexity stores them: a row's log-probabilities, clamped to
// [max - 16, max] (below that a token's probability is < 1e-7 of the top one's), quantized to
// 16 bits on a per-row linear scale. Dequantized: log p_i = scale * q_i + min_log_prob.
//
// Layout (little-endian):
//   header, 48 bytes:
//     char[8] magic "RPULOGP1"
//     u32 version (1), u32 n_vocab, u32 n_ctx, u32 n_chunk
//     u64 n_tokens      whole text's token count (BOS included when the model adds one)
//     u64 tokens_hash   hash_bytes() of those token ids as int32
//     u64 header_hash   hash_bytes() of the 40 bytes before it
//   then n_chunk blocks, one per chunk in text order:
//     rows_per_chunk = n_ctx - 1 - n_ctx/2 rows, each:
//       f32 scale, f32 min_log_prob, u16 q[n_vocab], u16 0 when n_vocab is odd
//     u64 block_hash    hash_bytes() of the block's rows
// Size: 48 + n_chunk * (rows_per_chunk * (8 + 2 * n_vocab rounded up to 4) + 8) bytes, about
// 2 bytes per vocabulary entry per scored token: 25 MB per 512-token chunk for a 49152-token
// vocabulary, 77 MB for a 151936-token one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "core/mapped_file.h"

namespace rpu {

// A 64-bit hash of a byte string (8 bytes at a time, each step a bijection, so any one changed
// word changes the result). Not cryptographic: it catches a different text or a corrupt file.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);
uint64_t hash_tokens(std::span<const int32_t> tokens);

struct LogProbFileHeader {
  uint32_t n_vocab = 0;
  uint32_t n_ctx = 0;
  uint32_t n_chunk = 0;
  uint64_t n_tokens = 0;
  uint64_t tokens_hash = 0;

  int rows_per_chunk() const { return static_cast<int>(n_ctx) - 1 - static_cast<int>(n_ctx) / 2; }
  size_t row_bytes() const;
  size_t block_bytes() const;  // one chunk's rows plus its hash
  uint64_t file_bytes() const;
};
inline constexpr size_t kLogProbHeaderBytes = 48;

// One stored row, read in place.
class LogProbRow {
 public:
  LogProbRow(const uint8_t* bytes, int n_vocab) : bytes_(bytes), n_vocab_(n_vocab) {}
  float scale() const;
  float min_log_prob() const;
  uint16_t q(int i) const;
  float log_prob(int i) const { return scale() * static_cast<float>(q(i)) + min_log_prob(); }
  int n_vocab() const { return n_vocab_; }

 private:
  const uint8_t* bytes_;
  int n_vocab_;
};

// Quantizes the log-softmax of one row of logits into `row` (header.row_bytes() bytes).
void quantize_log_probs(const float* logits, int n_vocab, uint8_t* row);

// Writes a file: the header at once, then one block per chunk in order. The data goes to
// PATH.partial, renamed to PATH by finish(); destroyed unfinished, it removes the partial file.
class LogProbWriter {
 public:
  LogProbWriter(const std::string& path, const LogProbFileHeader& header);
  ~LogProbWriter();
  LogProbWriter(const LogProbWriter&) = delete;
  LogProbWriter& operator=(const LogProbWriter&) = delete;

  // `rows`: rows_per_chunk rows of row_bytes() each.
  void append_chunk(std::span<const uint8_t> rows);
  void finish();

 private:
  void write(const void* data, size_t size);

  std::string path_, temp_;
  LogProbFileHeader header_;
  std::FILE* file_ = nullptr;
  uint32_t chunks_written_ = 0;
};

// Reads a file whole (memory-mapped), checking at open that the header, its size and every
// block's hash are intact: a truncated, corrupt or foreign file is an rpu::Error naming it.
class LogProbReader {
 public:
  static LogProbReader open(const std::string& path);
  const LogProbFileHeader& header() const { return header_; }
  // Throws unless the file was computed over these tokens with a vocabulary of this size.
  void check_matches(int n_vocab, std::span<const int32_t> tokens) const;
  LogProbRow row(int chunk, int i) const;

 private:
  LogProbReader(std::string path, MappedFile file, LogProbFileHeader header)
      : path_(std::move(path)), file_(std::move(file)), header_(header) {}
  std::string path_;
  MappedFile file_;
  LogProbFileHeader header_;
};

}  // namespace rpu
