// GGUF parsing. Everything in the file is untrusted: every count, length and offset is
// checked against the bytes that remain before it is used, so a truncated or corrupt file
// produces an rpu::Error naming the problem and never an out-of-bounds read.
#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "io/gguf.h"

namespace rpu {
namespace {

constexpr uint32_t kMaxDims = 4;         // ggml tensors have at most 4 axes
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are absurd
constexpr uint64_t kMaxNameLength = 1024;
constexpr uint64_t kMaxAlignment = 1 << 20;

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::FLOAT64); }

// Smallest number of bytes one value of `type` can occupy; bounds array counts early.
uint64_t min_value_size(GgufType type) {
  switch (type) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::BOOL: return 1;
    case GgufType::UINT16:
    case GgufType::INT16: return 2;
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::FLOAT32: return 4;
    case GgufType::STRING:
    case GgufType::UINT64:
    case GgufType::INT64:
    case GgufType::FLOAT64: return 8;
    case GgufType::ARRAY: return 12;  // element type + count
  }
  return 1;
}

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& name) : data_(data), size_(size), name_(name) {}

  uint64_t position() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      fail("{}: file is truncated: {} needs {} bytes at offset {} but only {} remain", name_, what, n, pos_,
           remaining());
    }
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string read_string(std::string_view what) {
    const uint64_t length = read<uint64_t>(what);
    need(length, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), length);
    pos_ += length;
    return s;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& name_;
};

GgufValue read_value(Cursor& in, GgufType type, const std::string& key, int depth, const std::string& file) {
  switch (type) {
    case GgufType::UINT8: return GgufValue::u8(in.read<uint8_t>(key));
    case GgufType::INT8: return GgufValue::i8(in.read<int8_t>(key));
    case GgufType::UINT16: return GgufValue::u16(in.read<uint16_t>(key));
    case GgufType::INT16: return GgufValue::i16(in.read<int16_t>(key));
    case GgufType::UINT32: return GgufValue::u32(in.read<uint32_t>(key));
    case GgufType::INT32: return GgufValue::i32(in.read<int32_t>(key));
    case GgufType::FLOAT32: return GgufValue::f32(in.read<float>(key));
    case GgufType::UINT64: return GgufValue::u64(in.read<uint64_t>(key));
    case GgufType::INT64: return GgufValue::i64(in.read<int64_t>(key));
    case GgufType::FLOAT64: return GgufValue::f64(in.read<double>(key));
    case GgufType::BOOL: {
      const uint8_t b = in.read<uint8_t>(key);
      if (b > 1) fail("{}: metadata '{}' has bool byte {} (must be 0 or 1)", file, key, b);
      return GgufValue::boolean(b != 0);
    }
    case GgufType::STRING: return GgufValue::str(in.read_string(key));
    case GgufType::ARRAY: {
      if (depth >= kMaxArrayDepth) fail("{}: metadata '{}' nests arrays deeper than {}", file, key, kMaxArrayDepth);
      const uint32_t element = in.read<uint32_t>(key);
      if (!known_value_type(element)) fail("{}: metadata '{}' has unknown array element type {}", file, key, element);
      const auto element_type = static_cast<GgufType>(element);
      const uint64_t count = in.read<uint64_t>(key);
      if (count > in.remaining() / min_value_size(element_type)) {
        fail("{}: metadata '{}' claims {} array items, more than the {} bytes left can hold", file, key, count,
             in.remaining());
      }
      std::vector<GgufValue> items;
      items.reserve(count);
      for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(in, element_type, key, depth + 1, file));
      return GgufValue::array(element_type, std::move(items));
    }
  }
  fail("{}: metadata '{}' has unknown value type {}", file, key, static_cast<uint32_t>(type));
}

