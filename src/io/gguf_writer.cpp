#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include <unistd.h>

#include "core/error.h"
#include "io/gguf.h"

namespace rpu {
namespace {

struct ByteSink {
  std::vector<uint8_t> bytes;
  void put(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + n);
  }
  uint64_t written() const { return bytes.size(); }
};

struct FileSink {
  std::FILE* file;
  const std::string& path;
  uint64_t count = 0;
  void put(const void* data, size_t n) {
    if (n != 0 && std::fwrite(data, 1, n, file) != n) {
      fail("cannot write '{}': {} (disk full, file size limit or I/O error)", path, std::strerror(errno));
    }
    count += n;
  }
  uint64_t written() const { return count; }
};

template <typename Sink, typename T>
void put_scalar(Sink& sink, T value) {
  sink.put(&value, sizeof(T));
}

template <typename Sink>
void put_string(Sink& sink, const std::string& s) {
  put_scalar<Sink, uint64_t>(sink, s.size());
  sink.put(s.data(), s.size());
}

template <typename Sink>
void put_value(Sink& sink, const GgufValue& v) {
  switch (v.type()) {
    case GgufType::UINT8: put_scalar(sink, static_cast<uint8_t>(v.as_uint())); break;
    case GgufType::INT8: put_scalar(sink, static_cast<int8_t>(v.as_int())); break;
    case GgufType::UINT16: put_scalar(sink, static_cast<uint16_t>(v.as_uint())); break;
    case GgufType::INT16: put_scalar(sink, static_cast<int16_t>(v.as_int())); break;
    case GgufType::UINT32: put_scalar(sink, static_cast<uint32_t>(v.as_uint())); break;
    case GgufType::INT32: put_scalar(sink, static_cast<int32_t>(v.as_int())); break;
    case GgufType::UINT64: put_scalar(sink, v.as_uint()); break;
    case GgufType::INT64: put_scalar(sink, v.as_int()); break;
    case GgufType::FLOAT32: put_scalar(sink, static_cast<float>(v.as_double())); break;
    case GgufType::FLOAT64: put_scalar(sink, v.as_double()); break;
    case GgufType::BOOL: put_scalar(sink, static_cast<uint8_t>(v.as_bool() ? 1 : 0)); break;
    case GgufType::STRING: put_string(sink, v.as_string()); break;
    case GgufType::ARRAY: {
      put_scalar(sink, static_cast<uint32_t>(v.element_type()));
      put_scalar<Sink, uint64_t>(sink, v.as_array().size());
      for (const auto& item : v.as_array()) put_value(sink, item);
      break;
    }
  }
}

template <typename Sink>
void pad_to(Sink& sink, uint64_t alignment) {
  static const uint8_t zeros[256] = {};
  uint64_t pad = (alignment - sink.written() % alignment) % alignment;
  while (pad > 0) {
    const uint64_t n = pad < sizeof(zeros) ? pad : sizeof(zeros);
    sink.put(zeros, n);
    pad -= n;
  }
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty()) fail("GGUF metadata key must not be empty");
  if (key == "general.alignment") {
    const uint64_t a = value.type() == GgufType::UINT32 ? value.as_uint() : 0;
    if (a == 0 || (a & (a - 1)) != 0) fail("general.alignment must be a u32 power of two");
  }
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<uint64_t> shape, const void* data) {
  if (name.empty()) fail("GGUF tensor name must not be empty");
  if (shape.empty() || shape.size() > 4) fail("tensor '{}' must have 1 to 4 dimensions", name);
  for (const auto& t : tensors_) {
    if (t.name == name) fail("duplicate tensor name '{}'", name);
  }
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d == 0) fail("tensor '{}' has a zero dimension", name);
    n *= d;
  }
  if (shape[0] % dtype_info(type).block_size != 0) {
    fail("tensor '{}' row of {} is not a whole number of {} blocks", name, shape[0], dtype_name(type));
  }
  tensors_.push_back(Tensor{name, type, std::move(shape), dtype_row_bytes(type, n), data, {}, {}});
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<uint64_t> shape,
                            std::vector<uint8_t> owned_data) {
  add_tensor(name, type, std::move(shape), nullptr);
  Tensor& t = tensors_.back();
  if (owned_data.size() != t.n_bytes) {
    tensors_.pop_back();
    fail("tensor '{}' needs {} bytes but {} were given", name, t.n_bytes, owned_data.size());
  }
  t.owned = std::move(owned_data);
}

