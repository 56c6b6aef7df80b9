#include <fmt/format.h>

#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/gguf.h"

namespace rpu {

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::UINT8: return "u8";
    case GgufType::INT8: return "i8";
    case GgufType::UINT16: return "u16";
    case GgufType::INT16: return "i16";
    case GgufType::UINT32: return "u32";
    case GgufType::INT32: return "i32";
    case GgufType::FLOAT32: return "f32";
    case GgufType::BOOL: return "bool";
    case GgufType::STRING: return "string";
    case GgufType::ARRAY: return "array";
    case GgufType::UINT64: return "u64";
    case GgufType::INT64: return "i64";
    case GgufType::FLOAT64: return "f64";
  }
  return "?";
}

GgufValue GgufValue::integer(GgufType type, int64_t v) {
  GgufValue value;
  value.type_ = type;
  value.int_ = v;
  return value;
}

GgufValue GgufValue::real(GgufType type, double v) {
  GgufValue value;
  value.type_ = type;
  value.real_ = v;
  return value;
}

GgufValue GgufValue::boolean(bool v) { return integer(GgufType::BOOL, v ? 1 : 0); }

GgufValue GgufValue::str(std::string v) {
  GgufValue value;
  value.type_ = GgufType::STRING;
  value.string_ = std::move(v);
  return value;
}

GgufValue GgufValue::array(GgufType element_type, std::vector<GgufValue> items) {
  for (const auto& item : items) {
    if (item.type_ != element_type) {
      fail("array of {} holds a {} item", gguf_type_name(element_type), gguf_type_name(item.type_));
    }
  }
  GgufValue value;
  value.type_ = GgufType::ARRAY;
  value.element_type_ = element_type;
  value.items_ = std::move(items);
  return value;
}

GgufValue GgufValue::str_array(const std::vector<std::string>& items) {
  std::vector<GgufValue> values;
  values.reserve(items.size());
  for (const auto& s : items) values.push_back(str(s));
  return array(GgufType::STRING, std::move(values));
}

GgufValue GgufValue::f32_array(const std::vector<float>& items) {
  std::vector<GgufValue> values;
  values.reserve(items.size());
  for (float f : items) values.push_back(f32(f));
  return array(GgufType::FLOAT32, std::move(values));
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& items) {
  std::vector<GgufValue> values;
  values.reserve(items.size());
  for (int32_t v : items) values.push_back(i32(v));
  return array(GgufType::INT32, std::move(values));
}

bool GgufValue::is_integer() const {
  switch (type_) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::UINT16:
    case GgufType::INT16:
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::UINT64:
    case GgufType::INT64: return true;
    default: return false;
  }
}

uint64_t GgufValue::as_uint(std::string_view what) const {
  if (!is_integer()) fail("{} should be an unsigned integer but is a {}", what, gguf_type_name(type_));
  if (type_ == GgufType::UINT64) return static_cast<uint64_t>(int_);
  if (int_ < 0) fail("{} should be non-negative but is {}", what, int_);
  return static_cast<uint64_t>(int_);
}

int64_t GgufValue::as_int(std::string_view what) const {
  if (!is_integer()) fail("{} should be an integer but is a {}", what, gguf_type_name(type_));
  if (type_ == GgufType::UINT64 && int_ < 0) fail("{} is too large", what);
  return int_;
}

double GgufValue::as_double(std::string_view what) const {
  if (is_float()) return real_;
  if (type_ == GgufType::UINT64) return static_cast<double>(static_cast<uint64_t>(int_));
  if (is_integer()) return static_cast<double>(int_);
  fail("{} should be a number but is a {}", what, gguf_type_name(type_));
}

bool GgufValue::as_bool(std::string_view what) const {
  if (type_ != GgufType::BOOL) fail("{} should be a bool but is a {}", what, gguf_type_name(type_));
  return int_ != 0;
}

const std::string& GgufValue::as_string(std::string_view what) const {
  if (type_ != GgufType::STRING) fail("{} should be a string but is a {}", what, gguf_type_name(type_));
  return string_;
}

const std::vector<GgufValue>& GgufValue::as_array(std::string_view what) const {
  if (type_ != GgufType::ARRAY) fail("{} should be an array but is a {}", what, gguf_type_name(type_));
  return items_;
}

std::string GgufValue::to_display(size_t max_items) const {
  switch (type_) {
    case GgufType::STRING: {
      std::string s = string_.size() > 60 ? string_.substr(0, 57) + "..." : string_;
      for (char& c : s) {
        if (c == '\n') c = ' ';
      }
      return fmt::format("\"{}\"", s);
    }
    case GgufType::BOOL: return int_ != 0 ? "true" : "false";
    case GgufType::FLOAT32: return fmt::format("{}", static_cast<float>(real_));
    case GgufType::FLOAT64: return fmt::format("{}", real_);
    case GgufType::UINT64: return fmt::format("{}", static_cast<uint64_t>(int_));
    case GgufType::ARRAY: {
      std::string out = fmt::format("[{} x {}]", items_.size(), gguf_type_name(element_type_));
      if (!items_.empty()) {
        out += " {";
        for (size_t i = 0; i < items_.size() && i < max_items; ++i) {
          out += (i ? ", " : "") + items_[i].to_display(max_items);
        }
        out += items_.size() > max_items ? ", ...}" : "}";
      }
      return out;
    }
    default: return fmt::format("{}", int_);
  }
}

bool GgufValue::operator==(const GgufValue& other) const {
  if (type_ != other.type_) return false;
  if (type_ == GgufType::ARRAY) return element_type_ == other.element_type_ && items_ == other.items_;
  if (type_ == GgufType::STRING) return string_ == other.string_;
  if (is_float()) {
    // Compare bit patterns so NaN == NaN for round-trip checks.
    return std::memcmp(&real_, &other.real_, sizeof(double)) == 0;
  }
  return int_ == other.int_;
}

uint64_t GgufTensorInfo::rows() const {
  uint64_t rows = 1;
  for (size_t i = 1; i < shape.size(); ++i) rows *= shape[i];
  return rows;
}

}  // namespace rpu
