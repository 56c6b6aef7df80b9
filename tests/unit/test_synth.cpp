// Synthetic models: the presets read back with the real models' published shapes
// (config.json facts, written out here as the oracle), their byte-level BPE vocabularies are
// self-consistent and tokenize like a BPE should, weights are reproducible and scaled as
// documented, and a scaled-down preset runs end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <unordered_map>

#include "core/mapped_file.h"
#include "kernels/quant.h"
#include "model/config.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synth_presets.h"
#include "model/quant_plan.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

GgufFile parse(const GgufWriter& w, const std::string& name = "<synth>") {
  return GgufFile::parse(MappedFile::from_bytes(w.to_bytes()), name);
}

struct RealModel {
  const char* preset;
  const char* arch;
  int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx;
  float rope_theta, rms_eps;
  bool tied;
  const char* pre;
  int32_t bos, eos;
  const char* eos_text;
};

// From the models' Hugging Face config.json / tokenizer_config.json (Instruct variants).
const RealModel kReal[] = {
    {"smollm2-135m", "llama", 49152, 576, 30, 9, 3, 64, 1536, 8192, 100000.0f, 1e-5f, true, "smollm", 1, 2, "<|im_end|>"},
    {"qwen2.5-0.5b", "qwen2", 151936, 896, 24, 14, 2, 64, 4864, 32768, 1e6f, 1e-6f, true, "qwen2", 151643, 151645,
     "<|im_end|>"},
    {"qwen3-0.6b", "qwen3", 151936, 1024, 28, 16, 8, 128, 3072, 40960, 1e6f, 1e-6f, true, "qwen2", 151643, 151645,
     "<|im_end|>"},
    {"llama3.2-1b", "llama", 128256, 2048, 16, 32, 8, 64, 8192, 131072, 500000.0f, 1e-5f, true, "llama-bpe", 128000,
     128009, "<|eot_id|>"},
};

// The presets of issue 15's architectures, from the models' config.json (gemma-3-270m,
// gemma-3-1b-it, gemma-2-2b-it, Phi-3.5-mini-instruct, SmolLM3-3B): shapes, and the details
// each architecture reads from its keys and defaults.
struct NewArchModel {
  const char* preset;
  const char* arch;
  int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx;
  float rope_theta;
  int window;           // 0: none
  int n_local_layers;   // layers with the window
  int n_no_rope_layers;
};

const NewArchModel kNewArchs[] = {
    {"gemma3-270m", "gemma3", 262144, 640, 18, 4, 1, 256, 2048, 32768, 1e6f, 512, 15, 0},
    {"gemma3-1b", "gemma3", 262144, 1152, 26, 4, 1, 256, 6912, 32768, 1e6f, 512, 22, 0},
    {"gemma2-2b", "gemma2", 256000, 2304, 26, 8, 4, 256, 9216, 8192, 10000.0f, 4096, 13, 0},
    {"phi-3.5-mini", "phi3", 32064, 3072, 32, 32, 32, 96, 8192, 131072, 10000.0f, 262144, 32, 0},
    {"smollm3-3b", "smollm3", 128256, 2048, 36, 16, 4, 128, 11008, 65536, 5e6f, 0, 0, 9},
};

class NewArchPresetTest : public ::testing::TestWithParam<NewArchModel> {};