// The magic and version (2 or 3; 1 and big-endian files are named as such).
uint32_t read_version(Cursor& in, const MappedFile& file, const std::string& name) {
  if (file.size() < 4 || std::memcmp(file.data(), "GGUF", 4) != 0) fail("{}: not a GGUF file (bad magic)", name);
  in.read<uint32_t>("magic");
  const uint32_t version = in.read<uint32_t>("version");
  if (version == 1) fail("{}: GGUF version 1 is obsolete and not supported (use v2 or v3)", name);
  if (version != 2 && version != 3) {
    // A big-endian writer stores the magic as bytes but the version byte-swapped. Test the
    // swapped value itself: a zeroed or garbage version must not be reported as big-endian.
    const uint32_t swapped = __builtin_bswap32(version);
    if (swapped >= 1 && swapped <= 3) fail("{}: big-endian GGUF files are not supported", name);
    fail("{}: unsupported GGUF version {} (supported: 2, 3)", name, version);
  }
  return version;
}

std::vector<std::pair<std::string, GgufValue>> read_metadata(Cursor& in, uint64_t n_kv, const std::string& name) {
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::unordered_map<std::string, size_t> keys;  // key -> index in metadata
  metadata.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = in.read_string("metadata key");
    if (key.empty()) fail("{}: metadata entry {} has an empty key", name, i);
    const uint32_t type = in.read<uint32_t>(key);
    if (!known_value_type(type)) fail("{}: metadata '{}' has unknown value type {}", name, key, type);
    GgufValue value = read_value(in, static_cast<GgufType>(type), key, 0, name);
    if (const auto seen = keys.find(key); seen != keys.end()) {
      // A key repeated with the same type and value is unambiguous, and real files do it
      // (llama.cpp's ggml-vocab-dbrx.gguf writes general.file_type twice): keep the first.
      // A repeat that disagrees has no right answer, so it is an error.
      if (!(metadata[seen->second].second == value)) fail("{}: duplicate metadata key '{}' with a different value", name, key);
      continue;
    }
    keys.emplace(key, metadata.size());
    metadata.emplace_back(std::move(key), std::move(value));
  }
  return metadata;
}

// Tensor info i: name, shape, type and offset, each checked (the data is placed later).
GgufTensorInfo read_tensor_info(Cursor& in, uint64_t i, uint64_t alignment, const std::string& name) {
  GgufTensorInfo t;
  t.name = in.read_string("tensor name");
  if (t.name.empty()) fail("{}: tensor {} has an empty name", name, i);
  if (t.name.size() > kMaxNameLength) fail("{}: tensor {} has a name of {} bytes", name, i, t.name.size());
  const uint32_t n_dims = in.read<uint32_t>(t.name);
  if (n_dims == 0 || n_dims > kMaxDims) fail("{}: tensor '{}' has {} dimensions (1..{} allowed)", name, t.name, n_dims, kMaxDims);
  t.n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t dim = in.read<uint64_t>(t.name);
    if (dim == 0 || dim > static_cast<uint64_t>(INT64_MAX)) fail("{}: tensor '{}' has dimension {} of size {}", name, t.name, d, dim);
    if (__builtin_mul_overflow(t.n_elements, dim, &t.n_elements) || t.n_elements > static_cast<uint64_t>(INT64_MAX)) {
      fail("{}: tensor '{}' element count overflows", name, t.name);
    }
    t.shape.push_back(dim);
  }
  const uint32_t type_id = in.read<uint32_t>(t.name);
  const DTypeInfo* info = find_dtype(type_id);
  if (info == nullptr) fail("{}: tensor '{}' has unknown type id {}", name, t.name, type_id);
  t.type = info->type;
  if (t.shape[0] % info->block_size != 0) {
    fail("{}: tensor '{}' row of {} values is not a whole number of {} blocks ({})", name, t.name, t.shape[0],
         info->name, info->block_size);
  }
  const uint64_t blocks = t.n_elements / info->block_size;
  if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(info->type_size), &t.n_bytes)) {
    fail("{}: tensor '{}' byte size overflows", name, t.name);
  }
  t.offset = in.read<uint64_t>(t.name);
  if (t.offset % alignment != 0) fail("{}: tensor '{}' offset {} is not aligned to {}", name, t.name, t.offset, alignment);
  return t;
}

