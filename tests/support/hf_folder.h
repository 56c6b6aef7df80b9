// Hugging Face model folders for tests, written from random arrays: config.json, safetensors
// (one file or shards with model.safetensors.index.json), tokenizer.json built from the first
// 512 tokens of the gpt-2 fixture vocabulary (plus one special token), tokenizer_config.json
// and generation_config.json; and the same arrays as a GGUF file written with rpu's GgufWriter
// and GGUF names (llama's q/k rows interleaved as GGUF stores them, gemma's norms + 1, phi3's
// rope factors), the oracle for the importer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rpu::test {

struct HfSpec {
  // llama, qwen2, qwen3, smollm3 (no_rope_layers), phi3 (fused projections, partial rotary,
  // longrope), gemma2 (window 4, soft caps), gemma3_text (window 4, one global layer in six,
  // linear rope scaling), gemma3 (the same as a multimodal checkpoint: text_config without the
  // head counts and head size, which must then be 8, 4 and 256, and a vision tower to skip).
  std::string model_type = "llama";
  int n_embd = 64, n_layer = 2, n_head = 4, n_head_kv = 2, head_dim = 16, n_ff = 96;
  bool tied = false;           // no lm_head.weight (tie_word_embeddings)
  std::string dtype = "F32";   // F32, F16, BF16 (values are rounded to it, so both sides agree)
  int shards = 1;
  uint64_t seed = 1;
};

struct HfTensor {
  std::string name;              // Hugging Face name
  std::vector<uint64_t> shape;   // outermost axis first
  std::vector<float> values;     // row-major, exactly representable in the spec's dtype
};

struct HfTestVocab {
  std::vector<std::string> pieces;  // byte-level BPE pieces; the last is "<|endoftext|>" (special)
  std::vector<std::string> merges;  // "a b", every part and result in pieces
};

struct HfArrays {
  HfSpec spec;
  HfTestVocab vocab;
  std::vector<HfTensor> tensors;
};

HfTestVocab small_gpt2_vocab();  // from the fixture, cached
HfArrays random_hf_arrays(const HfSpec& spec);

// A safetensors file of `tensors` in `dtype`; metadata_json ("" = none) is the "__metadata__" object.
std::string safetensors_bytes(const std::vector<const HfTensor*>& tensors, const std::string& dtype,
                              const std::string& metadata_json = "");
std::string tokenizer_json(const HfTestVocab& vocab, const std::string& split_regex);
void write_hf_folder(const HfArrays& arrays, const std::string& dir);
// The same model as GGUF bytes, every tensor F32 (the values are exact in the spec's dtype).
std::vector<uint8_t> reference_gguf(const HfArrays& arrays);

}  // namespace rpu::test
