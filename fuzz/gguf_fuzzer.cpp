// libFuzzer target for the GGUF reader. Built and run by fuzz/run_fuzz.sh under ASan and
// UBSan: any input must either parse or throw rpu::Error. On inputs that parse, every
// tensor byte range and every metadata value is read, so a pointer or length the reader
// accepted without checking shows up as an ASan report rather than passing silently; the
// file is then rewritten with GgufWriter and parsed again, which must give the same content.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"

namespace {

// Results are folded into this so the compiler cannot drop the reads.
volatile uint64_t g_sink = 0;

uint64_t touch(const rpu::GgufValue& v) {
  switch (v.type()) {
    case rpu::GgufType::STRING: {
      uint64_t h = v.as_string().size();
      for (char c : v.as_string()) h = h * 31 + static_cast<unsigned char>(c);
      return h;
    }
    case rpu::GgufType::ARRAY: {
      uint64_t h = v.as_array().size();
      for (const auto& item : v.as_array()) h = h * 31 + touch(item);
      return h;
    }
    case rpu::GgufType::BOOL: return v.as_bool();
    case rpu::GgufType::FLOAT32:
    case rpu::GgufType::FLOAT64: {
      const double d = v.as_double();
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      return bits;
    }
    case rpu::GgufType::UINT64: return v.as_uint();
    default: return static_cast<uint64_t>(v.as_int());
  }
}

// Reached only when the reader or writer broke an invariant: abort so libFuzzer keeps the input.
[[noreturn]] void invariant_broken() { __builtin_trap(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<rpu::GgufFile> parsed;
  try {
    parsed.emplace(rpu::GgufFile::parse(rpu::MappedFile::from_bytes(std::vector<uint8_t>(data, data + size)), "fuzz"));
  } catch (const rpu::Error&) {
    return 0;  // rejecting bad input with a clear error is the expected outcome for most inputs
  }
  const rpu::GgufFile& file = *parsed;

  uint64_t sum = file.alignment() + file.data_offset();
  for (const auto& [key, value] : file.metadata()) sum += key.size() + touch(value) + value.to_display().size();
  for (const auto& t : file.tensors()) {
    if (t.n_bytes == 0 || t.data == nullptr) invariant_broken();
    sum += t.data[0] + t.data[t.n_bytes - 1];
  }
  g_sink = g_sink + sum;

  // Round trip, outside the try: an rpu::Error from here on is a bug (an accepted file
  // must be writable and readable again), and escaping it makes libFuzzer report it. The
  // writer also copies every tensor byte, so ASan checks each whole range. Byte identity
  // is not required: the writer lays tensors out afresh and drops repeated keys.
  rpu::GgufWriter writer;
  writer.copy_from(file);
  const rpu::GgufFile again = rpu::GgufFile::parse(rpu::MappedFile::from_bytes(writer.to_bytes()), "rewrite");
  if (!(again.metadata() == file.metadata())) invariant_broken();
  if (again.tensors().size() != file.tensors().size()) invariant_broken();
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const auto& a = file.tensors()[i];
    const auto& b = again.tensors()[i];
    if (a.name != b.name || a.shape != b.shape || a.type != b.type || a.n_bytes != b.n_bytes ||
        std::memcmp(a.data, b.data, a.n_bytes) != 0) {
      invariant_broken();
    }
  }
  return 0;
}
