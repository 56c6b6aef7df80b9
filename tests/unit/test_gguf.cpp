// GGUF reader/writer tests: a writer -> reader -> writer round trip over every value type,
// byte-exact round trips of the real fixture files, one test per class of malformed file
// (each checking the error names the problem), every truncation of a small file, and
// seeded random byte flips. Malformed layouts are written byte by byte with `Bytes` below,
// never with GgufWriter, so a writer bug cannot hide a reader bug.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "io/gguf.h"

namespace rpu {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// Byte-level helpers
// ---------------------------------------------------------------------------------------

// Little-endian byte builder for hand-made files. Values are shifted out byte by byte so
// the files are the same whatever the host byte order.
struct Bytes {
  std::vector<uint8_t> b;

  Bytes& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Bytes& u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& raw(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& str(std::string_view s) { return u64(s.size()).raw(s); }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  Bytes& pad(size_t alignment) { return zeros((alignment - b.size() % alignment) % alignment); }

  // GGUF pieces.
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  }
  Bytes& key(std::string_view k, GgufType type) { return str(k).u32(static_cast<uint32_t>(type)); }
  Bytes& kv_u32(std::string_view k, uint32_t v) { return key(k, GgufType::UINT32).u32(v); }
  Bytes& tensor(std::string_view name, const std::vector<uint64_t>& dims, DType type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(static_cast<uint32_t>(type)).u64(offset);
  }
};

constexpr uint32_t u32_of(GgufType t) { return static_cast<uint32_t>(t); }

// A file with one tensor of `dims` x `type` at `offset`, followed by `data_bytes` of data
// (default alignment 32). The building block of most tensor-info tests.
std::vector<uint8_t> one_tensor_file(const std::vector<uint64_t>& dims, DType type, uint64_t offset,
                                     size_t data_bytes) {
  Bytes f;
  f.header(1, 0).tensor("w", dims, type, offset).pad(32).zeros(data_bytes);
  return f.b;
}

// A tensorless file whose only metadata is `general.alignment` written as `type` + payload.
std::vector<uint8_t> alignment_file(GgufType type, const Bytes& payload) {
  Bytes f;
  f.header(0, 1).key("general.alignment", type);
  f.b.insert(f.b.end(), payload.b.begin(), payload.b.end());
  return f.b;
}

GgufFile parse_bytes(std::vector<uint8_t> bytes, const std::string& name = "test.gguf") {
  return GgufFile::parse(MappedFile::from_bytes(std::move(bytes)), name);
}

// Passes when parsing throws rpu::Error whose message names the file and contains `word`
// (the part that says what is wrong). Any other outcome, including a different exception
// type, fails with the message so the reason is visible.
testing::AssertionResult Rejects(const std::vector<uint8_t>& bytes, std::string_view word) {
  try {
    parse_bytes(bytes, "bad.gguf");
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.find("bad.gguf") == std::string::npos) {
      return testing::AssertionFailure() << "message does not name the file: " << message;
    }
    if (message.find(word) == std::string::npos) {
      return testing::AssertionFailure() << "message lacks '" << word << "': " << message;
    }
    return testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw a non-rpu::Error: " << e.what();
  }
  return testing::AssertionFailure() << "parsed without error";
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint64_t le_u64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | b[at + i];
  return v;
}

// Deterministic pseudo-random bytes for tensor payloads.
std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& x : out) x = static_cast<uint8_t>(rng());
  return out;
}

// Where tensor data sits in the parse: in the data section, aligned, and inside the file.
void expect_tensor_placement(const GgufFile& f, const std::vector<uint8_t>& file_bytes) {
  EXPECT_EQ(f.data_offset() % f.alignment(), 0u);
  EXPECT_EQ(f.file_size(), file_bytes.size());
  for (const auto& t : f.tensors()) {
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.offset % f.alignment(), 0u);
    ASSERT_LE(f.data_offset() + t.offset + t.n_bytes, file_bytes.size());
    // The bytes behind t.data are the bytes of the file at data_offset + offset.
    ASSERT_NE(t.data, nullptr);
    EXPECT_EQ(std::memcmp(t.data, file_bytes.data() + f.data_offset() + t.offset, t.n_bytes), 0);
  }
}

void expect_same_content(const GgufFile& a, const GgufFile& b) {
  ASSERT_EQ(a.metadata().size(), b.metadata().size());
  for (size_t i = 0; i < a.metadata().size(); ++i) {
    EXPECT_EQ(a.metadata()[i].first, b.metadata()[i].first);
    EXPECT_TRUE(a.metadata()[i].second == b.metadata()[i].second) << a.metadata()[i].first;
  }
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const auto& x = a.tensors()[i];
    const auto& y = b.tensors()[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.shape, y.shape);
    EXPECT_EQ(x.type, y.type);
    EXPECT_EQ(x.offset, y.offset);
    ASSERT_EQ(x.n_bytes, y.n_bytes);
    EXPECT_EQ(std::memcmp(x.data, y.data, x.n_bytes), 0) << x.name;
  }
}

std::string temp_file(const std::string& stem) {
  return (fs::temp_directory_path() / (stem + "." + std::to_string(::getpid()) + ".gguf")).string();
}

// ---------------------------------------------------------------------------------------
// Round trip of a writer-built file with every value type
// ---------------------------------------------------------------------------------------

