// safetensors reader (the Hugging Face weight format), memory-mapped.
//
// File layout: u64 little-endian header length N, then N bytes of JSON: an object whose keys
// are tensor names (plus an optional "__metadata__" object of string -> string), each
// {"dtype": "F16", "shape": [rows, cols], "data_offsets": [begin, end]}, with offsets relative
// to the byte after the header. Shapes are row-major with the outermost axis first (the
// reverse of GGUF's ne[] order). The format requires the tensors to tile the data section
// exactly: sorted by offset they start at 0, each begins where the previous one ends, and the
// last one ends at the end of the file. Everything is checked before a byte is used; a file
// that breaks a rule is refused with one line naming the file and the rule.
//
// A model folder holds either `model.safetensors` or shards listed by
// `model.safetensors.index.json` ({"weight_map": {tensor: shard file}}); SafetensorsModel
// opens either and finds each tensor in its shard.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace rpu {

struct SafetensorsTensor {
  std::string name;
  DType type = DType::F32;      // F32, F16 or BF16: the types rpu reads
  std::vector<uint64_t> shape;  // outermost axis first, as the file writes it
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the file's mapping
};

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation

  static SafetensorsFile open(const std::string& path);
  static SafetensorsFile parse(MappedFile file, const std::string& display_name = "<memory>");

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }  // in file order
  const SafetensorsTensor* find(std::string_view name) const;

 private:
  MappedFile file_;
  std::string path_;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensor> tensors_;
};

// The weights of a Hugging Face model folder: one file or shards with an index.
class SafetensorsModel {
 public:
  // Throws rpu::Error naming the folder when it holds neither, or naming a missing shard.
  static SafetensorsModel open_dir(const std::string& dir);

  // Every tensor, sorted by name; pointers stay valid as long as this object lives.
  const std::vector<const SafetensorsTensor*>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;
  size_t shard_count() const { return shards_.size(); }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<const SafetensorsTensor*> tensors_;
};

}  // namespace rpu
