#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "core/error.h"
#include "core/json_text.h"

namespace rpu {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// The dtypes of the format; only the first three are read by rpu.
struct DtypeName {
  const char* name;
  int bytes;
  bool readable;
  DType type;
};
constexpr DtypeName kDtypes[] = {
    {"F32", 4, true, DType::F32},    {"F16", 2, true, DType::F16},    {"BF16", 2, true, DType::BF16},
    {"F64", 8, false, DType::F32},   {"I64", 8, false, DType::F32},   {"U64", 8, false, DType::F32},
    {"I32", 4, false, DType::F32},   {"U32", 4, false, DType::F32},   {"I16", 2, false, DType::F32},
    {"U16", 2, false, DType::F32},   {"I8", 1, false, DType::F32},    {"U8", 1, false, DType::F32},
    {"BOOL", 1, false, DType::F32},  {"F8_E4M3", 1, false, DType::F32}, {"F8_E5M2", 1, false, DType::F32},
};

const DtypeName& lookup_dtype(const std::string& path, const std::string& tensor, const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) {
      if (!d.readable) {
        fail("{}: tensor '{}' has dtype {}, which rpu cannot read (supported: F32, F16, BF16)", path, tensor, name);
      }
      return d;
    }
  }
  fail("{}: tensor '{}' has unknown dtype '{}'", path, tensor, name);
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A non-negative whole number from the header, or an error naming what it was.
uint64_t whole(const json& j, const std::string& path, const std::string& tensor, const char* what) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return static_cast<uint64_t>(j.get<int64_t>());
  fail("{}: tensor '{}': {} must be a non-negative whole number, got {}", path, tensor, what, j.dump());
}

struct Entry {
  SafetensorsTensor tensor;
  uint64_t begin = 0, end = 0;
};

Entry read_entry(const std::string& path, const std::string& name, const json& j) {
  if (!j.is_object()) fail("{}: tensor '{}' is not an object", path, name);
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!j.contains(key)) fail("{}: tensor '{}' has no \"{}\"", path, name, key);
  }
  if (!j.at("dtype").is_string()) fail("{}: tensor '{}': dtype is not a string", path, name);
  const DtypeName& dtype = lookup_dtype(path, name, j.at("dtype").get<std::string>());
  Entry e;
  e.tensor.name = name;
  e.tensor.type = dtype.type;
  const json& shape = j.at("shape");
  if (!shape.is_array() || shape.size() > 8) fail("{}: tensor '{}': shape must be an array of at most 8 sizes", path, name);
  uint64_t n = 1;
  for (const json& d : shape) {
    const uint64_t dim = whole(d, path, name, "a shape size");
    if (dim != 0 && n > UINT64_MAX / dim / 8) fail("{}: tensor '{}': shape {} is absurdly large", path, name, shape.dump());
    n *= dim;
    e.tensor.shape.push_back(dim);
  }
  e.tensor.n_elements = n;
  e.tensor.n_bytes = n * static_cast<uint64_t>(dtype.bytes);
  const json& offsets = j.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) fail("{}: tensor '{}': data_offsets must be [begin, end]", path, name);
  e.begin = whole(offsets[0], path, name, "data_offsets[0]");
  e.end = whole(offsets[1], path, name, "data_offsets[1]");
  if (e.end < e.begin) fail("{}: tensor '{}': data_offsets end {} is before begin {}", path, name, e.end, e.begin);
  if (e.end - e.begin != e.tensor.n_bytes) {
    fail("{}: tensor '{}': shape {} of {} needs {} bytes but data_offsets span {}", path, name, shape.dump(),
         dtype.name, e.tensor.n_bytes, e.end - e.begin);
  }
  return e;
}

std::map<std::string, std::string> read_metadata(const std::string& path, const json& j) {
  if (!j.is_object()) fail("{}: __metadata__ is not an object", path);
  std::map<std::string, std::string> m;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) fail("{}: __metadata__ value '{}' is not a string", path, key);
    m[key] = value.get<std::string>();
  }
  return m;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}'", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A shard named by the index must be a plain file name in the folder (no path of its own).
void check_shard_name(const std::string& index, const std::string& shard) {
  if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
      shard == "." || shard == "..") {
    fail("{}: shard name '{}' is not a file name in the model folder", index, shard);
  }
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) { return parse(MappedFile::open(path), path); }