struct TensorSpec {
  std::string name;
  DType type;
  std::vector<uint64_t> shape;
  uint64_t expected_bytes;  // worked out by hand from the ggml block layouts
};

// Every scalar type at its extremes, every array element type, nesting, empties, unicode,
// embedded NUL, and a custom alignment. Insertion order is the expected file order.
std::vector<std::pair<std::string, GgufValue>> rich_metadata() {
  using V = GgufValue;
  const float nan32 = std::numeric_limits<float>::quiet_NaN();
  const double inf64 = std::numeric_limits<double>::infinity();
  std::vector<std::pair<std::string, GgufValue>> m = {
      {"general.alignment", V::u32(64)},
      {"general.architecture", V::str("llama")},
      {"t.u8", V::u8(255)},
      {"t.i8", V::i8(-128)},
      {"t.u16", V::u16(65535)},
      {"t.i16", V::i16(-32768)},
      {"t.u32", V::u32(0xffffffffu)},
      {"t.i32", V::i32(std::numeric_limits<int32_t>::min())},
      {"t.u64", V::u64(std::numeric_limits<uint64_t>::max())},
      {"t.i64", V::i64(std::numeric_limits<int64_t>::min())},
      {"t.f32", V::f32(-1.5e-39f)},  // a float denormal
      {"t.f32.nan", V::f32(nan32)},
      {"t.f32.negzero", V::f32(-0.0f)},
      {"t.f64", V::f64(1e300)},
      {"t.f64.inf", V::f64(-inf64)},
      {"t.bool.true", V::boolean(true)},
      {"t.bool.false", V::boolean(false)},
      {"t.str", V::str("hello")},
      {"t.str.empty", V::str("")},
      {"t.str.unicode", V::str("h\xc3\xa9llo \xe2\x96\x81w\xc3\xb6rld \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\xa6\x99")},
      {"t.str.nul", V::str(std::string("a\0b", 3))},  // GGUF strings are counted, not NUL-ended
      {"t.str.long", V::str(std::string(5000, 'x'))},
      {"\xe2\x96\x81key.unicode", V::u8(7)},  // keys are strings too
      {"t.arr.u8", V::array(GgufType::UINT8, {V::u8(0), V::u8(255)})},
      {"t.arr.i8", V::array(GgufType::INT8, {V::i8(-1), V::i8(127)})},
      {"t.arr.u16", V::array(GgufType::UINT16, {V::u16(1), V::u16(65535)})},
      {"t.arr.i16", V::array(GgufType::INT16, {V::i16(-2), V::i16(300)})},
      {"t.arr.u32", V::array(GgufType::UINT32, {V::u32(4000000000u)})},
      {"t.arr.i32", V::i32_array({-7, 0, 7})},
      {"t.arr.u64", V::array(GgufType::UINT64, {V::u64(1ull << 63), V::u64(0)})},
      {"t.arr.i64", V::array(GgufType::INT64, {V::i64(-(1ll << 40))})},
      {"t.arr.f32", V::f32_array({0.5f, -2.25f, 1e30f})},
      {"t.arr.f64", V::array(GgufType::FLOAT64, {V::f64(3.141592653589793), V::f64(-0.0)})},
      {"t.arr.bool", V::array(GgufType::BOOL, {V::boolean(true), V::boolean(false), V::boolean(true)})},
      {"t.arr.str", V::str_array({"a", "", "\xe2\x96\x81the", std::string(1, '\0')})},
      {"t.arr.empty.u8", V::array(GgufType::UINT8, {})},
      {"t.arr.empty.str", V::array(GgufType::STRING, {})},
      {"t.arr.empty.arr", V::array(GgufType::ARRAY, {})},
      {"t.arr.nested", V::array(GgufType::ARRAY, {V::i32_array({1, 2}), V::i32_array({}), V::i32_array({3})})},
      // Inner arrays of one outer array may differ in element type: each declares its own.
      {"t.arr.nested.mixed", V::array(GgufType::ARRAY, {V::str_array({"x", "y"}), V::f32_array({1.0f})})},
      {"t.arr.nested.deep",
       V::array(GgufType::ARRAY, {V::array(GgufType::ARRAY, {V::array(GgufType::ARRAY, {V::str_array({"deep"})})})})},
  };
  return m;
}

std::vector<TensorSpec> rich_tensors() {
  return {
      {"f32.vec", DType::F32, {3}, 3 * 4},
      {"f16.mat", DType::F16, {5, 3}, 15 * 2},
      {"q8_0.cube", DType::Q8_0, {64, 2, 3}, 2 * 34 * 6},   // 2 blocks of 34 bytes per row, 6 rows
      {"q4_k.4d", DType::Q4_K, {256, 1, 2, 2}, 144 * 4},    // one 144-byte super-block per row
      {"i8.tail", DType::I8, {7}, 7},                       // the last tensor ends mid-alignment
  };
}

std::vector<uint8_t> rich_file() {
  GgufWriter w;
  for (const auto& [k, v] : rich_metadata()) w.set(k, v);
  uint32_t seed = 1;
  for (const auto& t : rich_tensors()) w.add_tensor(t.name, t.type, t.shape, random_bytes(t.expected_bytes, seed++));
  return w.to_bytes();
}