TEST_P(NewArchPresetTest, ConfigReadsBackAsTheRealModel) {
  const NewArchModel& m = GetParam();
  const SynthPreset* preset = find_synth_preset(m.preset);
  ASSERT_NE(preset, nullptr);
  const ModelConfig c = config_from_gguf(parse(synth_metadata(preset->spec)));
  EXPECT_STREQ(c.arch->name, m.arch);
  EXPECT_EQ(c.n_vocab, m.n_vocab);
  EXPECT_EQ(c.n_embd, m.n_embd);
  EXPECT_EQ(c.n_layer, m.n_layer);
  EXPECT_EQ(c.n_head, m.n_head);
  EXPECT_EQ(c.n_head_kv, m.n_head_kv);
  EXPECT_EQ(c.head_dim, m.head_dim);
  EXPECT_EQ(c.n_ff, m.n_ff);
  EXPECT_EQ(c.n_ctx_train, m.n_ctx);
  EXPECT_FLOAT_EQ(c.rope_theta, m.rope_theta);
  EXPECT_EQ(c.sliding_window, m.window);
  int local = 0, no_rope = 0;
  for (int l = 0; l < c.n_layer; ++l) {
    local += c.is_swa(l);
    no_rope += !c.has_rope(l);
  }
  EXPECT_EQ(local, m.n_local_layers);
  EXPECT_EQ(no_rope, m.n_no_rope_layers);
  EXPECT_FLOAT_EQ(c.attn_scale(), 1.0f / std::sqrt(static_cast<float>(m.head_dim)));
  const std::string arch = m.arch;
  EXPECT_FLOAT_EQ(c.embed_scale, arch.starts_with("gemma") ? std::sqrt(static_cast<float>(m.n_embd)) : 1.0f);
  EXPECT_FLOAT_EQ(c.attn_softcap, arch == "gemma2" ? 50.0f : 0.0f);
  EXPECT_FLOAT_EQ(c.final_softcap, arch == "gemma2" ? 30.0f : 0.0f);
  if (arch == "gemma3") {
    EXPECT_FLOAT_EQ(c.rope_theta_swa, 10000.0f);  // local layers' base, not the global 1e6
    EXPECT_FALSE(c.is_swa(5));                    // every sixth layer is global
    EXPECT_TRUE(c.is_swa(4));
  }
  if (arch == "phi3") {
    EXPECT_EQ(c.n_ctx_orig, 4096);
    EXPECT_NEAR(c.rope_attn_factor, std::sqrt(1 + std::log(32.0) / std::log(4096.0)), 1e-6);  // 1.1902
  }
  if (arch == "smollm3") {
    EXPECT_FALSE(c.has_rope(3));
  }
}

INSTANTIATE_TEST_SUITE_P(Synth, NewArchPresetTest, ::testing::ValuesIn(kNewArchs), [](const auto& info) {
  std::string name = info.param.preset;
  for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return name;
});

class PresetTest : public ::testing::TestWithParam<RealModel> {};

TEST_P(PresetTest, ConfigReadsBackAsTheRealModel) {
  const RealModel& m = GetParam();
  const SynthPreset* preset = find_synth_preset(m.preset);
  ASSERT_NE(preset, nullptr);
  const GgufFile file = parse(synth_metadata(preset->spec));
  const ModelConfig c = config_from_gguf(file);
  EXPECT_STREQ(c.arch->name, m.arch);
  EXPECT_EQ(c.n_vocab, m.n_vocab);
  EXPECT_EQ(c.n_embd, m.n_embd);
  EXPECT_EQ(c.n_layer, m.n_layer);
  EXPECT_EQ(c.n_head, m.n_head);
  EXPECT_EQ(c.n_head_kv, m.n_head_kv);
  EXPECT_EQ(c.head_dim, m.head_dim);
  EXPECT_EQ(c.rope_dim, m.head_dim);
  EXPECT_EQ(c.n_ff, m.n_ff);
  EXPECT_EQ(c.n_ctx_train, m.n_ctx);
  EXPECT_FLOAT_EQ(c.rope_theta, m.rope_theta);
  EXPECT_FLOAT_EQ(c.rms_eps, m.rms_eps);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), m.pre);
  EXPECT_EQ(file.get_uint("tokenizer.ggml.bos_token_id", 0), static_cast<uint64_t>(m.bos));
  EXPECT_EQ(file.get_uint("tokenizer.ggml.eos_token_id", 0), static_cast<uint64_t>(m.eos));
}

