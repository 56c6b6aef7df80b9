// GGUF (v2, v3) reader and writer.
//
// File layout (little-endian): "GGUF" magic, u32 version, u64 tensor count, u64 metadata
// count, then the metadata key/value pairs, then one info record per tensor (name, n_dims,
// dims[n_dims] with dims[0] the contiguous axis, u32 type, u64 offset), then padding to
// `general.alignment` (default 32), then the tensor data section. Tensor offsets are
// relative to the start of the data section and aligned.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace rpu {

enum class GgufType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

const char* gguf_type_name(GgufType type);

// One metadata value. Scalars keep their declared type so that a round trip writes the
// same bytes; arrays hold their element type and items (arrays may nest).
class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue u8(uint8_t v) { return integer(GgufType::UINT8, v); }
  static GgufValue i8(int8_t v) { return integer(GgufType::INT8, v); }
  static GgufValue u16(uint16_t v) { return integer(GgufType::UINT16, v); }
  static GgufValue i16(int16_t v) { return integer(GgufType::INT16, v); }
  static GgufValue u32(uint32_t v) { return integer(GgufType::UINT32, v); }
  static GgufValue i32(int32_t v) { return integer(GgufType::INT32, v); }
  static GgufValue u64(uint64_t v) { return integer(GgufType::UINT64, static_cast<int64_t>(v)); }
  static GgufValue i64(int64_t v) { return integer(GgufType::INT64, v); }
  static GgufValue f32(float v) { return real(GgufType::FLOAT32, v); }
  static GgufValue f64(double v) { return real(GgufType::FLOAT64, v); }
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue array(GgufType element_type, std::vector<GgufValue> items);
  static GgufValue str_array(const std::vector<std::string>& items);
  static GgufValue f32_array(const std::vector<float>& items);
  static GgufValue i32_array(const std::vector<int32_t>& items);

  GgufType type() const { return type_; }
  GgufType element_type() const { return element_type_; }  // meaningful for arrays
  bool is_integer() const;
  bool is_float() const { return type_ == GgufType::FLOAT32 || type_ == GgufType::FLOAT64; }

  // Typed access; each throws rpu::Error (naming `what`) on a type mismatch.
  uint64_t as_uint(std::string_view what = "value") const;  // any non-negative integer
  int64_t as_int(std::string_view what = "value") const;    // any integer that fits
  double as_double(std::string_view what = "value") const;  // any number
  bool as_bool(std::string_view what = "value") const;
  const std::string& as_string(std::string_view what = "value") const;
  const std::vector<GgufValue>& as_array(std::string_view what = "value") const;

  std::string to_display(size_t max_items = 8) const;  // short human-readable rendering

  bool operator==(const GgufValue& other) const;

 private:
  static GgufValue integer(GgufType type, int64_t v);
  static GgufValue real(GgufType type, double v);

  GgufType type_ = GgufType::UINT8;
  GgufType element_type_ = GgufType::UINT8;
  int64_t int_ = 0;  // integers and bool (UINT64 stored bit-for-bit)
  double real_ = 0;
  std::string string_;
  std::vector<GgufValue> items_;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> shape;  // shape[0] is the contiguous (row) axis, as in ggml's ne[]
  DType type = DType::F32;
  uint64_t offset = 0;       // relative to the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the file's mapping

  uint64_t rows() const;  // product of shape[1..]
};

class GgufFile {
 public:
  static GgufFile open(const std::string& path);
  static GgufFile parse(MappedFile file, const std::string& display_name = "<memory>");

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return file_.size(); }
  const std::string& path() const { return path_; }

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  const GgufValue& require(std::string_view key) const;  // throws naming the key
  std::string get_string(std::string_view key, const std::string& fallback = "") const;
  uint64_t get_uint(std::string_view key, uint64_t fallback) const;
  double get_double(std::string_view key, double fallback) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;

  // Whether the tensors' bytes are a file mapping (not a copy in memory).
  bool is_mapped() const { return file_.is_mapped(); }
  // Gives back the resident pages of a tensor's bytes once the caller holds them elsewhere (a
  // kernel set's repacked copy); a later read of t.data still sees the same bytes (see
  // MappedFile::release_pages). Returns the bytes released; 0 unless the file is mapped.
  size_t release_tensor_pages(const GgufTensorInfo& t) const { return file_.release_pages(t.data, t.n_bytes); }

 private:
  MappedFile file_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

// Builds a GGUF v3 file. Metadata keeps insertion order; tensor data is laid out in the
// order tensors were added, each aligned to `general.alignment`.
class GgufWriter {
 public:
  void set(const std::string& key, GgufValue value);  // replaces an existing key in place
  // Borrowed: `data` must stay valid until write(). n_bytes is checked against the shape.
  void add_tensor(const std::string& name, DType type, std::vector<uint64_t> shape, const void* data);
  void add_tensor(const std::string& name, DType type, std::vector<uint64_t> shape,
                  std::vector<uint8_t> owned_data);
  // Produced: `produce(first_row, n_rows, dst)` writes rows [first_row, first_row + n_rows)
  // (a row is shape[0] values) into dst while write() / to_bytes() runs. The writer asks for
  // bounded chunks in order, so a model streams to disk without ever being whole in memory.
  using RowProducer = std::function<void(uint64_t first_row, uint64_t n_rows, uint8_t* dst)>;
  void add_produced_tensor(const std::string& name, DType type, std::vector<uint64_t> shape, RowProducer produce);
  // Copies every key and tensor (borrowing the tensor bytes) of a file that was read.
  void copy_from(const GgufFile& file);

  std::vector<uint8_t> to_bytes() const;
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    DType type;
    std::vector<uint64_t> shape;
    uint64_t n_bytes;
    const void* data;
    std::vector<uint8_t> owned;
    RowProducer produce;
  };
  template <typename Sink>
  void emit(Sink& sink) const;

  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace rpu
