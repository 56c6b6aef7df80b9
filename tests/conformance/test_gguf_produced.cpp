// GgufWriter's produced tensors (the streaming mode synth and quantize use): the bytes on
// disk are exactly what the producer wrote, row chunks arrive in order and cover every row
// once, and the file equals one written from the same bytes held in memory.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"
#include "io/gguf.h"
#include "test_util.h"

namespace rpu {
namespace {

float value(uint64_t row, uint64_t col) { return static_cast<float>(row * 1000003 + col % 977); }

TEST(GgufProducedTest, MatchesTheSameBytesHeldInMemory) {
  const uint64_t cols = 48, rows = 7;
  std::vector<float> data(cols * rows);
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t c = 0; c < cols; ++c) data[r * cols + c] = value(r, c);
  }
  GgufWriter borrowed, produced;
  for (GgufWriter* w : {&borrowed, &produced}) {
    w->set("general.architecture", GgufValue::str("llama"));
    w->add_tensor("a.weight", DType::F32, {cols}, data.data());
  }
  borrowed.add_tensor("b.weight", DType::F32, {cols, rows}, data.data());
  produced.add_produced_tensor("b.weight", DType::F32, {cols, rows}, [&](uint64_t first, uint64_t n, uint8_t* dst) {
    std::memcpy(dst, data.data() + first * cols, n * cols * sizeof(float));
  });
  EXPECT_EQ(produced.to_bytes(), borrowed.to_bytes());
}

// A tensor larger than the writer's 64 MiB chunk: 3 rows of 32 MiB arrive as two chunks
// (rows 0-1, then row 2), and every value lands where it belongs in the file.
TEST(GgufProducedTest, LargeTensorsStreamInOrderedRowChunks) {
  const uint64_t cols = uint64_t{8} << 20, rows = 3;  // 32 MiB per F32 row
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  GgufWriter w;
  w.add_produced_tensor("big.weight", DType::F32, {cols, rows}, [&](uint64_t first, uint64_t n, uint8_t* dst) {
    calls.emplace_back(first, n);
    auto* out = reinterpret_cast<float*>(dst);
    for (uint64_t r = 0; r < n; ++r) {
      for (uint64_t c = 0; c < cols; ++c) out[r * cols + c] = value(first + r, c);
    }
  });
  const std::string path = test::temp_path("produced_big.gguf");
  w.write(path);
  EXPECT_EQ(calls, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 2}, {2, 1}}));
  const GgufFile f = GgufFile::open(path);
  const auto* v = reinterpret_cast<const float*>(f.find_tensor("big.weight")->data);
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t c = 0; c < cols; c += 4099) ASSERT_EQ(v[r * cols + c], value(r, c)) << r << "," << c;
    ASSERT_EQ(v[r * cols + cols - 1], value(r, cols - 1));
  }
}

TEST(GgufProducedTest, AProducerIsRequired) {
  GgufWriter w;
  EXPECT_THROW(w.add_produced_tensor("x.weight", DType::F32, {4}, nullptr), Error);
}

}  // namespace
}  // namespace rpu