SafetensorsFile SafetensorsFile::parse(MappedFile file, const std::string& display_name) {
  SafetensorsFile f;
  f.path_ = display_name;
  const std::string& path = f.path_;
  const uint64_t size = file.size();
  if (size < 8) fail("{}: truncated: {} bytes, too short for a safetensors header", path, size);
  const uint64_t header_len = read_u64_le(file.data());
  if (header_len < 2 || header_len > kMaxHeaderBytes) {
    fail("{}: header length {} is out of range (2..{}); not a safetensors file?", path, header_len, kMaxHeaderBytes);
  }
  if (header_len > size - 8) fail("{}: truncated: header of {} bytes but the file has {} after the length", path, header_len, size - 8);
  const std::string_view text(reinterpret_cast<const char*>(file.data() + 8), header_len);
  const json header = parse_json_text(text, path + " header", 16);
  if (!header.is_object()) fail("{}: header is not a JSON object", path);

  const uint64_t data_start = 8 + header_len, data_size = size - data_start;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      f.metadata_ = read_metadata(path, value);
      continue;
    }
    entries.push_back(read_entry(path, name, value));
  }
  // The tensors must tile the data section: no overlap, no hole, nothing after the last one.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  for (const Entry* e : by_offset) {
    if (e->begin < expected) fail("{}: tensor '{}' (bytes {}..{}) overlaps the tensor before it", path, e->tensor.name, e->begin, e->end);
    if (e->begin > expected) fail("{}: {} unused bytes before tensor '{}' (offset {})", path, e->begin - expected, e->tensor.name, e->begin);
    expected = e->end;
  }
  if (expected > data_size) {
    fail("{}: truncated: the tensors need {} data bytes but the file has {}", path, expected, data_size);
  }
  if (expected < data_size) fail("{}: {} bytes after the last tensor", path, data_size - expected);

  f.file_ = std::move(file);
  for (Entry& e : entries) {
    e.tensor.data = f.file_.data() + data_start + e.begin;
    f.tensors_.push_back(std::move(e.tensor));
  }
  return f;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

SafetensorsModel SafetensorsModel::open_dir(const std::string& dir) {
  SafetensorsModel m;
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  std::error_code ec;
  std::map<std::string, std::string> weight_map;  // tensor -> shard
  if (fs::exists(index, ec)) {
    const json j = parse_json_text(read_text(index.string()), index.string());
    if (!j.is_object() || !j.contains("weight_map") || !j.at("weight_map").is_object()) {
      fail("{}: no \"weight_map\" object", index.string());
    }
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : j.at("weight_map").items()) {
      if (!shard.is_string()) fail("{}: weight_map['{}'] is not a file name", index.string(), tensor);
      check_shard_name(index.string(), shard.get<std::string>());
      weight_map[tensor] = shard.get<std::string>();
      shards.insert(shard.get<std::string>());
    }
    if (shards.empty()) fail("{}: weight_map is empty", index.string());
    for (const std::string& shard : shards) {
      const fs::path p = fs::path(dir) / shard;
      if (!fs::is_regular_file(p, ec)) fail("{}: shard '{}' named by model.safetensors.index.json is missing", dir, shard);
      m.shards_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(p.string())));
    }
  } else if (fs::exists(single, ec)) {
    m.shards_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(single.string())));
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json", dir);
  }

  std::map<std::string_view, const SafetensorsTensor*> all;
  for (const auto& shard : m.shards_) {
    const std::string shard_name = fs::path(shard->path()).filename().string();
    for (const auto& t : shard->tensors()) {
      if (!all.emplace(t.name, &t).second) fail("{}: tensor '{}' appears in more than one shard", dir, t.name);
      if (!weight_map.empty()) {
        const auto it = weight_map.find(t.name);
        if (it == weight_map.end()) fail("{}: tensor '{}' in {} is not in the index", dir, t.name, shard_name);
        if (it->second != shard_name) fail("{}: tensor '{}' is in {}, but the index names {}", dir, t.name, shard_name, it->second);
      }
    }
  }
  for (const auto& [tensor, shard] : weight_map) {
    if (!all.count(tensor)) fail("{}: tensor '{}' listed in the index is not in shard {}", dir, tensor, shard);
  }
  for (const auto& [name, t] : all) m.tensors_.push_back(t);
  return m;
}

const SafetensorsTensor* SafetensorsModel::find(std::string_view name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const SafetensorsTensor* t, std::string_view n) { return t->name < n; });
  return it != tensors_.end() && (*it)->name == name ? *it : nullptr;
}

}  // namespace rpu
