// libFuzzer target for the tokenizers (encode paths of byte-level BPE under several
// pre-tokenizer regex sets, SentencePiece, WordPiece, a tokenizer.json BPE with byte fallback)
// and for tokenizer.json parsing. Vocabularies are small ones built here, so the target needs
// no files. Any input must encode without crashing to ids inside the vocabulary; byte-level
// BPE must be lossless (its pieces concatenate back to the input bytes, valid UTF-8 or not);
// and tokenizer.json text must either load or throw rpu::Error.
//
// First input byte: low 3 bits pick the tokenizer (7 = parse the rest as tokenizer.json),
// bit 3 = add_special, bit 4 = parse_special. The rest is the text.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace rpu;

std::vector<std::string> byte_level_alphabet() {
  // GPT-2's mapping: printable Latin-1 bytes as themselves, the rest from U+0100 up.
  std::vector<std::string> chars;
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const int cp = printable ? b : 256 + next++;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xc0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    }
    chars.push_back(s);
  }
  return chars;
}

std::unique_ptr<Tokenizer> from_writer(const GgufWriter& w, std::vector<std::unique_ptr<GgufFile>>& keep) {
  keep.push_back(std::make_unique<GgufFile>(GgufFile::parse(MappedFile::from_bytes(w.to_bytes()))));
  return Tokenizer::from_gguf(*keep.back());
}

std::unique_ptr<Tokenizer> byte_level_bpe(const std::string& pre, std::vector<std::unique_ptr<GgufFile>>& keep) {
  std::vector<std::string> tokens = byte_level_alphabet();
  std::vector<int32_t> types(tokens.size(), 1);
  const std::vector<std::string> merges = {"Ġ t", "h e", "Ġt he", "i n", "in g", "Ġ Ġ", "ĠĠ ĠĠ", "1 2", "Ċ Ċ", "e r"};
  for (const auto& m : merges) {
    tokens.push_back(m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1));
    types.push_back(1);
  }
  tokens.push_back("<|im_start|>");
  types.push_back(3);
  tokens.push_back("<tool>");
  types.push_back(4);
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::str("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::str(pre));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.merges", GgufValue::str_array(merges));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(tokens.size() - 2)));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
  return from_writer(w, keep);
}

std::unique_ptr<Tokenizer> spm(std::vector<std::unique_ptr<GgufFile>>& keep) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);
  }
  for (const char* p : {"\xe2\x96\x81", "a", "b", "t", "h", "e", "\xe2\x96\x81t", "he", "\xe2\x96\x81the",
                        "\xe2\x96\x81\xe2\x96\x81", "\xe4\xb8\xad", "<tool>"}) {
    tokens.push_back(p);
    types.push_back(std::string(p) == "<tool>" ? 4 : 1);
  }
  std::vector<float> scores;
  for (size_t i = 0; i < tokens.size(); ++i) scores.push_back(-static_cast<float>(i % 7));
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::str("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.scores", GgufValue::f32_array(scores));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
  return from_writer(w, keep);
}

std::unique_ptr<Tokenizer> wordpiece(std::vector<std::unique_ptr<GgufFile>>& keep) {
  const std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xe2\x96\x81the", "\xe2\x96\x81" "a",
                                           "a", "b", "e", "\xe2\x96\x81\xe4\xb8\xad", "\xe2\x96\x81!", "ing"};
  std::vector<int32_t> types(tokens.size(), 1);
  for (int i = 0; i < 4; ++i) types[static_cast<size_t>(i)] = 3;
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::str("bert"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(1));
  return from_writer(w, keep);
}

std::unique_ptr<Tokenizer> hf_byte_fallback() {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  for (int b = 0; b < 256; ++b) {
    char entry[32];
    std::snprintf(entry, sizeof(entry), R"(, "<0x%02X>": %d)", b, 3 + b);
    vocab += entry;
  }
  vocab += R"(, "\u2581": 259, "a": 260, "b": 261, "\u2581a": 262, "ab": 263, "\u2581ab": 264)";
  const std::string json = R"({"added_tokens": [{"id": 1, "content": "<s>", "special": true, "rstrip": true},
      {"id": 2, "content": "</s>", "special": true, "lstrip": true}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Strip", "strip_left": false, "strip_right": true}]},
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": true},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first"},
    "model": {"type": "BPE", "byte_fallback": true, "fuse_unk": true, "unk_token": "<unk>", "vocab": {)" +
                           vocab + R"(}, "merges": [["a", "b"], ["\u2581", "a"], ["\u2581a", "b"]]}})";
  return Tokenizer::from_hf_json(json, "");
}

struct Tokenizers {
  std::vector<std::unique_ptr<GgufFile>> files;
  std::vector<std::unique_ptr<Tokenizer>> all;
  size_t n_byte_level = 0;
  Tokenizers() {
    for (const char* pre : {"llama3", "qwen2", "deepseek-llm", "falcon"}) all.push_back(byte_level_bpe(pre, files));
    n_byte_level = all.size();
    all.push_back(spm(files));
    all.push_back(wordpiece(files));
    all.push_back(hf_byte_fallback());
  }
};

volatile size_t g_sink = 0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizers t;
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t which = selector & 7;
  if (which == 7) {
    try {
      const auto loaded = Tokenizer::from_hf_json(text, "");
      g_sink = g_sink + loaded->encode("Hello, world! 123 \xe4\xb8\xad", true, true).size();
    } catch (const Error&) {
    }
    return 0;
  }
  const Tokenizer& tok = *t.all[which % t.all.size()];
  const bool add_special = selector & 8;
  const bool parse_special = selector & 16;
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text, add_special, parse_special);
  } catch (const Error&) {
    return 0;  // a clear refusal (e.g. a regex resource limit) is acceptable; a crash is not
  }
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || id >= tok.vocab().size()) __builtin_trap();
    bytes += tok.token_to_piece(id);
  }
  if (which % t.all.size() < t.n_byte_level && !add_special && !parse_special && bytes != text) __builtin_trap();
  g_sink = g_sink + tok.decode(ids).size();
  return 0;
}