TEST_P(PresetTest, TensorTableHasTheRealShapes) {
  const RealModel& m = GetParam();
  SynthSpec spec = find_synth_preset(m.preset)->spec;
  spec.scheme = find_quant_scheme("Q4_K_M");
  std::unordered_map<std::string, TensorDesc> t;
  for (auto& d : synth_tensors(spec)) t.emplace(d.name, d);
  const auto u = [](int v) { return static_cast<uint64_t>(v); };
  const int q_dim = m.n_head * m.head_dim, kv_dim = m.n_head_kv * m.head_dim;
  EXPECT_EQ(t.at("token_embd.weight").shape, (std::vector<uint64_t>{u(m.n_embd), u(m.n_vocab)}));
  EXPECT_EQ(t.count("output.weight"), m.tied ? 0u : 1u);
  for (int l : {0, m.n_layer - 1}) {
    const std::string p = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(t.at(p + "attn_q.weight").shape, (std::vector<uint64_t>{u(m.n_embd), u(q_dim)}));
    EXPECT_EQ(t.at(p + "attn_k.weight").shape, (std::vector<uint64_t>{u(m.n_embd), u(kv_dim)}));
    EXPECT_EQ(t.at(p + "attn_v.weight").shape, (std::vector<uint64_t>{u(m.n_embd), u(kv_dim)}));
    EXPECT_EQ(t.at(p + "attn_output.weight").shape, (std::vector<uint64_t>{u(q_dim), u(m.n_embd)}));
    EXPECT_EQ(t.at(p + "ffn_gate.weight").shape, (std::vector<uint64_t>{u(m.n_embd), u(m.n_ff)}));
    EXPECT_EQ(t.at(p + "ffn_down.weight").shape, (std::vector<uint64_t>{u(m.n_ff), u(m.n_embd)}));
    EXPECT_EQ(t.count(p + "attn_q.bias"), std::string(m.arch) == "qwen2" ? 1u : 0u);
    EXPECT_EQ(t.count(p + "attn_q_norm.weight"), std::string(m.arch) == "qwen3" ? 1u : 0u);
  }
  EXPECT_EQ(t.count("blk." + std::to_string(m.n_layer) + ".attn_q.weight"), 0u);
  EXPECT_EQ(t.count("rope_freqs.weight"), std::string(m.preset) == "llama3.2-1b" ? 1u : 0u);
}

// Every merge joins two existing tokens into a third; every token is unique; the special
// tokens sit at the real ids as CONTROL tokens; all 256 byte characters exist.
TEST_P(PresetTest, BpeVocabularyIsSelfConsistent) {
  const RealModel& m = GetParam();
  const SynthSpec& spec = find_synth_preset(m.preset)->spec;
  ASSERT_TRUE(spec.bpe.has_value());
  const BpeVocab v = make_bpe_vocab(*spec.bpe, spec.n_vocab);
  ASSERT_EQ(v.tokens.size(), static_cast<size_t>(m.n_vocab));
  std::unordered_map<std::string, size_t> ids;
  for (size_t i = 0; i < v.tokens.size(); ++i) ASSERT_TRUE(ids.emplace(v.tokens[i], i).second) << "duplicate " << v.tokens[i];
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids.count(byte_level_char(static_cast<uint8_t>(b))), 1u) << b;
  EXPECT_EQ(byte_level_char(' '), "\xc4\xa0");   // U+0120 'Ġ'
  EXPECT_EQ(byte_level_char('\n'), "\xc4\x8a");  // U+010A 'Ċ'
  EXPECT_EQ(byte_level_char('a'), "a");
  for (const std::string& merge : v.merges) {
    const size_t space = merge.find(' ', 1);
    ASSERT_NE(space, std::string::npos) << merge;
    const std::string left = merge.substr(0, space), right = merge.substr(space + 1);
    ASSERT_EQ(ids.count(left), 1u) << merge;
    ASSERT_EQ(ids.count(right), 1u) << merge;
    ASSERT_EQ(ids.count(left + right), 1u) << merge;
    EXPECT_GT(ids.at(left + right), std::max(ids.at(left), ids.at(right))) << merge;
  }
  EXPECT_EQ(v.merges.size(), static_cast<size_t>(spec.bpe->n_text - 256));
  EXPECT_EQ(v.tokens[static_cast<size_t>(m.eos)], m.eos_text);
  EXPECT_EQ(v.types[static_cast<size_t>(m.eos)], 3);
  EXPECT_EQ(v.types[static_cast<size_t>(m.bos)], 3);
  int n_unused = 0;
  for (int32_t type : v.types) n_unused += type == 5;
  // Qwen pads its 151,665 / 151,669 tokens to 151,936 rows, as llama.cpp's converter does.
  const std::string preset = m.preset;
  EXPECT_EQ(n_unused, preset == "qwen2.5-0.5b" ? 151936 - 151665 : preset == "qwen3-0.6b" ? 151936 - 151669 : 0);
}

