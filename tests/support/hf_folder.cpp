#include "hf_folder.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "core/fp16.h"
#include "core/rng.h"
#include "io/gguf.h"
#include "test_util.h"

namespace rpu::test {
namespace {

using json = nlohmann::json;

// The pre-tokenizer regexes as the published tokenizer.json files spell them.
const char* const kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

float round_to(const std::string& dtype, float v) {
  if (dtype == "F16") return f16_to_f32(f32_to_f16(v));
  if (dtype == "BF16") return bf16_to_f32(f32_to_bf16(v));
  return v;
}

void append_value(std::string& out, const std::string& dtype, float v) {
  if (dtype == "F32") {
    char b[4];
    std::memcpy(b, &v, 4);
    out.append(b, 4);
    return;
  }
  const uint16_t h = dtype == "F16" ? f32_to_f16(v) : f32_to_bf16(v);
  out.push_back(static_cast<char>(h & 0xff));
  out.push_back(static_cast<char>(h >> 8));
}

void add(HfArrays& a, Rng& rng, const std::string& name, std::vector<uint64_t> shape, float scale, float offset = 0) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  HfTensor t{name, std::move(shape), std::vector<float>(n)};
  for (float& v : t.values) v = round_to(a.spec.dtype, offset + scale * static_cast<float>(rng.uniform() * 2 - 1));
  a.tensors.push_back(std::move(t));
}

// GGUF row r of a llama q/k projection is HF row (head, r % 2 half, r / 2 within the half).
std::vector<float> interleave_rows(const HfTensor& t, int n_head) {
  const uint64_t rows = t.shape[0], cols = t.shape.size() > 1 ? t.shape[1] : 1;
  const uint64_t head = rows / static_cast<uint64_t>(n_head), half = head / 2;
  std::vector<float> out(t.values.size());
  for (uint64_t r = 0; r < rows; ++r) {
    const uint64_t src = (r / head) * head + (r % head % 2) * half + (r % head) / 2;
    std::copy_n(t.values.begin() + static_cast<std::ptrdiff_t>(src * cols), cols, out.begin() + static_cast<std::ptrdiff_t>(r * cols));
  }
  return out;
}

bool is_gemma(const std::string& type) { return type.rfind("gemma", 0) == 0; }
bool is_gemma3(const std::string& type) { return type.rfind("gemma3", 0) == 0; }
std::string gguf_arch(const std::string& type) { return is_gemma3(type) ? "gemma3" : type; }

// Phi-3's rotated part of each head (partial_rotary_factor 0.75) and its longrope factors.
constexpr double kPhi3RotaryFactor = 0.75;
constexpr int kPhi3OrigContext = 64;
int rope_dim(const HfSpec& s) {
  return s.model_type == "phi3" ? static_cast<int>(kPhi3RotaryFactor * s.n_embd) / s.n_head : s.head_dim;
}
std::vector<float> phi3_factors(const HfSpec& s, float step) {
  std::vector<float> f(static_cast<size_t>(rope_dim(s) / 2));
  for (size_t i = 0; i < f.size(); ++i) f[i] = 1.0f + step * static_cast<float>(i);
  return f;
}

std::string gguf_name(const std::string& hf_name, const std::string& type) {
  std::string hf = hf_name;
  if (hf.rfind("vision_tower.", 0) == 0 || hf.rfind("multi_modal_projector.", 0) == 0) return "";
  if (hf.rfind("language_model.", 0) == 0) hf = hf.substr(std::strlen("language_model."));
  std::vector<std::pair<std::string, std::string>> names;
  if (is_gemma(type)) {
    names = {{"post_attention_layernorm.weight", "post_attention_norm.weight"},
             {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
             {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"}};
  }
  if (type == "phi3") names = {{"self_attn.qkv_proj.weight", "attn_qkv.weight"}, {"mlp.gate_up_proj.weight", "ffn_up.weight"}};
  names.insert(names.end(), {
      {"model.embed_tokens.weight", "token_embd.weight"}, {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"input_layernorm.weight", "attn_norm.weight"},     {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},       {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},  {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},           {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},  {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},            {"mlp.down_proj.weight", "ffn_down.weight"}});
  for (const auto& [from, to] : names) {
    if (hf == from) return to;
    int layer = -1;
    if (std::sscanf(hf.c_str(), "model.layers.%d.", &layer) == 1) {
      const std::string prefix = "model.layers." + std::to_string(layer) + ".";
      if (hf.substr(prefix.size()) == from) return "blk." + std::to_string(layer) + "." + to;
    }
  }
  return "";
}

}  // namespace

HfTestVocab small_gpt2_vocab() {
  static const HfTestVocab vocab = [] {
    const GgufFile f = GgufFile::open(fixture("vocab/ggml-vocab-gpt-2.gguf"));
    HfTestVocab v;
    const auto& tokens = f.require("tokenizer.ggml.tokens").as_array();
    std::set<std::string> kept;
    for (size_t i = 0; i < 512; ++i) {
      v.pieces.push_back(tokens[i].as_string());
      kept.insert(v.pieces.back());
    }
    for (const auto& m : f.require("tokenizer.ggml.merges").as_array()) {
      const std::string& s = m.as_string();
      const size_t space = s.find(' ', 1);
      if (kept.count(s.substr(0, space)) && kept.count(s.substr(space + 1)) &&
          kept.count(s.substr(0, space) + s.substr(space + 1))) {
        v.merges.push_back(s);
      }
    }
    v.pieces.push_back("<|endoftext|>");
    return v;
  }();
  return vocab;
}

HfArrays random_hf_arrays(const HfSpec& spec) {
  HfArrays a{spec, small_gpt2_vocab(), {}};
  Rng rng(spec.seed);
  const std::string& type = spec.model_type;
  const auto n_vocab = static_cast<uint64_t>(a.vocab.pieces.size());
  const auto embd = static_cast<uint64_t>(spec.n_embd), ff = static_cast<uint64_t>(spec.n_ff);
  const auto q = static_cast<uint64_t>(spec.n_head * spec.head_dim), kv = static_cast<uint64_t>(spec.n_head_kv * spec.head_dim);
  const auto head = static_cast<uint64_t>(spec.head_dim);
  const float norm = is_gemma(type) ? 0.0f : 1.0f;  // gemma stores RMSNorm weights as w - 1
  const std::string m = type == "gemma3" ? "language_model.model." : "model.";
  add(a, rng, m + "embed_tokens.weight", {n_vocab, embd}, 0.5f);
  add(a, rng, m + "norm.weight", {embd}, 0.2f, norm);
  if (!spec.tied) add(a, rng, type == "gemma3" ? "language_model.lm_head.weight" : "lm_head.weight", {n_vocab, embd}, 0.3f);
  for (int l = 0; l < spec.n_layer; ++l) {
    const std::string p = m + "layers." + std::to_string(l) + ".";
    add(a, rng, p + "input_layernorm.weight", {embd}, 0.2f, norm);
    if (type == "phi3") {
      add(a, rng, p + "self_attn.qkv_proj.weight", {q + 2 * kv, embd}, 0.3f);
    } else {
      add(a, rng, p + "self_attn.q_proj.weight", {q, embd}, 0.3f);
      add(a, rng, p + "self_attn.k_proj.weight", {kv, embd}, 0.3f);
      add(a, rng, p + "self_attn.v_proj.weight", {kv, embd}, 0.3f);
    }
    add(a, rng, p + "self_attn.o_proj.weight", {embd, q}, 0.3f);
    if (type == "qwen2") {
      add(a, rng, p + "self_attn.q_proj.bias", {q}, 0.2f);
      add(a, rng, p + "self_attn.k_proj.bias", {kv}, 0.2f);
      add(a, rng, p + "self_attn.v_proj.bias", {kv}, 0.2f);
    }
    if (type == "qwen3" || is_gemma3(type)) {
      add(a, rng, p + "self_attn.q_norm.weight", {head}, 0.2f, norm);
      add(a, rng, p + "self_attn.k_norm.weight", {head}, 0.2f, norm);
    }
    add(a, rng, p + "post_attention_layernorm.weight", {embd}, 0.2f, norm);
    if (is_gemma(type)) {
      add(a, rng, p + "pre_feedforward_layernorm.weight", {embd}, 0.2f, norm);
      add(a, rng, p + "post_feedforward_layernorm.weight", {embd}, 0.2f, norm);
    }
    if (type == "phi3") {
      add(a, rng, p + "mlp.gate_up_proj.weight", {2 * ff, embd}, 0.3f);
    } else {
      add(a, rng, p + "mlp.gate_proj.weight", {ff, embd}, 0.3f);
      add(a, rng, p + "mlp.up_proj.weight", {ff, embd}, 0.3f);
    }
    add(a, rng, p + "mlp.down_proj.weight", {embd, ff}, 0.3f);
  }
  if (type == "gemma3") {  // the vision half of the checkpoint, which the importer leaves out
    add(a, rng, "vision_tower.vision_model.embeddings.patch_embedding.weight", {8, 3, 2, 2}, 0.3f);
    add(a, rng, "multi_modal_projector.mm_input_projection_weight", {8, embd}, 0.3f);
  }
  return a;
}

std::string safetensors_bytes(const std::vector<const HfTensor*>& tensors, const std::string& dtype,
                              const std::string& metadata_json) {
  json header = json::object();
  if (!metadata_json.empty()) header["__metadata__"] = json::parse(metadata_json);
  std::string data;
  for (const HfTensor* t : tensors) {
    const uint64_t begin = data.size();
    for (float v : t->values) append_value(data, dtype, v);
    header[t->name] = {{"dtype", dtype}, {"shape", t->shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';  // the reference writer pads the header with spaces
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return out + text + data;
}

std::string tokenizer_json(const HfTestVocab& vocab, const std::string& split_regex) {
  json vocab_json = json::object();
  for (size_t i = 0; i + 1 < vocab.pieces.size(); ++i) vocab_json[vocab.pieces[i]] = i;
  json merges = json::array();
  for (const std::string& m : vocab.merges) merges.push_back(m);
  const size_t special = vocab.pieces.size() - 1;
  json tok = {
      {"version", "1.0"},
      {"added_tokens", {{{"id", special}, {"content", vocab.pieces[special]}, {"single_word", false}, {"lstrip", false},
                         {"rstrip", false}, {"normalized", false}, {"special", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", split_regex}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab_json}, {"merges", merges}}}};
  return tok.dump();
}

namespace {

const char* architecture_class(const std::string& type) {
  if (type == "llama") return "LlamaForCausalLM";
  if (type == "smollm3") return "SmolLM3ForCausalLM";
  if (type == "phi3") return "Phi3ForCausalLM";
  if (type == "gemma2") return "Gemma2ForCausalLM";
  if (type == "gemma3_text") return "Gemma3ForCausalLM";
  if (type == "gemma3") return "Gemma3ForConditionalGeneration";
  return type == "qwen3" ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM";
}

// Each architecture's config.json as transformers writes it (the keys the importer reads).
json config_json(const HfArrays& a) {
  const HfSpec& s = a.spec;
  const std::string& type = s.model_type;
  json c = {{"architectures", {architecture_class(type)}},
            {"model_type", type},       {"hidden_size", s.n_embd},
            {"num_hidden_layers", s.n_layer},   {"num_attention_heads", s.n_head},
            {"num_key_value_heads", s.n_head_kv}, {"head_dim", s.head_dim},
            {"intermediate_size", s.n_ff},      {"max_position_embeddings", 256},
            {"rms_norm_eps", is_gemma(type) ? 1e-6 : 1e-5}, {"rope_theta", is_gemma3(type) ? 1e6 : 10000.0},
            {"tie_word_embeddings", s.tied},    {"vocab_size", a.vocab.pieces.size()},
            {"torch_dtype", s.dtype == "F32" ? "float32" : s.dtype == "F16" ? "float16" : "bfloat16"}};
  json layer_types = json::array(), no_rope = json::array();
  for (int l = 0; l < s.n_layer; ++l) {
    const int period = type == "gemma2" ? 2 : 6;
    layer_types.push_back((l + 1) % period != 0 ? "sliding_attention" : "full_attention");
    no_rope.push_back((l + 1) % 4 != 0 ? 1 : 0);
  }
  if (type == "smollm3") {
    c["no_rope_layers"] = no_rope;
    c["no_rope_layer_interval"] = 4;
  }
  if (type == "phi3") {
    c.erase("head_dim");
    c["partial_rotary_factor"] = kPhi3RotaryFactor;
    c["original_max_position_embeddings"] = kPhi3OrigContext;
    c["sliding_window"] = nullptr;
    c["rope_scaling"] = {{"type", "longrope"}, {"long_factor", phi3_factors(s, 0.5f)}, {"short_factor", phi3_factors(s, 0.125f)}};
  }
  if (is_gemma(type)) {
    c["sliding_window"] = 4;
    c["query_pre_attn_scalar"] = s.head_dim;
    c["hidden_activation"] = "gelu_pytorch_tanh";
    c["layer_types"] = layer_types;
  }
  if (type == "gemma2") {
    c["attn_logit_softcapping"] = 50.0;
    c["final_logit_softcapping"] = 30.0;
  }
  if (is_gemma3(type)) {
    c["rope_local_base_freq"] = 10000.0;
    c["sliding_window_pattern"] = 6;
    c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
    c["attn_logit_softcapping"] = nullptr;
    c["final_logit_softcapping"] = nullptr;
  }
  if (type != "gemma3") return c;
  // Multimodal: the language model's config nested, leaving out what Gemma3TextConfig defaults.
  c["model_type"] = "gemma3_text";
  for (const char* key : {"num_attention_heads", "num_key_value_heads", "head_dim", "architectures"}) c.erase(key);
  return {{"architectures", {architecture_class(type)}},
          {"model_type", type},
          {"text_config", c},
          {"vision_config", {{"model_type", "siglip_vision_model"}, {"hidden_size", 8}}}};
}

}  // namespace

void write_hf_folder(const HfArrays& a, const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const HfSpec& s = a.spec;
  const json config = config_json(a);
  write_file(dir + "/config.json", config.dump(2));
  const int eos = static_cast<int>(a.vocab.pieces.size()) - 1;
  write_file(dir + "/generation_config.json", json{{"eos_token_id", eos}}.dump());
  const bool llama3_regex = s.model_type == "llama" || s.model_type == "smollm3";
  write_file(dir + "/tokenizer.json", tokenizer_json(a.vocab, llama3_regex ? kLlama3Regex : kQwen2Regex));
  write_file(dir + "/tokenizer_config.json",
             json{{"eos_token", "<|endoftext|>"}, {"bos_token", nullptr}, {"add_bos_token", false},
                  {"chat_template", "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"}}
                 .dump());
  if (s.shards <= 1) {
    std::vector<const HfTensor*> all;
    for (const auto& t : a.tensors) all.push_back(&t);
    write_file(dir + "/model.safetensors", safetensors_bytes(all, s.dtype, R"({"format": "pt"})"));
    return;
  }
  json weight_map = json::object();
  std::vector<std::vector<const HfTensor*>> shards(static_cast<size_t>(s.shards));
  for (size_t i = 0; i < a.tensors.size(); ++i) shards[i % shards.size()].push_back(&a.tensors[i]);
  for (size_t k = 0; k < shards.size(); ++k) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05d.safetensors", k + 1, s.shards);
    write_file(dir + "/" + name, safetensors_bytes(shards[k], s.dtype, R"({"format": "pt"})"));
    for (const HfTensor* t : shards[k]) weight_map[t->name] = name;
  }
  write_file(dir + "/model.safetensors.index.json", json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump());
}

namespace {

// The architecture's own keys, as llama.cpp's converter writes them.
void reference_arch_keys(const HfSpec& s, const std::string& arch, GgufWriter& w) {
  const std::string& type = s.model_type;
  if (type == "phi3") {
    const double scale = 256.0 / kPhi3OrigContext;
    w.set(arch + ".rope.dimension_count", GgufValue::u32(static_cast<uint32_t>(rope_dim(s))));
    w.set(arch + ".rope.scaling.original_context_length", GgufValue::u32(kPhi3OrigContext));
    w.set(arch + ".rope.scaling.attn_factor", GgufValue::f32(static_cast<float>(std::sqrt(1 + std::log(scale) / std::log(kPhi3OrigContext)))));
    w.set(arch + ".attention.sliding_window", GgufValue::u32(0));
  }
  if (is_gemma(type)) w.set(arch + ".attention.sliding_window", GgufValue::u32(4));
  if (type == "gemma2") {
    w.set(arch + ".attn_logit_softcapping", GgufValue::f32(50.0f));
    w.set(arch + ".final_logit_softcapping", GgufValue::f32(30.0f));
  }
  if (is_gemma3(type)) {
    w.set(arch + ".rope.freq_base_swa", GgufValue::f32(10000.0f));
    w.set(arch + ".rope.scaling.type", GgufValue::str("linear"));
    w.set(arch + ".rope.scaling.factor", GgufValue::f32(8.0f));
  }
}

void add_f32(GgufWriter& w, const std::string& name, const std::vector<uint64_t>& shape, const std::vector<float>& values) {
  std::string bytes;
  for (float v : values) append_value(bytes, "F32", v);
  w.add_tensor(name, DType::F32, shape, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

}  // namespace

std::vector<uint8_t> reference_gguf(const HfArrays& a) {
  const HfSpec& s = a.spec;
  const std::string& type = s.model_type;
  const std::string arch = gguf_arch(type);
  GgufWriter w;
  w.set("general.architecture", GgufValue::str(arch));
  w.set(arch + ".embedding_length", GgufValue::u32(static_cast<uint32_t>(s.n_embd)));
  w.set(arch + ".block_count", GgufValue::u32(static_cast<uint32_t>(s.n_layer)));
  w.set(arch + ".attention.head_count", GgufValue::u32(static_cast<uint32_t>(s.n_head)));
  w.set(arch + ".attention.head_count_kv", GgufValue::u32(static_cast<uint32_t>(s.n_head_kv)));
  if (type != "phi3") {  // Phi3Config has no head_dim: n_embd / n_head
    w.set(arch + ".attention.key_length", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
    w.set(arch + ".attention.value_length", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  }
  w.set(arch + ".feed_forward_length", GgufValue::u32(static_cast<uint32_t>(s.n_ff)));
  w.set(arch + ".context_length", GgufValue::u32(256));
  w.set(arch + ".attention.layer_norm_rms_epsilon", GgufValue::f32(is_gemma(type) ? 1e-6f : 1e-5f));
  w.set(arch + ".rope.freq_base", GgufValue::f32(is_gemma3(type) ? 1e6f : 10000.0f));
  reference_arch_keys(s, arch, w);
  w.set("tokenizer.ggml.model", GgufValue::str("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::str(type == "llama" || type == "smollm3" ? "llama-bpe" : "qwen2"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(a.vocab.pieces));
  std::vector<int32_t> types(a.vocab.pieces.size(), 1);
  types.back() = 3;
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.merges", GgufValue::str_array(a.vocab.merges));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(a.vocab.pieces.size() - 1)));
  if (type == "phi3") {
    const auto half = static_cast<uint64_t>(rope_dim(s) / 2);
    add_f32(w, "rope_factors_long.weight", {half}, phi3_factors(s, 0.5f));
    add_f32(w, "rope_factors_short.weight", {half}, phi3_factors(s, 0.125f));
  }
  const bool permuted = type == "llama" || type == "smollm3";  // GGUF rotates adjacent pairs
  for (const HfTensor& t : a.tensors) {
    const std::string name = gguf_name(t.name, type);
    if (name.empty()) continue;  // a vision tower
    std::vector<float> values = t.values;
    if (permuted && t.name.find("q_proj") != std::string::npos) values = interleave_rows(t, s.n_head);
    if (permuted && t.name.find("k_proj") != std::string::npos) values = interleave_rows(t, s.n_head_kv);
    if (is_gemma(type) && name.size() > 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0) {
      for (float& v : values) v += 1.0f;  // GGUF holds the factor itself
    }
    add_f32(w, name, {t.shape.rbegin(), t.shape.rend()}, values);
  }
  return w.to_bytes();
}

}  // namespace rpu::test
