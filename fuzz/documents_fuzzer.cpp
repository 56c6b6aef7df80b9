// libFuzzer target for the knowledge-base document readers and the chunker. The first byte
// picks the format (txt, md, html, jsonl) and small buffer / section / chunk sizes, so cuts
// and continuing sections happen on small inputs; the rest is the file. A read must either
// produce sections or throw DocumentError, never crash; sections must be valid UTF-8 and within
// their size, and chunks within max_tokens (by a byte counter), valid UTF-8 and, without
// overlap, holding all the sections' text and nothing else. PDF is left out:
// poppler is not built with the sanitizers and is fuzzed by its own project.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "retrieval/chunker.h"
#include "retrieval/utf8.h"

namespace {

// A folder of our own for the input file, removed when the fuzzer exits.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    // The readers take a path, so each input is written to a file: in memory when we can.
    const std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    path = base + "/rpu_documents_fuzz_" + std::to_string(::getpid());
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const std::string& scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// The text without its whitespace: with no overlap, the chunks hold exactly the sections' text.
void append_visible(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '\f' && c != '\v') out += c;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kinds[] = {"txt", "md", "html", "jsonl"};
  const uint8_t control = data[0];
  const std::string path = scratch_dir() + "/input." + kinds[control & 3];
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data + 1, 1, size - 1, f);
    std::fclose(f);
  } else {
    return 0;
  }
  rpu::retrieval::ReadOptions read_options;
  read_options.buffer_bytes = (control & 4) ? 16 : 4096;
  read_options.max_section_bytes = (control & 8) ? 32 : 1024;
  read_options.max_jsonl_line_bytes = 4096;
  rpu::retrieval::ChunkOptions chunk_options;
  chunk_options.max_tokens = (control & 16) ? 8 : 64;
  chunk_options.overlap_tokens = (control & 32) ? 3 : 0;
  const auto bytes = [](std::string_view t) { return static_cast<int>(t.size()); };
  std::string section_text, chunk_text;
  try {
    rpu::retrieval::DocumentInfo info;
    rpu::retrieval::Chunker chunker(info, chunk_options, bytes, [&](rpu::retrieval::Chunk&& c) {
      check(!c.text.empty());
      check(rpu::retrieval::utf8_valid_prefix(c.text) == c.text.size());
      // Over max only when the chunk is one character a byte counter cannot fit (max_tokens 8 > 4: never).
      check(c.n_tokens <= chunk_options.max_tokens);
      check(c.byte_begin <= c.byte_end);
      append_visible(chunk_text, c.text);
    });
    rpu::retrieval::read_document(path, read_options, [&](rpu::retrieval::Section&& s) {
      check(rpu::retrieval::utf8_valid_prefix(s.text) == s.text.size());
      check(s.text.size() <= read_options.max_section_bytes);
      check(s.byte_begin <= s.byte_end && s.byte_end <= size);
      append_visible(section_text, s.text);
      chunker.add(std::move(s));
    });
    chunker.finish();
    check(chunk_options.overlap_tokens > 0 || chunk_text == section_text);
  } catch (const rpu::retrieval::DocumentError&) {
  }
  return 0;
}
