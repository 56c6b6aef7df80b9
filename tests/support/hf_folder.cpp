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

std::string gguf_name(const std::string& hf) {
  static const std::vector<std::pair<std::string, std::string>> kNames = {
      {"model.embed_tokens.weight", "token_embd.weight"}, {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"input_layernorm.weight", "attn_norm.weight"},     {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},       {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},  {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},           {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},  {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},            {"mlp.down_proj.weight", "ffn_down.weight"}};
  for (const auto& [from, to] : kNames) {
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
  const auto n_vocab = static_cast<uint64_t>(a.vocab.pieces.size());
  const auto embd = static_cast<uint64_t>(spec.n_embd), ff = static_cast<uint64_t>(spec.n_ff);
  const auto q = static_cast<uint64_t>(spec.n_head * spec.head_dim), kv = static_cast<uint64_t>(spec.n_head_kv * spec.head_dim);
  add(a, rng, "model.embed_tokens.weight", {n_vocab, embd}, 0.5f);
  add(a, rng, "model.norm.weight", {embd}, 0.2f, 1.0f);
  if (!spec.tied) add(a, rng, "lm_head.weight", {n_vocab, embd}, 0.3f);
  for (int l = 0; l < spec.n_layer; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(a, rng, p + "input_layernorm.weight", {embd}, 0.2f, 1.0f);
    add(a, rng, p + "self_attn.q_proj.weight", {q, embd}, 0.3f);
    add(a, rng, p + "self_attn.k_proj.weight", {kv, embd}, 0.3f);
    add(a, rng, p + "self_attn.v_proj.weight", {kv, embd}, 0.3f);
    add(a, rng, p + "self_attn.o_proj.weight", {embd, q}, 0.3f);
    if (spec.model_type == "qwen2") {
      add(a, rng, p + "self_attn.q_proj.bias", {q}, 0.2f);
      add(a, rng, p + "self_attn.k_proj.bias", {kv}, 0.2f);
      add(a, rng, p + "self_attn.v_proj.bias", {kv}, 0.2f);
    }
    if (spec.model_type == "qwen3") {
      add(a, rng, p + "self_attn.q_norm.weight", {static_cast<uint64_t>(spec.head_dim)}, 0.2f, 1.0f);
      add(a, rng, p + "self_attn.k_norm.weight", {static_cast<uint64_t>(spec.head_dim)}, 0.2f, 1.0f);
    }
    add(a, rng, p + "post_attention_layernorm.weight", {embd}, 0.2f, 1.0f);
    add(a, rng, p + "mlp.gate_proj.weight", {ff, embd}, 0.3f);
    add(a, rng, p + "mlp.up_proj.weight", {ff, embd}, 0.3f);
    add(a, rng, p + "mlp.down_proj.weight", {embd, ff}, 0.3f);
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

void write_hf_folder(const HfArrays& a, const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const HfSpec& s = a.spec;
  json config = {{"architectures", {s.model_type == "llama" ? "LlamaForCausalLM" : "Qwen2ForCausalLM"}},
                 {"model_type", s.model_type},       {"hidden_size", s.n_embd},
                 {"num_hidden_layers", s.n_layer},   {"num_attention_heads", s.n_head},
                 {"num_key_value_heads", s.n_head_kv}, {"head_dim", s.head_dim},
                 {"intermediate_size", s.n_ff},      {"max_position_embeddings", 256},
                 {"rms_norm_eps", 1e-5},             {"rope_theta", 10000.0},
                 {"tie_word_embeddings", s.tied},    {"vocab_size", a.vocab.pieces.size()},
                 {"torch_dtype", s.dtype == "F32" ? "float32" : s.dtype == "F16" ? "float16" : "bfloat16"}};
  write_file(dir + "/config.json", config.dump(2));
  const int eos = static_cast<int>(a.vocab.pieces.size()) - 1;
  write_file(dir + "/generation_config.json", json{{"eos_token_id", eos}}.dump());
  write_file(dir + "/tokenizer.json", tokenizer_json(a.vocab, s.model_type == "llama" ? kLlama3Regex : kQwen2Regex));
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

std::vector<uint8_t> reference_gguf(const HfArrays& a) {
  const HfSpec& s = a.spec;
  const std::string arch = s.model_type;
  GgufWriter w;
  w.set("general.architecture", GgufValue::str(arch));
  w.set(arch + ".embedding_length", GgufValue::u32(static_cast<uint32_t>(s.n_embd)));
  w.set(arch + ".block_count", GgufValue::u32(static_cast<uint32_t>(s.n_layer)));
  w.set(arch + ".attention.head_count", GgufValue::u32(static_cast<uint32_t>(s.n_head)));
  w.set(arch + ".attention.head_count_kv", GgufValue::u32(static_cast<uint32_t>(s.n_head_kv)));
  w.set(arch + ".attention.key_length", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  w.set(arch + ".attention.value_length", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  w.set(arch + ".feed_forward_length", GgufValue::u32(static_cast<uint32_t>(s.n_ff)));
  w.set(arch + ".context_length", GgufValue::u32(256));
  w.set(arch + ".attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
  w.set(arch + ".rope.freq_base", GgufValue::f32(10000.0f));
  w.set("tokenizer.ggml.model", GgufValue::str("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::str(arch == "llama" ? "llama-bpe" : "qwen2"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(a.vocab.pieces));
  std::vector<int32_t> types(a.vocab.pieces.size(), 1);
  types.back() = 3;
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  w.set("tokenizer.ggml.merges", GgufValue::str_array(a.vocab.merges));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(a.vocab.pieces.size() - 1)));
  for (const HfTensor& t : a.tensors) {
    std::vector<float> values = t.values;
    if (arch == "llama" && t.name.find("q_proj") != std::string::npos) values = interleave_rows(t, s.n_head);
    if (arch == "llama" && t.name.find("k_proj") != std::string::npos) values = interleave_rows(t, s.n_head_kv);
    std::vector<uint64_t> shape(t.shape.rbegin(), t.shape.rend());
    std::string bytes;
    for (float v : values) append_value(bytes, "F32", v);
    w.add_tensor(gguf_name(t.name), DType::F32, shape, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  }
  return w.to_bytes();
}

}  // namespace rpu::test
