// Weights held once (issue 17): after a kernel set repacks a mapped model's matrices, the
// mapping's pages of them are given back (MappedFile::release_pages), so the process holds the
// packed copy but not the file's bytes too. The oracle for residency is the kernel's own
// count, /proc/self/smaps' "Rss" of the mapping's VMA; for correctness, a model whose pages
// were given back computes bit-identical logits to one that kept them, and every tensor still
// reads as the file's bytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"
#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/layer_tensors.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_util.h"

namespace rpu {
namespace {

const size_t kPage = static_cast<size_t>(::sysconf(_SC_PAGESIZE));

// Resident bytes of the mapping that holds `address`, from /proc/self/smaps: the header line
// of each VMA is "start-end perms offset dev inode [path]", followed by "Rss:  N kB".
size_t resident_bytes_of_mapping(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  EXPECT_TRUE(smaps.good());
  const auto at = reinterpret_cast<uintptr_t>(address);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    unsigned long start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2 && line.find(':') > line.find(' ')) {
      inside = start <= at && at < end;
    } else if (inside && line.rfind("Rss:", 0) == 0) {
      std::istringstream value(line.substr(4));
      size_t kib = 0;
      value >> kib;
      return kib * 1024;
    }
  }
  ADD_FAILURE() << "no mapping holds " << address;
  return 0;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string s = test::read_file(path);
  return {s.begin(), s.end()};
}

// Every set this CPU has that repacks Q4_0 (all but ref on x86-64 and ARM64).
std::vector<const KernelSet*> packing_sets() {
  std::vector<const KernelSet*> sets;
  for (const KernelSet* set : available_kernels()) {
    if (set != &reference_kernels()) sets.push_back(set);
  }
  return sets;
}

// A small Q4_0 llama with a tied output head (the embedding table is both read raw by token
// lookups and repacked as the head), written to a file so that it can be mapped. ~1.6 MB.
std::string write_model() {
  SynthSpec spec;
  spec.n_vocab = 2048;
  spec.n_embd = 256;
  spec.n_ff = 512;
  spec.n_layer = 4;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.tied_output = true;
  spec.matrix_type = DType::Q4_0;
  const std::string path = test::temp_path("residency-q4_0.gguf");
  synth_model(spec).write(path);
  return path;
}

std::vector<float> logits(const Model& model, const std::vector<int32_t>& tokens) {
  ForwardPass pass(model, 64);
  const auto prefill = pass.eval(tokens, true);
  std::vector<float> out(prefill.begin(), prefill.end());
  for (int32_t t : {5, 1999, 700}) {  // decode steps read more embedding rows
    const int32_t one[] = {t};
    const auto row = pass.eval(one);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

TEST(MappedFileRelease, GivesBackTheWholePagesInsideAndReadsTheSameBytesAfter) {
  const std::string path = test::temp_path("release-pages.bin");
  std::string pattern(64 * kPage, '\0');
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  test::write_file(path, pattern);
  const MappedFile file = MappedFile::open(path);
  ASSERT_TRUE(file.is_mapped());
  EXPECT_EQ(std::memcmp(file.data(), pattern.data(), pattern.size()), 0);  // touches every page
  EXPECT_GE(resident_bytes_of_mapping(file.data()), 60 * kPage);

  // From inside the first page to inside the last: the 62 whole pages between are released.
  EXPECT_EQ(file.release_pages(file.data() + 100, file.size() - 200), 62 * kPage);
  EXPECT_LE(resident_bytes_of_mapping(file.data()), 2 * kPage);
  EXPECT_EQ(std::memcmp(file.data(), pattern.data(), pattern.size()), 0);  // faulted in from the file again
  EXPECT_EQ(file.release_pages(file.data() + 1, kPage), 0u);              // no whole page inside

  try {
    file.release_pages(file.data() + 1, file.size());
    FAIL() << "released a range past the end";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not inside"), std::string::npos) << e.what();
  }
}

TEST(MappedFileRelease, AnInMemoryCopyIsNeverReleased) {
  const std::string path = test::temp_path("release-copy.bin");
  const std::string pattern(16 * kPage, 'x');
  test::write_file(path, pattern);
  std::vector<MappedFile> copies;
  copies.push_back(MappedFile::open(path, MappedFile::Load::kRead));
  copies.push_back(MappedFile::from_bytes(std::vector<uint8_t>(pattern.begin(), pattern.end())));
  for (const MappedFile& file : copies) {
    EXPECT_FALSE(file.is_mapped());
    EXPECT_EQ(file.release_pages(file.data(), file.size()), 0u);
    EXPECT_EQ(std::memcmp(file.data(), pattern.data(), pattern.size()), 0);  // not zeroed
  }
}

TEST(WeightResidency, RepackedMatricesAreResidentOnceAndComputeTheSame) {
  const auto sets = packing_sets();
  if (sets.empty()) GTEST_SKIP() << "no kernel set repacks on this CPU";
  const std::string path = write_model();
  const std::vector<uint8_t> bytes = read_bytes(path);
  const std::vector<int32_t> tokens = {1, 40, 41, 290, 7, 100, 2047, 3};
  for (const KernelSet* set : sets) {
    SCOPED_TRACE(set->name);
    const auto model = Model::load(path, set);
    const GgufFile& file = model->file();
    const ModelWeights& w = model->weights();
    ASSERT_TRUE(file.is_mapped());

    // Every matrix is repacked (all Q4_0, the tied head from the embedding table), so all but
    // the partial pages at their ends is given back.
    uint64_t matrix_bytes = 0, packed_bytes = w.output.packed_bytes;
    for (const GgufTensorInfo& t : file.tensors()) matrix_bytes += t.shape.size() == 2 ? t.n_bytes : 0;
    for (const LayerWeights& l : w.layers) {
      for (const LayerTensor& t : layer_tensors()) {
        if (t.is_matrix()) packed_bytes += (l.*t.matrix).packed_bytes;
      }
    }
    ASSERT_GT(packed_bytes, matrix_bytes * 9 / 10);
    EXPECT_GE(w.released_file_bytes, matrix_bytes - 2 * kPage * file.tensors().size());
    EXPECT_EQ(w.released_tensors.size(), 4u * 7u);  // q, k, v, o, gate, up, down per layer; not token_embd
    EXPECT_EQ(std::set<std::string>(w.released_tensors.begin(), w.released_tensors.end()).count("token_embd.weight"), 0u);

    // What the mapping holds now: the header, the norms and the partial pages, not the
    // matrices (before the release it held the whole file: resident + packed ~ twice the weights).
    const size_t resident = resident_bytes_of_mapping(file.tensors().front().data);
    EXPECT_LE(resident, file.file_size() - w.released_file_bytes + 2 * kPage * file.tensors().size());
    EXPECT_LT(resident + packed_bytes, file.file_size() + packed_bytes - matrix_bytes * 3 / 4);

    // Same logits, bit for bit, as the same set on a copy that was never released (the tied
    // embedding rows are faulted in again by the lookups).
    const auto copy = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "copy"), set);
    EXPECT_TRUE(copy->weights().released_tensors.empty());
    const std::vector<float> got = logits(*model, tokens);
    const std::vector<float> want = logits(*copy, tokens);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);

    // Raw readers (rpu export's merge, the trainer) still read the file's bytes.
    for (const GgufTensorInfo& t : file.tensors()) {
      ASSERT_EQ(std::memcmp(t.data, bytes.data() + file.data_offset() + t.offset, t.n_bytes), 0) << t.name;
    }
  }
}