TEST(GgufRoundTrip, EveryValueTypeAndTensorLayout) {
  const std::vector<uint8_t> bytes = rich_file();
  const GgufFile f = parse_bytes(bytes);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);

  const auto expected = rich_metadata();
  ASSERT_EQ(f.metadata().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& [key, value] = f.metadata()[i];
    SCOPED_TRACE(expected[i].first);
    EXPECT_EQ(key, expected[i].first);
    EXPECT_EQ(value.type(), expected[i].second.type());
    EXPECT_TRUE(value == expected[i].second) << value.to_display() << " vs " << expected[i].second.to_display();
  }
  // Spot checks through the typed accessors, at the edges of each type.
  EXPECT_EQ(f.require("t.u64").as_uint(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.require("t.i64").as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.require("t.i8").as_int(), -128);
  EXPECT_EQ(f.require("t.u32").as_uint(), 0xffffffffu);
  EXPECT_TRUE(std::isnan(f.require("t.f32.nan").as_double()));
  EXPECT_TRUE(std::signbit(f.require("t.f32.negzero").as_double()));
  EXPECT_EQ(f.require("t.f32").as_double(), static_cast<double>(-1.5e-39f));
  EXPECT_TRUE(f.require("t.bool.true").as_bool());
  EXPECT_EQ(f.require("t.str.nul").as_string(), std::string("a\0b", 3));
  EXPECT_EQ(f.require("t.str.empty").as_string(), "");
  EXPECT_EQ(f.get_string("t.str.unicode"), "h\xc3\xa9llo \xe2\x96\x81w\xc3\xb6rld \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\xa6\x99");
  EXPECT_EQ(f.require("t.arr.str").as_array().at(3).as_string(), std::string(1, '\0'));
  EXPECT_EQ(f.require("t.arr.empty.arr").element_type(), GgufType::ARRAY);
  EXPECT_TRUE(f.require("t.arr.empty.arr").as_array().empty());
  const auto& deep = f.require("t.arr.nested.deep").as_array()[0].as_array()[0].as_array()[0].as_array();
  EXPECT_EQ(deep.at(0).as_string(), "deep");

  const auto specs = rich_tensors();
  ASSERT_EQ(f.tensors().size(), specs.size());
  uint32_t seed = 1;
  uint64_t previous_end = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    SCOPED_TRACE(specs[i].name);
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.shape, specs[i].shape);
    EXPECT_EQ(t.type, specs[i].type);
    EXPECT_EQ(t.n_bytes, specs[i].expected_bytes);
    uint64_t n = 1;
    for (uint64_t d : specs[i].shape) n *= d;
    EXPECT_EQ(t.n_elements, n);
    EXPECT_EQ(t.rows(), n / specs[i].shape[0]);
    EXPECT_EQ(t.offset % 64, 0u);
    EXPECT_GE(t.offset, previous_end);  // laid out in order, without overlap
    previous_end = t.offset + t.n_bytes;
    EXPECT_EQ(f.find_tensor(t.name), &t);
    const auto data = random_bytes(specs[i].expected_bytes, seed++);
    EXPECT_EQ(std::memcmp(t.data, data.data(), data.size()), 0);
  }
  expect_tensor_placement(f, bytes);

  // Writing what was read gives back the same bytes, in memory and on disk.
  GgufWriter again;
  again.copy_from(f);
  EXPECT_EQ(again.to_bytes(), bytes);
  const std::string path = temp_file("rpu_test_gguf_roundtrip");
  again.write(path);
  EXPECT_EQ(read_bytes(path), bytes);
  const GgufFile reopened = GgufFile::open(path);
  EXPECT_EQ(reopened.path(), path);
  expect_same_content(f, reopened);
  fs::remove(path);
}

TEST(GgufRoundTrip, HeaderOnlyFile) {
  // No metadata and no tensors: 24 bytes, no padding (there is no data section to align).
  GgufWriter w;
  const auto bytes = w.to_bytes();
  EXPECT_EQ(bytes, (Bytes{}.header(0, 0).b));
  const GgufFile f = parse_bytes(bytes);
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.alignment(), 32u);
}

TEST(GgufRoundTrip, Version2IsRead) {
  // v2 and v3 share the layout (v3 only added big-endian variants).
  Bytes f;
  f.header(1, 1, 2).kv_u32("general.alignment", 32).tensor("w", {4}, DType::F32, 0).pad(32).zeros(16);
  const GgufFile g = parse_bytes(f.b);
  EXPECT_EQ(g.version(), 2u);
  ASSERT_EQ(g.tensors().size(), 1u);
  EXPECT_EQ(g.tensors()[0].n_bytes, 16u);
}

