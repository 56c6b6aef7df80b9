#include "engine/logprob_file.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace rpu {

static_assert(std::endian::native == std::endian::little, "the log-probabilities file is little-endian");

namespace {

constexpr char kMagic[8] = {'R', 'P', 'U', 'L', 'O', 'G', 'P', '1'};
constexpr uint32_t kVersion = 1;
constexpr float kClampBelowMax = 16.0f;  // log-probabilities kept down to max - 16

template <typename T>
T load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <typename T>
void store(uint8_t* p, T value) {
  std::memcpy(p, &value, sizeof value);
}

// The first 40 bytes of the header (everything but its own hash).
void encode_header(const LogProbFileHeader& h, uint8_t* out) {
  std::memcpy(out, kMagic, 8);
  store<uint32_t>(out + 8, kVersion);
  store<uint32_t>(out + 12, h.n_vocab);
  store<uint32_t>(out + 16, h.n_ctx);
  store<uint32_t>(out + 20, h.n_chunk);
  store<uint64_t>(out + 24, h.n_tokens);
  store<uint64_t>(out + 32, h.tokens_hash);
  store<uint64_t>(out + 40, hash_bytes(out, 40));
}

LogProbFileHeader decode_header(const std::string& path, const MappedFile& file) {
  const uint8_t* p = file.data();
  if (file.size() < kLogProbHeaderBytes || std::memcmp(p, kMagic, 8) != 0) {
    fail("{}: not an rpu base log-probabilities file (written by rpu perplexity --kl-divergence-base)", path);
  }
  if (load<uint32_t>(p + 8) != kVersion) fail("{}: unsupported version {} (this rpu reads {})", path, load<uint32_t>(p + 8), kVersion);
  if (load<uint64_t>(p + 40) != hash_bytes(p, 40)) fail("{}: corrupt header (checksum mismatch)", path);
  LogProbFileHeader h;
  h.n_vocab = load<uint32_t>(p + 12);
  h.n_ctx = load<uint32_t>(p + 16);
  h.n_chunk = load<uint32_t>(p + 20);
  h.n_tokens = load<uint64_t>(p + 24);
  h.tokens_hash = load<uint64_t>(p + 32);
  if (h.n_vocab == 0 || h.n_ctx < 4 || h.n_chunk == 0 || uint64_t{h.n_chunk} * h.n_ctx > h.n_tokens) {
    fail("{}: corrupt header (vocabulary {}, context {}, {} chunks of {} tokens)", path, h.n_vocab, h.n_ctx, h.n_chunk,
         h.n_tokens);
  }
  return h;
}

}  // namespace

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  constexpr uint64_t kPrime = 0x100000001b3ull;  // odd: multiplying by it is a bijection
  uint64_t h = 0xcbf29ce484222325ull ^ (seed * 0x9e3779b97f4a7c15ull) ^ size;
  const auto* p = static_cast<const uint8_t*>(data);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) h = (h ^ load<uint64_t>(p + i)) * kPrime;
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, size - i);
  h = (h ^ tail) * kPrime;
  h ^= h >> 33;  // mix the high bits down
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

uint64_t hash_tokens(std::span<const int32_t> tokens) {
  return hash_bytes(tokens.data(), tokens.size_bytes(), 0x746f6b656e73ull);
}

size_t LogProbFileHeader::row_bytes() const { return 8 + 2 * (static_cast<size_t>(n_vocab) + (n_vocab & 1)); }
size_t LogProbFileHeader::block_bytes() const { return static_cast<size_t>(rows_per_chunk()) * row_bytes() + 8; }
uint64_t LogProbFileHeader::file_bytes() const { return kLogProbHeaderBytes + uint64_t{n_chunk} * block_bytes(); }

float LogProbRow::scale() const { return load<float>(bytes_); }
float LogProbRow::min_log_prob() const { return load<float>(bytes_ + 4); }
uint16_t LogProbRow::q(int i) const { return load<uint16_t>(bytes_ + 8 + 2 * static_cast<size_t>(i)); }