TEST(WeightResidency, MlockRangesAreThePackedCopiesAndTheTensorsStillReadRaw) {
  const auto sets = packing_sets();
  if (sets.empty()) GTEST_SKIP() << "no kernel set repacks on this CPU";
  const auto model = Model::load(write_model(), sets.front());
  const GgufFile& file = model->file();
  const std::vector<MemoryRange> ranges = model->weight_memory();
  const auto holds = [&ranges](const void* p) {
    return std::any_of(ranges.begin(), ranges.end(), [p](const MemoryRange& r) {
      return static_cast<const uint8_t*>(r.data) <= p && p < static_cast<const uint8_t*>(r.data) + r.size;
    });
  };
  const std::set<std::string> released(model->weights().released_tensors.begin(), model->weights().released_tensors.end());
  for (const GgufTensorInfo& t : file.tensors()) {
    const uint8_t* middle = t.data + t.n_bytes / 2;
    EXPECT_EQ(holds(middle), released.count(t.name) == 0) << t.name;  // token_embd and norms: locked
  }
  EXPECT_TRUE(holds(model->weights().output.packed.get()));
  EXPECT_TRUE(holds(model->weights().layers[3].w_down.packed.get() + model->weights().layers[3].w_down.packed_bytes - 1));
}

TEST(WeightResidency, ACopyReadIntoMemoryKeepsEveryByte) {
  const auto sets = packing_sets();
  if (sets.empty()) GTEST_SKIP() << "no kernel set repacks on this CPU";
  const std::string path = write_model();
  const std::vector<uint8_t> bytes = read_bytes(path);
  // --no-mmap: the copy is the only one; MADV_DONTNEED would turn its pages into zeros.
  const auto model = Model::from_gguf(GgufFile::parse(MappedFile::open(path, MappedFile::Load::kRead), path), sets.front());
  EXPECT_EQ(model->weights().released_file_bytes, 0u);
  EXPECT_TRUE(model->weights().released_tensors.empty());
  const GgufFile& file = model->file();
  for (const GgufTensorInfo& t : file.tensors()) {
    ASSERT_EQ(std::memcmp(t.data, bytes.data() + file.data_offset() + t.offset, t.n_bytes), 0) << t.name;
  }
}

}  // namespace
}  // namespace rpu