TEST(GgufRoundTrip, WriteFailureNamesThePath) {
  GgufWriter w;
  const std::string path = "/nonexistent-dir-rpu/out.gguf";
  try {
    w.write(path);
    FAIL() << "write succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(GgufAccessors, MissingAndMistypedKeysAreNamed) {
  const GgufFile f = parse_bytes(rich_file());
  EXPECT_EQ(f.find("no.such.key"), nullptr);
  EXPECT_EQ(f.find_tensor("no.such.tensor"), nullptr);
  EXPECT_EQ(f.get_uint("no.such.key", 42), 42u);
  EXPECT_EQ(f.get_string("no.such.key", "fallback"), "fallback");
  try {
    f.require("no.such.key");
    FAIL() << "require succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.key"), std::string::npos) << e.what();
  }
  try {
    f.get_uint("t.str", 0);
    FAIL() << "get_uint of a string succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.str"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------
// Real files
// ---------------------------------------------------------------------------------------

std::vector<std::string> fixture_ggufs() {
  const fs::path root = RPU_FIXTURES_DIR;
  std::vector<std::string> files = {(root / "stories260K" / "stories260K.gguf").string()};
  std::vector<std::string> vocab;
  if (fs::is_directory(root / "vocab")) {
    for (const auto& entry : fs::directory_iterator(root / "vocab")) {
      if (entry.path().extension() == ".gguf") vocab.push_back(entry.path().string());
    }
  }
  std::sort(vocab.begin(), vocab.end());
  files.insert(files.end(), vocab.begin(), vocab.end());
  return files;
}

// llama.cpp's ggml-vocab-dbrx.gguf writes `general.file_type` (u32 1) twice. The reader
// keeps the first and drops the identical repeat, so the rewrite is the original minus the
// repeated 33-byte record, with the metadata count one lower.
constexpr const char* kDbrx = "ggml-vocab-dbrx.gguf";

TEST(GgufFixtures, EveryFixtureParsesAndRoundTripsByteForByte) {
  const auto files = fixture_ggufs();
  ASSERT_GE(files.size(), 2u) << "no vocab fixtures under " << RPU_FIXTURES_DIR;
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    ASSERT_TRUE(fs::exists(path));
    const auto original = read_bytes(path);
    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.file_size(), original.size());
    EXPECT_FALSE(f.get_string("general.architecture").empty());
    const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->element_type(), GgufType::STRING);
    EXPECT_GT(tokens->as_array().size(), 0u);
    for (const auto& [k, v] : f.metadata()) EXPECT_FALSE(v.to_display().empty()) << k;
    expect_tensor_placement(f, original);

    GgufWriter w;
    w.copy_from(f);
    const auto rewritten = w.to_bytes();
    const uint64_t header_kv = le_u64(original, 16);
    if (header_kv != f.metadata().size()) {
      // Only the known repeated key may make the counts differ (checked exactly below).
      EXPECT_EQ(fs::path(path).filename().string(), std::string(kDbrx));
      EXPECT_EQ(header_kv, f.metadata().size() + 1);
      continue;
    }
    ASSERT_EQ(rewritten.size(), original.size());
    EXPECT_TRUE(rewritten == original) << "first difference at byte "
                                       << (std::mismatch(rewritten.begin(), rewritten.end(), original.begin()).first -
                                           rewritten.begin());
  }
}

TEST(GgufFixtures, Stories260KContents) {
  const GgufFile f = GgufFile::open(std::string(RPU_FIXTURES_DIR) + "/stories260K/stories260K.gguf");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.require("tokenizer.ggml.tokens").as_array().size(), 512u);
  ASSERT_EQ(f.tensors().size(), 48u);  // per the fixture README
  for (const auto& t : f.tensors()) EXPECT_EQ(t.type, DType::F32) << t.name;
  // The tensors tile the data section: the last one ends where the file does.
  uint64_t end = 0;
  for (const auto& t : f.tensors()) end = std::max(end, t.offset + t.n_bytes);
  EXPECT_EQ(f.data_offset() + end, f.file_size());
}

TEST(GgufFixtures, DbrxRepeatedIdenticalKeyIsKeptOnce) {
  const std::string path = std::string(RPU_FIXTURES_DIR) + "/vocab/" + kDbrx;
  const auto original = read_bytes(path);
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(le_u64(original, 16), 25u);
  EXPECT_EQ(f.metadata().size(), 24u);
  size_t count = 0;
  for (const auto& [k, v] : f.metadata()) count += k == "general.file_type";
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(f.get_uint("general.file_type", 0), 1u);

  // The record as it appears in the file: key, type u32, value 1.
  const auto record = Bytes{}.kv_u32("general.file_type", 1).b;
  std::vector<size_t> at;
  for (auto it = original.begin();
       (it = std::search(it, original.end(), record.begin(), record.end())) != original.end(); ++it) {
    at.push_back(static_cast<size_t>(it - original.begin()));
  }
  ASSERT_EQ(at.size(), 2u);
  std::vector<uint8_t> expected = original;
  expected.erase(expected.begin() + static_cast<std::ptrdiff_t>(at[1]),
                 expected.begin() + static_cast<std::ptrdiff_t>(at[1] + record.size()));
  expected[16] = 24;  // metadata count, low byte (was 25)

  GgufWriter w;
  w.copy_from(f);
  EXPECT_TRUE(w.to_bytes() == expected);
}