// rpu's own tokenizer reads the vocabulary: text survives encode/decode, common words become
// single tokens, and written special tokens become one token when parsing specials.
TEST_P(PresetTest, TokenizerRoundTrips) {
  const RealModel& m = GetParam();
  const GgufFile file = parse(synth_metadata(find_synth_preset(m.preset)->spec));
  const auto tok = Tokenizer::from_gguf(file);
  ASSERT_EQ(tok->vocab().size(), m.n_vocab);
  for (const std::string text : {"Hello world, the quick brown fox.", "  two  spaces\nand a newline\t!",
                                 "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82 123456"}) {
    const auto ids = tok->encode(text, /*add_special=*/false);
    EXPECT_EQ(tok->decode(ids), text);
  }
  EXPECT_EQ(tok->encode(" the", false).size(), 1u);
  const auto special = tok->encode(std::string("a") + m.eos_text, false, /*parse_special=*/true);
  ASSERT_EQ(special.size(), 2u);
  EXPECT_EQ(special[1], m.eos);
  EXPECT_TRUE(tok->is_end_of_generation(m.eos));
}

INSTANTIATE_TEST_SUITE_P(Presets, PresetTest, ::testing::ValuesIn(kReal),
                         [](const auto& info) {
                           std::string n = info.param.preset;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

TEST(SynthTest, UnknownPresetIsNull) {
  EXPECT_EQ(find_synth_preset("gpt-5"), nullptr);
  EXPECT_NE(synth_preset_names().find("qwen3-0.6b"), std::string::npos);
}

// Llama 3 rope factors for theta 500000, 64-dim heads, factor 32, original context 8192:
// pair i has wavelength 2*pi*500000^(i/32); under 8192/4 = 2048 (i <= 14) the factor is 1,
// over 8192 (i >= 18) it is 32, and pairs 15..17 blend smoothly in between.
TEST(SynthTest, Llama3RopeFactorsFollowTheScalingRule) {
  SynthSpec s = find_synth_preset("llama3.2-1b")->spec;
  s.bpe.reset();
  s.n_vocab = 300;
  s.n_embd = 128;
  s.n_head = 2;
  s.n_head_kv = 1;
  s.n_ff = 32;
  s.n_layer = 1;
  const GgufFile file = parse(synth_model(s));
  const GgufTensorInfo* t = file.find_tensor("rope_freqs.weight");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->shape, std::vector<uint64_t>{32});
  std::vector<float> f(32);
  dequantize_row(t->type, t->data, f.data(), 32);
  for (int i = 0; i <= 14; ++i) EXPECT_EQ(f[static_cast<size_t>(i)], 1.0f) << i;
  for (int i = 18; i < 32; ++i) EXPECT_EQ(f[static_cast<size_t>(i)], 32.0f) << i;
  for (int i = 15; i <= 17; ++i) {
    EXPECT_GT(f[static_cast<size_t>(i)], f[static_cast<size_t>(i - 1)]) << i;
    EXPECT_LT(f[static_cast<size_t>(i)], 32.0f) << i;
  }
}

TEST(SynthTest, WeightsAreReproducibleWhateverTheThreadCount) {
  SynthSpec s;
  s.arch = "qwen2";
  s.qkv_bias = true;
  s.n_embd = 64;
  s.n_ff = 96;
  s.matrix_type = DType::Q8_0;
  ThreadPool pool(2);
  const auto one = synth_model(s).to_bytes();
  EXPECT_EQ(synth_model(s, &pool).to_bytes(), one);
  s.seed = 2;
  EXPECT_NE(synth_model(s).to_bytes(), one);
}

// Matrices are uniform in +-1/sqrt(cols) (mean 0, variance 1/(3 cols)); norms in 1 +- 0.2.
TEST(SynthTest, WeightsHaveTheDocumentedScale) {
  SynthSpec s;
  s.n_embd = 256;
  s.n_head = 4;
  s.n_ff = 512;
  s.n_layer = 1;
  const GgufFile file = parse(synth_model(s));
  const GgufTensorInfo* down = file.find_tensor("blk.0.ffn_down.weight");
  const auto* w = reinterpret_cast<const float*>(down->data);
  const double bound = 1.0 / std::sqrt(512.0);
  double sum = 0, sum_sq = 0;
  for (uint64_t i = 0; i < down->n_elements; ++i) {
    ASSERT_LE(std::fabs(w[i]), bound);
    sum += w[i];
    sum_sq += static_cast<double>(w[i]) * w[i];
  }
  const double n = static_cast<double>(down->n_elements);
  EXPECT_NEAR(sum / n, 0.0, 0.01 * bound);
  EXPECT_NEAR(sum_sq / n, bound * bound / 3, 0.02 * bound * bound / 3);
  const GgufTensorInfo* norm = file.find_tensor("blk.0.ffn_norm.weight");
  const auto* g = reinterpret_cast<const float*>(norm->data);
  for (uint64_t i = 0; i < norm->n_elements; ++i) {
    EXPECT_GE(g[i], 0.8f);
    EXPECT_LE(g[i], 1.2f);
  }
}

// A preset with two layers, in a mixed K-quant scheme, written to disk and run: the file's
// tensor types are the planned ones and the forward pass gives finite, non-constant logits.
TEST(SynthTest, ScaledDownPresetLoadsAndRuns) {
  SynthSpec s = find_synth_preset("smollm2-135m")->spec;
  s.n_layer = 2;
  s.scheme = find_quant_scheme("Q4_K_M");
  ThreadPool pool(2);
  const std::string path = test::temp_path("smollm2_2layers.gguf");
  synth_model(s, &pool).write(path);
  const auto model = Model::load(path);
  const auto planned = synth_tensors(s);
  const auto& tensors = model->file().tensors();
  ASSERT_EQ(tensors.size(), planned.size());
  for (size_t i = 0; i < planned.size(); ++i) {
    EXPECT_EQ(tensors[i].name, planned[i].name);
    EXPECT_EQ(tensors[i].type, planned[i].type) << planned[i].name;
  }
  EXPECT_EQ(model->file().get_uint("general.file_type", 0), 15u);
  EXPECT_EQ(model->file().find_tensor("blk.0.attn_q.weight")->type, DType::Q5_0);  // 576 columns
  // Two layers: only the last is in the "last eighth" that gets more bits.
  EXPECT_EQ(model->file().find_tensor("blk.0.ffn_down.weight")->type, DType::Q4_K);
  EXPECT_EQ(model->file().find_tensor("blk.1.ffn_down.weight")->type, DType::Q6_K);
  const auto tok = Tokenizer::from_gguf(model->file());
  ForwardPass forward(*model, 16, &pool);
  const auto logits = forward.eval(tok->encode("Hello there, how are you?", true));
  ASSERT_EQ(logits.size(), 49152u);
  float lo = logits[0], hi = logits[0];
  for (float x : logits) {
    ASSERT_TRUE(std::isfinite(x));
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  EXPECT_GT(hi - lo, 0.1f);
}

// The encoder presets, from BAAI/bge-small-en-v1.5's and sentence-transformers/all-MiniLM-L6-v2's
// config.json (BertModel: 384 wide, 12 heads, intermediate 1536, 512 positions, 2 token types,
// layer_norm_eps 1e-12, vocab 30522) and their pooling configs (CLS; mean).
struct RealEncoder {
  const char* preset;
  int n_layer;
  Pooling pooling;
};

class EncoderPresetTest : public ::testing::TestWithParam<RealEncoder> {};

TEST_P(EncoderPresetTest, ConfigAndTensorsReadBackAsTheRealModel) {
  const RealEncoder& m = GetParam();
  SynthSpec spec = find_synth_preset(m.preset)->spec;
  const GgufFile file = parse(synth_metadata(spec));
  const ModelConfig c = config_from_gguf(file);
  EXPECT_STREQ(c.arch->name, "bert");
  EXPECT_EQ(c.n_vocab, 30522);
  EXPECT_EQ(c.n_embd, 384);
  EXPECT_EQ(c.n_layer, m.n_layer);
  EXPECT_EQ(c.n_head, 12);
  EXPECT_EQ(c.n_head_kv, 12);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.n_ff, 1536);
  EXPECT_EQ(c.n_ctx_train, 512);
  EXPECT_EQ(c.n_token_types, 2);
  EXPECT_EQ(c.pooling, m.pooling);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-12f);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "bert");

  spec.scheme = find_quant_scheme("Q8_0");
  std::unordered_map<std::string, TensorDesc> t;
  for (auto& d : synth_tensors(spec)) t.emplace(d.name, d);
  using Shape = std::vector<uint64_t>;
  EXPECT_EQ(t.at("token_embd.weight").shape, (Shape{384, 30522}));
  EXPECT_EQ(t.at("token_embd.weight").type, DType::Q8_0);
  EXPECT_EQ(t.at("token_types.weight").shape, (Shape{384, 2}));
  EXPECT_EQ(t.at("position_embd.weight").shape, (Shape{384, 512}));
  // As llama-quantize: the position and token-type tables keep their type.
  EXPECT_EQ(t.at("token_types.weight").type, DType::F32);
  EXPECT_EQ(t.at("position_embd.weight").type, DType::F32);
  EXPECT_EQ(t.at("token_embd_norm.bias").shape, (Shape{384}));
  EXPECT_EQ(t.count("output.weight") + t.count("output_norm.weight"), 0u);
  for (int l : {0, m.n_layer - 1}) {
    const std::string p = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(t.at(p + "attn_q.bias").shape, (Shape{384}));
    EXPECT_EQ(t.at(p + "attn_output.bias").shape, (Shape{384}));
    EXPECT_EQ(t.at(p + "attn_output_norm.weight").shape, (Shape{384}));
    EXPECT_EQ(t.at(p + "ffn_up.weight").shape, (Shape{384, 1536}));
    EXPECT_EQ(t.at(p + "ffn_up.bias").shape, (Shape{1536}));
    EXPECT_EQ(t.at(p + "ffn_down.weight").shape, (Shape{1536, 384}));
    EXPECT_EQ(t.at(p + "layer_output_norm.bias").shape, (Shape{384}));
    EXPECT_EQ(t.count(p + "ffn_gate.weight") + t.count(p + "attn_norm.weight") + t.count(p + "ffn_norm.weight"), 0u);
  }
  EXPECT_EQ(t.size(), 5u + 16u * static_cast<size_t>(m.n_layer));
}

