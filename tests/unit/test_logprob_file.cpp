// The base log-probabilities file (engine/logprob_file.h): rows stored to 16 bits within half a
// step of the exact log-softmax, the file round-trips, and a file for another vocabulary or
// text, or a truncated, corrupt or foreign one, is refused with one line naming it.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/rng.h"
#include "engine/logprob_file.h"
#include "test_util.h"

namespace rpu {
namespace {

std::vector<float> random_logits(int n, uint64_t seed, float spread) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = spread * static_cast<float>(2.0 * rng.uniform() - 1.0);
  return v;
}

std::vector<double> exact_log_softmax(const std::vector<float>& x) {
  double m = x[0], sum = 0;
  for (float v : x) m = std::max(m, static_cast<double>(v));
  for (float v : x) sum += std::exp(v - m);
  std::vector<double> out;
  for (float v : x) out.push_back(v - m - std::log(sum));
  return out;
}

TEST(LogProbRowTest, QuantizedWithinHalfAStepAndClampedSixteenBelowTheTop) {
  const int n = 1001;  // odd: the row is padded to an even count
  LogProbFileHeader h{static_cast<uint32_t>(n), 8, 1, 16, 0};
  EXPECT_EQ(h.row_bytes(), 8u + 2u * 1002u);
  const std::vector<float> logits = random_logits(n, 3, 12.0f);  // spread 24 > 16: some clamped
  std::vector<uint8_t> bytes(h.row_bytes());
  quantize_log_probs(logits.data(), n, bytes.data());
  const LogProbRow row(bytes.data(), n);
  const auto exact = exact_log_softmax(logits);
  const double top = *std::max_element(exact.begin(), exact.end());
  int clamped = 0;
  for (int i = 0; i < n; ++i) {
    const double e = exact[static_cast<size_t>(i)];
    if (e <= top - 16) {
      ++clamped;
      EXPECT_EQ(row.q(i), 0);
      EXPECT_LE(row.log_prob(i), -16.0f);
    } else {
      EXPECT_NEAR(row.log_prob(i), e, 0.5 * row.scale() + 1e-5) << i;
    }
  }
  EXPECT_GT(clamped, 0);
  EXPECT_NEAR(row.scale(), 16.0 / 65535.0, 1e-9);
  const auto argmax = std::max_element(logits.begin(), logits.end()) - logits.begin();
  EXPECT_EQ(row.q(static_cast<int>(argmax)), 65535);
}

TEST(LogProbRowTest, AFlatRowIsUniform) {
  const std::vector<float> logits(10, 2.5f);
  std::vector<uint8_t> bytes(8 + 2 * 10);
  quantize_log_probs(logits.data(), 10, bytes.data());
  const LogProbRow row(bytes.data(), 10);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(row.log_prob(i), -std::log(10.0), 1e-6);
}

struct Written {
  std::string path;
  LogProbFileHeader header;
  std::vector<int32_t> tokens;
  std::vector<std::vector<uint8_t>> chunks;
};

// A file of 3 chunks of n_ctx 8 (3 rows each) over 30 tokens, vocabulary 50.
Written write_file(const std::string& name) {
  Written w;
  w.path = test::temp_path(name);
  for (int i = 0; i < 30; ++i) w.tokens.push_back(i * 7 % 50);
  w.header = {50, 8, 3, w.tokens.size(), hash_tokens(w.tokens)};
  LogProbWriter writer(w.path, w.header);
  for (int c = 0; c < 3; ++c) {
    std::vector<uint8_t> rows(3 * w.header.row_bytes());
    for (int r = 0; r < 3; ++r) {
      const auto logits = random_logits(50, static_cast<uint64_t>(c * 10 + r + 1), 4.0f);
      quantize_log_probs(logits.data(), 50, rows.data() + static_cast<size_t>(r) * w.header.row_bytes());
    }
    writer.append_chunk(rows);
    w.chunks.push_back(rows);
  }
  writer.finish();
  return w;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(LogProbFileTest, RoundTrips) {
  const Written w = write_file("roundtrip.logprobs");
  EXPECT_EQ(std::filesystem::file_size(w.path), w.header.file_bytes());
  EXPECT_EQ(w.header.file_bytes(), 48u + 3u * (3u * (8u + 100u) + 8u));
  EXPECT_FALSE(std::filesystem::exists(w.path + ".partial"));
  const LogProbReader reader = LogProbReader::open(w.path);
  EXPECT_EQ(reader.header().n_vocab, 50u);
  EXPECT_EQ(reader.header().n_ctx, 8u);
  EXPECT_EQ(reader.header().n_chunk, 3u);
  EXPECT_NO_THROW(reader.check_matches(50, w.tokens));
  for (int c = 0; c < 3; ++c) {
    for (int r = 0; r < 3; ++r) {
      const LogProbRow expected(w.chunks[static_cast<size_t>(c)].data() + static_cast<size_t>(r) * w.header.row_bytes(), 50);
      const LogProbRow got = reader.row(c, r);
      EXPECT_EQ(got.scale(), expected.scale());
      EXPECT_EQ(got.min_log_prob(), expected.min_log_prob());
      for (int i = 0; i < 50; ++i) EXPECT_EQ(got.q(i), expected.q(i));
    }
  }
}

TEST(LogProbFileTest, RefusesAnotherVocabularyOrText) {
  const Written w = write_file("mismatch.logprobs");
  const LogProbReader reader = LogProbReader::open(w.path);
  EXPECT_NE(error_of([&] { reader.check_matches(51, w.tokens); }).find("vocabulary of 50 tokens, this model has 51"),
            std::string::npos);
  std::vector<int32_t> other = w.tokens;
  other[17] += 1;
  EXPECT_NE(error_of([&] { reader.check_matches(50, other); }).find("different text"), std::string::npos);
  other = w.tokens;
  other.push_back(3);
  EXPECT_NE(error_of([&] { reader.check_matches(50, other); }).find("different text"), std::string::npos);
}

TEST(LogProbFileTest, RefusesTruncatedCorruptAndForeignFiles) {
  const Written w = write_file("good.logprobs");
  const std::string bytes = test::read_file(w.path);
  const auto refused = [&](const std::string& name, const std::string& content) {
    const std::string path = test::temp_path(name);
    test::write_file(path, content);
    const std::string message = error_of([&] { LogProbReader::open(path); });
    EXPECT_NE(message.find(path), std::string::npos) << message;  // names the file
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;   // one line
    return message;
  };
  EXPECT_NE(refused("short.logprobs", bytes.substr(0, bytes.size() - 1)).find("truncated"), std::string::npos);
  EXPECT_NE(refused("tail.logprobs", bytes + "x").find("trailing bytes"), std::string::npos);
  EXPECT_NE(refused("headonly.logprobs", bytes.substr(0, 48)).find("truncated"), std::string::npos);
  std::string corrupt = bytes;
  corrupt[48 + w.header.block_bytes() + 20] ^= 0x10;  // a bit in chunk 2's data
  EXPECT_NE(refused("corrupt.logprobs", corrupt).find("corrupt data in chunk 2"), std::string::npos);
  corrupt = bytes;
  corrupt[13] ^= 0x01;  // n_vocab
  EXPECT_NE(refused("header.logprobs", corrupt).find("corrupt header"), std::string::npos);
  EXPECT_NE(refused("foreign.logprobs", "_logits_" + bytes.substr(8)).find("not an rpu base"), std::string::npos);
  EXPECT_NE(refused("tiny.logprobs", "RPU").find("not an rpu base"), std::string::npos);
  EXPECT_NE(error_of([] { LogProbReader::open(test::temp_path("missing.logprobs")); }).find("missing.logprobs"),
            std::string::npos);
}

TEST(LogProbFileTest, AnUnfinishedWriteLeavesNoFile) {
  const std::string path = test::temp_path("unfinished.logprobs");
  {
    LogProbWriter writer(path, {50, 8, 2, 20, 0});
    writer.append_chunk(std::vector<uint8_t>(3 * (8 + 100)));
    EXPECT_THROW(writer.append_chunk(std::vector<uint8_t>(5)), Error);  // wrong size
    EXPECT_THROW(writer.finish(), Error);  // one chunk of two
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

}  // namespace
}  // namespace rpu