void quantize_log_probs(const float* logits, int n_vocab, uint8_t* row) {
  float max_logit = logits[0], min_logit = logits[0];
  for (int i = 1; i < n_vocab; ++i) {
    max_logit = std::max(max_logit, logits[i]);
    min_logit = std::min(min_logit, logits[i]);
  }
  min_logit = std::max(min_logit, max_logit - kClampBelowMax);
  double sum = 0;
  for (int i = 0; i < n_vocab; ++i) sum += std::exp(logits[i] - max_logit);
  const float log_sum = static_cast<float>(std::log(sum));
  const float scale = (max_logit - min_logit) / 65535.0f;
  store<float>(row, scale);
  store<float>(row + 4, min_logit - max_logit - log_sum);
  uint8_t* q = row + 8;
  const size_t padded = static_cast<size_t>(n_vocab) + (n_vocab & 1);
  std::memset(q, 0, 2 * padded);
  if (scale <= 0) return;  // a flat row: every token at the minimum
  const float inv_scale = 1.0f / scale;
  for (int i = 0; i < n_vocab; ++i) {
    if (logits[i] <= min_logit) continue;
    const long v = std::lrint(inv_scale * (logits[i] - min_logit));
    store<uint16_t>(q + 2 * static_cast<size_t>(i), static_cast<uint16_t>(std::clamp(v, 0L, 65535L)));
  }
}

LogProbWriter::LogProbWriter(const std::string& path, const LogProbFileHeader& header)
    : path_(path), temp_(path + ".partial"), header_(header) {
  file_ = std::fopen(temp_.c_str(), "wb");
  if (file_ == nullptr) fail("cannot create '{}': {}", path_, std::strerror(errno));
  uint8_t bytes[kLogProbHeaderBytes];
  encode_header(header_, bytes);
  write(bytes, sizeof bytes);
}

LogProbWriter::~LogProbWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_.c_str());
  }
}

void LogProbWriter::write(const void* data, size_t size) {
  if (std::fwrite(data, 1, size, file_) != size) fail("cannot write '{}': {}", path_, std::strerror(errno));
}

void LogProbWriter::append_chunk(std::span<const uint8_t> rows) {
  if (file_ == nullptr || chunks_written_ == header_.n_chunk) fail("{}: more chunks than the header declares", path_);
  if (rows.size() + 8 != header_.block_bytes()) fail("{}: a chunk of {} bytes, expected {}", path_, rows.size(), header_.block_bytes() - 8);
  write(rows.data(), rows.size());
  const uint64_t hash = hash_bytes(rows.data(), rows.size());
  write(&hash, sizeof hash);
  ++chunks_written_;
}

void LogProbWriter::finish() {
  if (chunks_written_ != header_.n_chunk) fail("{}: {} of {} chunks written", path_, chunks_written_, header_.n_chunk);
  const bool flushed = std::fflush(file_) == 0;
  const int close = std::fclose(file_);
  file_ = nullptr;
  if (!flushed || close != 0) {
    std::remove(temp_.c_str());
    fail("cannot write '{}': {}", path_, std::strerror(errno));
  }
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    std::remove(temp_.c_str());
    fail("cannot rename '{}' to '{}': {}", temp_, path_, std::strerror(errno));
  }
}

LogProbReader LogProbReader::open(const std::string& path) {
  MappedFile file = MappedFile::open(path);
  const LogProbFileHeader h = decode_header(path, file);
  if (file.size() != h.file_bytes()) {
    fail("{}: {} ({} bytes, the header describes {})", path, file.size() < h.file_bytes() ? "truncated" : "has trailing bytes",
         file.size(), h.file_bytes());
  }
  const size_t block = h.block_bytes();
  for (uint32_t c = 0; c < h.n_chunk; ++c) {
    const uint8_t* p = file.data() + kLogProbHeaderBytes + c * block;
    if (hash_bytes(p, block - 8) != load<uint64_t>(p + block - 8)) fail("{}: corrupt data in chunk {} (checksum mismatch)", path, c + 1);
  }
  return LogProbReader(path, std::move(file), h);
}

void LogProbReader::check_matches(int n_vocab, std::span<const int32_t> tokens) const {
  if (static_cast<uint32_t>(n_vocab) != header_.n_vocab) {
    fail("{}: written for a vocabulary of {} tokens, this model has {} (a different model family)", path_, header_.n_vocab,
         n_vocab);
  }
  if (tokens.size() != header_.n_tokens || hash_tokens(tokens) != header_.tokens_hash) {
    fail("{}: computed over a different text or tokenization ({} tokens there, {} here)", path_, header_.n_tokens,
         tokens.size());
  }
}

LogProbRow LogProbReader::row(int chunk, int i) const {
  const size_t offset = kLogProbHeaderBytes + static_cast<size_t>(chunk) * header_.block_bytes() +
                        static_cast<size_t>(i) * header_.row_bytes();
  return LogProbRow(file_.data() + offset, static_cast<int>(header_.n_vocab));
}

}  // namespace rpu