// Points each tensor at its bytes: inside the data section, and no two sharing a byte.
void place_tensors(std::vector<GgufTensorInfo>& tensors, const MappedFile& file, uint64_t data_offset,
                   const std::string& name) {
  const uint64_t size = file.size();
  if (!tensors.empty() && data_offset > size) {
    fail("{}: file is truncated: tensor data would start at {} but the file has {} bytes", name, data_offset, size);
  }
  const uint64_t data_size = size >= data_offset ? size - data_offset : 0;
  for (auto& t : tensors) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      fail("{}: tensor '{}' data [{}, +{}) runs past the end of the file (data section holds {} bytes)", name, t.name,
           t.offset, t.n_bytes, data_size);
    }
    t.data = file.data() + data_offset + t.offset;
  }
  // Sorted by offset, each tensor must end before the next begins.
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    if (prev->offset + prev->n_bytes > by_offset[i]->offset) {
      fail("{}: tensors '{}' and '{}' overlap in the data section", name, prev->name, by_offset[i]->name);
    }
  }
}

}  // namespace

GgufFile GgufFile::open(const std::string& path) { return parse(MappedFile::open(path), path); }

GgufFile GgufFile::parse(MappedFile mapped, const std::string& name) {
  GgufFile file;
  file.file_ = std::move(mapped);
  file.path_ = name;
  Cursor in(file.file_.data(), file.file_.size(), name);
  file.version_ = read_version(in, file.file_, name);
  const uint64_t n_tensors = in.read<uint64_t>("tensor count");
  const uint64_t n_kv = in.read<uint64_t>("metadata count");
  // Each key/value takes at least 13 bytes and each tensor info at least 28: bound the counts.
  if (n_kv > in.remaining() / 13) fail("{}: metadata count {} is larger than the file can hold", name, n_kv);
  if (n_tensors > in.remaining() / 28) fail("{}: tensor count {} is larger than the file can hold", name, n_tensors);
  file.metadata_ = read_metadata(in, n_kv, name);

  if (const GgufValue* alignment = file.find("general.alignment")) {
    if (alignment->type() != GgufType::UINT32) fail("{}: general.alignment must be a u32", name);
    file.alignment_ = alignment->as_uint();
    if (file.alignment_ == 0 || (file.alignment_ & (file.alignment_ - 1)) != 0 || file.alignment_ > kMaxAlignment) {
      fail("{}: general.alignment {} is not a power of two up to {}", name, file.alignment_, kMaxAlignment);
    }
  }

  std::unordered_set<std::string> names;
  file.tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t = read_tensor_info(in, i, file.alignment_, name);
    if (!names.insert(t.name).second) fail("{}: duplicate tensor name '{}'", name, t.name);
    file.tensors_.push_back(std::move(t));
  }
  // The data section starts at the next alignment boundary after the tensor infos.
  file.data_offset_ = (in.position() + file.alignment_ - 1) / file.alignment_ * file.alignment_;
  place_tensors(file.tensors_, file.file_, file.data_offset_, name);
  return file;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_) {
    if (k == key) return &v;
  }
  return nullptr;
}

const GgufValue& GgufFile::require(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) fail("{}: required metadata '{}' is missing", path_, key);
  return *value;
}

std::string GgufFile::get_string(std::string_view key, const std::string& fallback) const {
  const GgufValue* value = find(key);
  return value ? value->as_string(key) : fallback;
}

uint64_t GgufFile::get_uint(std::string_view key, uint64_t fallback) const {
  const GgufValue* value = find(key);
  return value ? value->as_uint(key) : fallback;
}

double GgufFile::get_double(std::string_view key, double fallback) const {
  const GgufValue* value = find(key);
  return value ? value->as_double(key) : fallback;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace rpu