// --no-mmap: the file read into memory parses to the same tensors with equal bytes (in memory
// of its own), and a missing path or a directory is refused naming the path, as when mapped.
TEST(GgufOpen, ReadIntoMemoryMatchesTheMapping) {
  const std::string path = std::string(RPU_FIXTURES_DIR) + "/stories260K/stories260K.gguf";
  const GgufFile mapped = GgufFile::open(path);
  const GgufFile read = GgufFile::parse(MappedFile::open(path, MappedFile::Load::kRead), path);
  ASSERT_EQ(read.file_size(), mapped.file_size());
  EXPECT_EQ(read.data_offset(), mapped.data_offset());
  ASSERT_EQ(read.tensors().size(), mapped.tensors().size());
  for (size_t i = 0; i < read.tensors().size(); ++i) {
    const auto& r = read.tensors()[i];
    const auto& m = mapped.tensors()[i];
    EXPECT_EQ(r.name, m.name);
    EXPECT_EQ(r.offset, m.offset);
    ASSERT_EQ(r.n_bytes, m.n_bytes);
    EXPECT_NE(r.data, m.data);
    EXPECT_EQ(std::memcmp(r.data, m.data, r.n_bytes), 0) << r.name;
  }
  for (const std::string& bad : {std::string("/nonexistent-dir-rpu/missing.gguf"), fs::temp_directory_path().string()}) {
    try {
      MappedFile::open(bad, MappedFile::Load::kRead);
      FAIL() << "read " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(GgufOpen, MissingPathIsNamed) {
  const std::string path = "/nonexistent-dir-rpu/missing.gguf";
  try {
    GgufFile::open(path);
    FAIL() << "opened a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(GgufOpen, DirectoryIsNamed) {
  const std::string path = fs::temp_directory_path().string();
  try {
    GgufFile::open(path);
    FAIL() << "opened a directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(GgufOpen, EmptyFileIsNotGguf) {
  const std::string path = temp_file("rpu_test_gguf_empty");
  { std::ofstream(path, std::ios::binary); }
  try {
    GgufFile::open(path);
    FAIL() << "opened an empty file";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("magic"), std::string::npos) << message;
  }
  fs::remove(path);
}

// ---------------------------------------------------------------------------------------
// Malformed files: one test per failure class
// ---------------------------------------------------------------------------------------

TEST(GgufMalformed, BadMagic) {
  Bytes f;
  f.raw("GGUX").u32(3).u64(0).u64(0);
  EXPECT_TRUE(Rejects(f.b, "magic"));
  EXPECT_TRUE(Rejects({}, "magic"));
  EXPECT_TRUE(Rejects({'G', 'G', 'U'}, "magic"));
  EXPECT_TRUE(Rejects({'g', 'g', 'u', 'f', 3, 0, 0, 0}, "magic"));
}

TEST(GgufMalformed, Version1IsObsolete) {
  EXPECT_TRUE(Rejects(Bytes{}.header(0, 0, 1).b, "version 1"));
}

TEST(GgufMalformed, UnknownVersion) {
  for (uint32_t v : {0u, 4u, 99u, 0x00010000u, 0xffffffffu}) {
    SCOPED_TRACE(v);
    EXPECT_TRUE(Rejects(Bytes{}.header(0, 0, v).b, "unsupported GGUF version"));
  }
}

TEST(GgufMalformed, BigEndian) {
  // A big-endian v3 file: same magic bytes, every number byte-swapped.
  for (uint32_t v : {0x01000000u, 0x02000000u, 0x03000000u}) {
    Bytes f;
    f.raw("GGUF").u32(v).zeros(16);
    EXPECT_TRUE(Rejects(f.b, "big-endian"));
  }
}

TEST(GgufMalformed, HeaderTruncatedBeforeCounts) {
  EXPECT_TRUE(Rejects(Bytes{}.raw("GGUF").u32(3).b, "truncated"));
  EXPECT_TRUE(Rejects(Bytes{}.raw("GGUF").u32(3).u64(0).u32(0).b, "truncated"));
}

TEST(GgufMalformed, TensorCountLargerThanFile) {
  for (uint64_t n : {uint64_t{1000}, uint64_t{1} << 40, std::numeric_limits<uint64_t>::max()}) {
    EXPECT_TRUE(Rejects(Bytes{}.header(n, 0).zeros(64).b, "tensor count"));
  }
}

TEST(GgufMalformed, MetadataCountLargerThanFile) {
  for (uint64_t n : {uint64_t{100}, uint64_t{1} << 62, std::numeric_limits<uint64_t>::max()}) {
    EXPECT_TRUE(Rejects(Bytes{}.header(0, n).kv_u32("a", 1).b, "metadata count"));
  }
}

TEST(GgufMalformed, StringLengthPastEnd) {
  // A key, a string value and a tensor name whose declared length runs past the end.
  EXPECT_TRUE(Rejects(Bytes{}.header(0, 1).u64(1000).raw("short").zeros(16).b, "truncated"));
  Bytes value;
  value.header(0, 1).key("k", GgufType::STRING).u64(std::numeric_limits<uint64_t>::max()).raw("abc");
  EXPECT_TRUE(Rejects(value.b, "truncated"));
  Bytes in_array;
  in_array.header(0, 1).key("k", GgufType::ARRAY).u32(u32_of(GgufType::STRING)).u64(2).str("ok").u64(1ull << 62);
  EXPECT_TRUE(Rejects(in_array.b, "truncated"));
  Bytes tensor_name;
  tensor_name.header(1, 0).u64(500).raw("w").zeros(40);
  EXPECT_TRUE(Rejects(tensor_name.b, "truncated"));
}

TEST(GgufMalformed, UnknownValueType) {
  for (uint32_t t : {13u, 100u, 0xffffffffu}) {
    Bytes f;
    f.header(0, 1).str("k").u32(t).u64(0);
    EXPECT_TRUE(Rejects(f.b, "unknown value type"));
  }
}

TEST(GgufMalformed, UnknownArrayElementType) {
  Bytes f;
  f.header(0, 1).key("k", GgufType::ARRAY).u32(13).u64(1).u64(0);
  EXPECT_TRUE(Rejects(f.b, "unknown array element type"));
  // Also inside a nested array.
  Bytes nested;
  nested.header(0, 1).key("k", GgufType::ARRAY).u32(u32_of(GgufType::ARRAY)).u64(1).u32(0x7fffffff).u64(0);
  EXPECT_TRUE(Rejects(nested.b, "unknown array element type"));
}

TEST(GgufMalformed, BoolByteNotZeroOrOne) {
  EXPECT_TRUE(Rejects(Bytes{}.header(0, 1).key("k", GgufType::BOOL).u8(2).b, "bool"));
  EXPECT_TRUE(Rejects(Bytes{}.header(0, 1).key("k", GgufType::BOOL).u8(0xff).b, "bool"));
  Bytes in_array;
  in_array.header(0, 1).key("k", GgufType::ARRAY).u32(u32_of(GgufType::BOOL)).u64(3).u8(1).u8(0).u8(7);
  EXPECT_TRUE(Rejects(in_array.b, "bool"));
}

TEST(GgufMalformed, ArrayCountAbsurd) {
  // Counts that the remaining bytes cannot hold are rejected before anything is allocated.
  for (GgufType element : {GgufType::UINT8, GgufType::UINT64, GgufType::STRING, GgufType::ARRAY}) {
    for (uint64_t count : {uint64_t{1} << 20, uint64_t{1} << 60, std::numeric_limits<uint64_t>::max()}) {
      Bytes f;
      f.header(0, 1).key("k", GgufType::ARRAY).u32(u32_of(element)).u64(count).zeros(64);
      EXPECT_TRUE(Rejects(f.b, "array items")) << gguf_type_name(element) << " x " << count;
    }
  }
}

Bytes nested_arrays(int levels) {
  // `levels` arrays, each holding the next; the innermost holds one u8.
  Bytes f;
  f.header(0, 1).key("deep", GgufType::ARRAY);
  for (int i = 1; i < levels; ++i) f.u32(u32_of(GgufType::ARRAY)).u64(1);
  f.u32(u32_of(GgufType::UINT8)).u64(1).u8(42);
  return f;
}

TEST(GgufMalformed, ArraysNestedTooDeep) {
  // Eight levels are accepted (the limit), nine are not.
  const GgufFile ok = parse_bytes(nested_arrays(8).b);
  const GgufValue* v = &ok.require("deep");
  for (int i = 0; i < 8; ++i) v = &v->as_array().at(0);
  EXPECT_EQ(v->as_uint(), 42u);
  EXPECT_TRUE(Rejects(nested_arrays(9).b, "deeper"));
  EXPECT_TRUE(Rejects(nested_arrays(1000).b, "deeper"));
}

TEST(GgufMalformed, DuplicateKey) {
  // Same key, different values: ambiguous.
  EXPECT_TRUE(Rejects(Bytes{}.header(0, 2).kv_u32("k", 1).kv_u32("k", 2).b, "duplicate metadata key 'k'"));
  // Same key and number but a different type: still ambiguous.
  Bytes types;
  types.header(0, 2).kv_u32("k", 1).key("k", GgufType::INT32).u32(1);
  EXPECT_TRUE(Rejects(types.b, "duplicate metadata key 'k'"));
  // A conflicting general.alignment must not be resolved silently either.
  EXPECT_TRUE(Rejects(Bytes{}.header(0, 2).kv_u32("general.alignment", 32).kv_u32("general.alignment", 64).b,
                      "duplicate"));
}

TEST(GgufMalformed, IdenticalRepeatedKeyIsKeptOnce) {
  // Tolerated because a real file (llama.cpp's ggml-vocab-dbrx.gguf) does it; see the reader.
  Bytes f;
  f.header(0, 3).kv_u32("k", 1).kv_u32("other", 5).kv_u32("k", 1);
  const GgufFile g = parse_bytes(f.b);
  ASSERT_EQ(g.metadata().size(), 2u);
  EXPECT_EQ(g.metadata()[0].first, "k");
  EXPECT_EQ(g.metadata()[1].first, "other");
}

TEST(GgufMalformed, EmptyKey) {
  EXPECT_TRUE(Rejects(Bytes{}.header(0, 1).kv_u32("", 1).b, "empty key"));
}

TEST(GgufMalformed, DuplicateTensorName) {
  Bytes f;
  f.header(2, 0).tensor("w", {8}, DType::F32, 0).tensor("w", {8}, DType::F32, 32).pad(32).zeros(64);
  EXPECT_TRUE(Rejects(f.b, "duplicate tensor name 'w'"));
}

TEST(GgufMalformed, EmptyTensorName) {
  EXPECT_TRUE(Rejects(Bytes{}.header(1, 0).tensor("", {8}, DType::F32, 0).pad(32).zeros(32).b, "empty name"));
}

TEST(GgufMalformed, DimensionCount) {
  // n_dims 0 and 5 (ggml has at most 4), written by hand since the tensor helper needs dims.
  for (uint32_t n_dims : {0u, 5u, 0xffffffffu}) {
    Bytes f;
    f.header(1, 0).str("w").u32(n_dims);
    for (uint32_t d = 0; d < std::min(n_dims, 5u); ++d) f.u64(1);
    f.u32(u32_of(GgufType::UINT8)).u64(0).pad(32).zeros(32);
    EXPECT_TRUE(Rejects(f.b, "dimensions")) << n_dims;
  }
  // Four dimensions are fine.
  EXPECT_NO_THROW(parse_bytes(one_tensor_file({2, 1, 1, 3}, DType::F32, 0, 24)));
}

TEST(GgufMalformed, ZeroDimension) {
  EXPECT_TRUE(Rejects(one_tensor_file({0}, DType::F32, 0, 32), "size 0"));
  EXPECT_TRUE(Rejects(one_tensor_file({4, 3, 0}, DType::F32, 0, 64), "size 0"));
}

TEST(GgufMalformed, ElementCountOverflow) {
  EXPECT_TRUE(Rejects(one_tensor_file({1ull << 40, 1ull << 40}, DType::F32, 0, 32), "overflow"));
  EXPECT_TRUE(Rejects(one_tensor_file({1ull << 32, 1ull << 32, 1ull << 32}, DType::I8, 0, 32), "overflow"));
  // A single dimension above INT64_MAX is as absurd as an overflowing product.
  EXPECT_TRUE(Rejects(one_tensor_file({1ull << 63}, DType::I8, 0, 32), "dimension 0"));
  // Elements fit in 63 bits but the bytes do not: 2^62 F32 values need 2^64 bytes; the
  // byte count must not wrap around to something small.
  EXPECT_TRUE(Rejects(one_tensor_file({1ull << 62}, DType::F32, 0, 32), "overflow"));
}

TEST(GgufMalformed, UnknownTensorType) {
  // 4 and 5 were Q4_2/Q4_3, removed from ggml; 31 is unassigned; 1000 is nonsense.
  for (uint32_t id : {4u, 5u, 31u, 1000u, 0xffffffffu}) {
    Bytes f;
    f.header(1, 0).str("w").u32(1).u64(32).u32(id).u64(0).pad(32).zeros(128);
    EXPECT_TRUE(Rejects(f.b, "unknown type id")) << id;
  }
}

TEST(GgufMalformed, RowNotWholeBlocks) {
  EXPECT_TRUE(Rejects(one_tensor_file({33, 2}, DType::Q4_0, 0, 1024), "blocks"));
  EXPECT_TRUE(Rejects(one_tensor_file({128}, DType::Q4_K, 0, 1024), "blocks"));
  // The block count is taken per row: 16 x 2 Q4_0 has 32 values but no whole row.
  EXPECT_TRUE(Rejects(one_tensor_file({16, 2}, DType::Q4_0, 0, 1024), "blocks"));
  EXPECT_NO_THROW(parse_bytes(one_tensor_file({32, 2}, DType::Q4_0, 0, 36)));
}

TEST(GgufMalformed, OffsetNotAligned) {
  EXPECT_TRUE(Rejects(one_tensor_file({4}, DType::F32, 16, 64), "not aligned"));
  // With a custom alignment, an offset aligned to the default 32 is not enough.
  Bytes f;
  f.header(1, 1).kv_u32("general.alignment", 64).tensor("w", {4}, DType::F32, 32).pad(64).zeros(128);
  EXPECT_TRUE(Rejects(f.b, "not aligned to 64"));
}

TEST(GgufMalformed, TensorDataPastEnd) {
  EXPECT_TRUE(Rejects(one_tensor_file({8}, DType::F32, 0, 31), "past the end"));   // one byte short
  EXPECT_TRUE(Rejects(one_tensor_file({8}, DType::F32, 64, 64), "past the end"));  // offset inside, end outside
  EXPECT_TRUE(Rejects(one_tensor_file({8}, DType::F32, 4096, 64), "past the end"));
  // Offsets near 2^64 must not wrap around when the size is added.
  EXPECT_TRUE(Rejects(one_tensor_file({8}, DType::F32, ~uint64_t{31}, 64), "past the end"));
  // The header ends and the padding to the data section is missing.
  Bytes no_data;
  no_data.header(1, 0).tensor("w", {8}, DType::F32, 0);
  EXPECT_TRUE(Rejects(no_data.b, "truncated"));
  EXPECT_NO_THROW(parse_bytes(one_tensor_file({8}, DType::F32, 0, 32)));
}

TEST(GgufMalformed, OverlappingTensors) {
  Bytes f;  // a: [0, 64), b: [32, 64) -- listed in reverse order, so sorting matters
  f.header(2, 0).tensor("b", {8}, DType::F32, 32).tensor("a", {16}, DType::F32, 0).pad(32).zeros(64);
  EXPECT_TRUE(Rejects(f.b, "overlap"));
  Bytes same;  // the same offset twice
  same.header(2, 0).tensor("a", {8}, DType::F32, 0).tensor("b", {8}, DType::F32, 0).pad(32).zeros(64);
  EXPECT_TRUE(Rejects(same.b, "overlap"));
  Bytes touching;  // adjacent is fine
  touching.header(2, 0).tensor("a", {8}, DType::F32, 0).tensor("b", {8}, DType::F32, 32).pad(32).zeros(64);
  EXPECT_NO_THROW(parse_bytes(touching.b));
}

TEST(GgufMalformed, AlignmentZeroOrNotPowerOfTwo) {
  for (uint32_t a : {0u, 3u, 48u, 1u << 21, 0x80000000u}) {
    EXPECT_TRUE(Rejects(alignment_file(GgufType::UINT32, Bytes{}.u32(a)), "general.alignment")) << a;
  }
  EXPECT_TRUE(Rejects(alignment_file(GgufType::UINT32, Bytes{}.u32(0)), "power of two"));
  EXPECT_NO_THROW(parse_bytes(alignment_file(GgufType::UINT32, Bytes{}.u32(1))));
}

TEST(GgufMalformed, AlignmentNotU32) {
  EXPECT_TRUE(Rejects(alignment_file(GgufType::UINT64, Bytes{}.u64(32)), "must be a u32"));
  EXPECT_TRUE(Rejects(alignment_file(GgufType::INT32, Bytes{}.u32(32)), "must be a u32"));
  EXPECT_TRUE(Rejects(alignment_file(GgufType::STRING, Bytes{}.str("32")), "must be a u32"));
  EXPECT_TRUE(
      Rejects(alignment_file(GgufType::ARRAY, Bytes{}.u32(u32_of(GgufType::UINT32)).u64(1).u32(32)), "must be a u32"));
}

// ---------------------------------------------------------------------------------------
// Truncations and random corruption
// ---------------------------------------------------------------------------------------

// A small file with a bit of everything; its last tensor ends 22 bytes before the final
// padding, so the file is complete (and valid) from data_offset + end of that tensor on.
std::vector<uint8_t> small_file() {
  GgufWriter w;
  w.set("general.architecture", GgufValue::str("llama"));
  w.set("n", GgufValue::u32(7));
  w.set("flag", GgufValue::boolean(true));
  w.set("tokens", GgufValue::str_array({"a", "", "\xe2\x96\x81" "b"}));
  w.set("nested", GgufValue::array(GgufType::ARRAY, {GgufValue::i32_array({1, 2}), GgufValue::f32_array({})}));
  w.add_tensor("a", DType::F32, {3}, random_bytes(12, 7));
  w.add_tensor("b", DType::F16, {5}, random_bytes(10, 8));
  return w.to_bytes();
}

// Every truncation error says what ran out; these are the phrasings for that.
bool names_a_truncation(const std::string& message) {
  for (const char* word : {"truncated", "magic", "can hold", "past the end"}) {
    if (message.find(word) != std::string::npos) return true;
  }
  return false;
}

void check_every_prefix(const std::vector<uint8_t>& full) {
  const GgufFile whole = parse_bytes(full);
  // The smallest complete file: the data section up to the end of the last tensor. The
  // padding after the last tensor carries nothing and may be missing.
  uint64_t complete = whole.data_offset();
  for (const auto& t : whole.tensors()) complete = std::max(complete, whole.data_offset() + t.offset + t.n_bytes);
  if (whole.tensors().empty()) complete = full.size();  // a tensorless file ends with its header
  int valid = 0;
  for (size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE("prefix of " + std::to_string(n) + " bytes");
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      const GgufFile g = parse_bytes(std::move(prefix));
      EXPECT_GE(n, complete) << "an incomplete prefix parsed";
      expect_same_content(whole, g);
      ++valid;
    } catch (const Error& e) {
      EXPECT_LT(n, complete) << "a complete prefix was rejected: " << e.what();
      EXPECT_TRUE(names_a_truncation(e.what())) << e.what();
    }
  }
  EXPECT_EQ(valid, static_cast<int>(full.size() - complete));
}

TEST(GgufCorruption, EveryTruncationIsRejected) {
  const auto full = small_file();
  ASSERT_LT(full.size(), 1024u);
  check_every_prefix(full);
}

TEST(GgufCorruption, EveryTruncationOfATensorlessFileIsRejected) {
  GgufWriter w;
  w.set("tokenizer.ggml.tokens", GgufValue::str_array({"x", "yy", ""}));
  w.set("tokenizer.ggml.scores", GgufValue::f32_array({0.f, -1.f, 2.f}));
  check_every_prefix(w.to_bytes());
}

TEST(GgufCorruption, RandomByteFlipsParseOrThrow) {
  const auto valid = rich_file();
  const GgufFile reference = parse_bytes(valid);
  const uint64_t header_size = reference.data_offset();
  std::mt19937_64 rng(20240611);
  int parsed = 0;
  int rejected = 0;
  for (int iteration = 0; iteration < 4000; ++iteration) {
    std::vector<uint8_t> bytes = valid;
    // Mostly corrupt the header (the data section accepts any bytes), 1 to 4 bytes at a
    // time; sometimes write 0x00 / 0xff, which make counts and lengths small or huge.
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const uint64_t limit = rng() % 8 == 0 ? bytes.size() : header_size;
      const size_t at = static_cast<size_t>(rng() % limit);
      switch (rng() % 4) {
        case 0: bytes[at] = 0x00; break;
        case 1: bytes[at] = 0xff; break;
        default: bytes[at] ^= static_cast<uint8_t>(1 + rng() % 255); break;
      }
    }
    try {
      const GgufFile g = parse_bytes(bytes);
      ++parsed;
      // Whatever parsed must be self-consistent: data in bounds, values displayable.
      expect_tensor_placement(g, bytes);
      for (const auto& [k, v] : g.metadata()) (void)v.to_display();
    } catch (const Error&) {
      ++rejected;
    }
    if (testing::Test::HasFatalFailure()) return;
  }
  // Both outcomes occur, or the corruption is not exercising anything.
  EXPECT_GT(parsed, 100);
  EXPECT_GT(rejected, 100);
}

}  // namespace
}  // namespace rpu