// The generated WordPiece vocabulary: unique tokens, BERT's special ids (as in the real
// bge-small vocabulary), and lowercase text, digits and punctuation tokenize without [UNK].
TEST_P(EncoderPresetTest, WordPieceVocabularyTokenizesLikeBert) {
  const GgufFile file = parse(synth_metadata(find_synth_preset(GetParam().preset)->spec));
  const auto tok = Tokenizer::from_gguf(file);
  const auto real = Tokenizer::from_gguf(GgufFile::open(test::fixture("vocab/ggml-vocab-bert-bge.gguf")));
  std::set<std::string> unique(tok->vocab().pieces.begin(), tok->vocab().pieces.end());
  EXPECT_EQ(unique.size(), 30522u);
  for (const char* special : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
    EXPECT_EQ(tok->vocab().find(special), real->vocab().find(special)) << special;
  }
  const std::string text = "Hello World, the quick brown fox jumps over 12 lazy dogs!?";
  const auto ids = tok->encode(text, /*add_special=*/true);
  const auto real_ids = real->encode(text, /*add_special=*/true);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
  EXPECT_EQ(real_ids.front(), 101);
  EXPECT_EQ(real_ids.back(), 102);
  for (int32_t id : ids) EXPECT_NE(id, 100) << "[UNK] in " << text;
  // Split into other pieces than the real vocabulary's, but into the same words.
  EXPECT_EQ(tok->decode(ids), real->decode(real_ids));
  EXPECT_EQ(tok->decode(ids), "hello world , the quick brown fox jumps over 12 lazy dogs ! ?");
}

INSTANTIATE_TEST_SUITE_P(Presets, EncoderPresetTest,
                         ::testing::Values(RealEncoder{"bge-small", 12, Pooling::kCls},
                                           RealEncoder{"all-minilm-l6", 6, Pooling::kMean}),
                         [](const auto& info) {
                           std::string n = info.param.preset;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

}  // namespace
}  // namespace rpu