void GgufWriter::add_produced_tensor(const std::string& name, DType type, std::vector<uint64_t> shape,
                                     RowProducer produce) {
  if (!produce) fail("tensor '{}' has no producer", name);
  add_tensor(name, type, std::move(shape), nullptr);
  tensors_.back().produce = std::move(produce);
}

void GgufWriter::copy_from(const GgufFile& file) {
  for (const auto& [key, value] : file.metadata()) set(key, value);
  for (const auto& t : file.tensors()) add_tensor(t.name, t.type, t.shape, t.data);
}

template <typename Sink>
void GgufWriter::emit(Sink& sink) const {
  uint64_t alignment = 32;
  for (const auto& [k, v] : metadata_) {
    if (k == "general.alignment") alignment = v.as_uint();
  }
  sink.put("GGUF", 4);
  put_scalar<Sink, uint32_t>(sink, 3);
  put_scalar<Sink, uint64_t>(sink, tensors_.size());
  put_scalar<Sink, uint64_t>(sink, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    put_string(sink, key);
    put_scalar(sink, static_cast<uint32_t>(value.type()));
    put_value(sink, value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(sink, t.name);
    put_scalar(sink, static_cast<uint32_t>(t.shape.size()));
    for (uint64_t d : t.shape) put_scalar(sink, d);
    put_scalar(sink, static_cast<uint32_t>(t.type));
    put_scalar(sink, offset);
    offset += (t.n_bytes + alignment - 1) / alignment * alignment;
  }
  // The padding only aligns the data section. With no tensors there is none, and gguf-py
  // (which wrote the vocab-only files in llama.cpp's test data) stops right after the
  // header, so a round trip of such a file stays byte-identical.
  if (!tensors_.empty()) pad_to(sink, alignment);
  std::vector<uint8_t> chunk;  // reused by every produced tensor
  for (const auto& t : tensors_) {
    if (t.produce) {
      // Chunks of about 64 MiB (at least one row) bound the memory a produced tensor takes.
      const uint64_t row_bytes = dtype_row_bytes(t.type, t.shape[0]);
      const uint64_t n_rows = t.n_bytes / row_bytes;
      const uint64_t rows_per_chunk = std::max<uint64_t>(1, (uint64_t{64} << 20) / row_bytes);
      for (uint64_t row = 0; row < n_rows; row += rows_per_chunk) {
        const uint64_t n = std::min(rows_per_chunk, n_rows - row);
        chunk.resize(n * row_bytes);
        t.produce(row, n, chunk.data());
        sink.put(chunk.data(), chunk.size());
      }
    } else {
      const void* data = t.owned.empty() ? t.data : t.owned.data();
      if (data == nullptr) fail("tensor '{}' has no data", t.name);
      sink.put(data, t.n_bytes);
    }
    pad_to(sink, alignment);
  }
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  ByteSink sink;
  emit(sink);
  return std::move(sink.bytes);
}

void GgufWriter::write(const std::string& path) const {
  // Write to a temporary name and rename, so a failed write never leaves a half file behind.
  const std::string tmp = path + ".partial";
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(tmp.c_str(), "wb"), &std::fclose);
  if (!file) fail("cannot create '{}': {}", path, std::strerror(errno));
  try {
    FileSink sink{file.get(), path};
    emit(sink);
    if (std::fflush(file.get()) != 0) fail("cannot write '{}': {}", path, std::strerror(errno));
    // On the disk before the rename, so a crash never leaves a short file under the final name.
    if (::fsync(::fileno(file.get())) != 0) fail("cannot write '{}': {}", path, std::strerror(errno));
    // fclose reports what the last writes left (a full disk on a network file system).
    if (std::fclose(file.release()) != 0) fail("cannot write '{}': {}", path, std::strerror(errno));
  } catch (...) {
    file.reset();
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("cannot rename '{}' to '{}': {}", tmp, path, std::strerror(errno));
  }
}

}  // namespace rpu
