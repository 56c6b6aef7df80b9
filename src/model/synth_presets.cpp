#include "model/synth_presets.h"

#include <fmt/format.h>

#include <vector>

namespace rpu {
namespace {

// Short templates with the real models' turn markers (the real ones add tool calling).
constexpr const char* kChatMl =
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
constexpr const char* kLlama3Chat =
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if "
    "add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

std::vector<SpecialToken> numbered(int32_t first_id, const std::vector<std::pair<std::string, bool>>& texts) {
  std::vector<SpecialToken> out;
  for (const auto& [text, control] : texts) out.push_back({first_id++, text, control});
  return out;
}

// SmolLM2-135M(-Instruct): Llama layout, 576 wide, 30 layers, 9 heads over 3 KV heads,
// tied embeddings; its 17 special tokens come first in the 49,152-token vocabulary.
SynthPreset smollm2_135m() {
  SynthSpec s;
  s.arch = "llama";
  s.name = "rpu-synth-smollm2-135m";
  s.n_vocab = 49152;
  s.n_embd = 576;
  s.n_layer = 30;
  s.n_head = 9;
  s.n_head_kv = 3;
  s.n_ff = 1536;
  s.n_ctx = 8192;
  s.rope_theta = 100000.0f;
  s.rms_eps = 1e-5f;
  s.tied_output = true;
  BpeVocabSpec v;
  v.pre = "smollm";
  v.specials = numbered(0, {{"<|endoftext|>", true}, {"<|im_start|>", true}, {"<|im_end|>", true},
                            {"<repo_name>", true}, {"<reponame>", true}, {"<file_sep>", true}, {"<filename>", true},
                            {"<gh_stars>", true}, {"<issue_start>", true}, {"<issue_comment>", true},
                            {"<issue_closed>", true}, {"<jupyter_start>", true}, {"<jupyter_text>", true},
                            {"<jupyter_code>", true}, {"<jupyter_output>", true}, {"<jupyter_script>", true},
                            {"<empty_output>", true}});
  v.n_text = s.n_vocab - static_cast<int>(v.specials.size());
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.pad = 2;
  v.add_bos = false;
  v.chat_template = kChatMl;
  s.bpe = v;
  return {"smollm2-135m", "SmolLM2-135M-Instruct (llama, 30 x 576, GQA 9/3, vocab 49152, tied)", s};
}

// Qwen2.5's 151,643 byte-level tokens, then its added tokens (the last ones are not
// "special", so llama.cpp's converter marks them USER_DEFINED), padded to 151,936 rows.
std::vector<SpecialToken> qwen_specials(bool qwen3) {
  std::vector<std::pair<std::string, bool>> texts = {
      {"<|endoftext|>", true},   {"<|im_start|>", true},      {"<|im_end|>", true},     {"<|object_ref_start|>", true},
      {"<|object_ref_end|>", true}, {"<|box_start|>", true},   {"<|box_end|>", true},    {"<|quad_start|>", true},
      {"<|quad_end|>", true},    {"<|vision_start|>", true},  {"<|vision_end|>", true}, {"<|vision_pad|>", true},
      {"<|image_pad|>", true},   {"<|video_pad|>", true},     {"<tool_call>", false},   {"</tool_call>", false},
      {"<|fim_prefix|>", false}, {"<|fim_middle|>", false},   {"<|fim_suffix|>", false}, {"<|fim_pad|>", false},
      {"<|repo_name|>", false},  {"<|file_sep|>", false}};
  if (qwen3) {
    for (const char* t : {"<tool_response>", "</tool_response>", "<think>", "</think>"}) texts.emplace_back(t, false);
  }
  return numbered(151643, texts);
}

BpeVocabSpec qwen_vocab(bool qwen3) {
  BpeVocabSpec v;
  v.pre = "qwen2";
  v.n_text = 151643;
  v.specials = qwen_specials(qwen3);
  v.bos = 151643;
  v.eos = 151645;
  v.pad = 151643;
  v.add_bos = false;
  v.chat_template = kChatMl;
  return v;
}

// Qwen2.5-0.5B(-Instruct): 896 wide, 24 layers, 14 heads over 2 KV heads, q/k/v biases.
SynthPreset qwen25_05b() {
  SynthSpec s;
  s.arch = "qwen2";
  s.name = "rpu-synth-qwen2.5-0.5b";
  s.n_vocab = 151936;
  s.n_embd = 896;
  s.n_layer = 24;
  s.n_head = 14;
  s.n_head_kv = 2;
  s.n_ff = 4864;
  s.n_ctx = 32768;
  s.rope_theta = 1000000.0f;
  s.rms_eps = 1e-6f;
  s.tied_output = true;
  s.qkv_bias = true;
  s.bpe = qwen_vocab(false);
  return {"qwen2.5-0.5b", "Qwen2.5-0.5B-Instruct (qwen2, 24 x 896, GQA 14/2, qkv bias, vocab 151936, tied)", s};
}

// Qwen3-0.6B: 1024 wide, 28 layers, 16 heads of 128 over 8 KV heads (q is 2048 wide),
// per-head q/k RMSNorm, no biases.
SynthPreset qwen3_06b() {
  SynthSpec s;
  s.arch = "qwen3";
  s.name = "rpu-synth-qwen3-0.6b";
  s.n_vocab = 151936;
  s.n_embd = 1024;
  s.n_layer = 28;
  s.n_head = 16;
  s.n_head_kv = 8;
  s.head_dim = 128;
  s.n_ff = 3072;
  s.n_ctx = 40960;
  s.rope_theta = 1000000.0f;
  s.rms_eps = 1e-6f;
  s.tied_output = true;
  s.qk_norm = true;
  s.bpe = qwen_vocab(true);
  return {"qwen3-0.6b", "Qwen3-0.6B (qwen3, 28 x 1024, 16 heads of 128 over 8 KV, q/k norm, vocab 151936, tied)", s};
}

// Llama-3.2-1B(-Instruct): 2048 wide, 16 layers, 32 heads over 8 KV heads, llama3 rope
// scaling (factor 32, low/high frequency factors 1/4, original context 8192), tied; 128,000
// byte-level tokens then 256 special tokens.
SynthPreset llama32_1b() {
  SynthSpec s;
  s.arch = "llama";
  s.name = "rpu-synth-llama3.2-1b";
  s.n_vocab = 128256;
  s.n_embd = 2048;
  s.n_layer = 16;
  s.n_head = 32;
  s.n_head_kv = 8;
  s.n_ff = 8192;
  s.n_ctx = 131072;
  s.rope_theta = 500000.0f;
  s.rms_eps = 1e-5f;
  s.tied_output = true;
  s.llama3_rope = true;
  s.llama3_factor = 32.0f;
  s.llama3_low_freq_factor = 1.0f;
  s.llama3_high_freq_factor = 4.0f;
  s.llama3_original_ctx = 8192;
  BpeVocabSpec v;
  v.pre = "llama-bpe";
  v.n_text = 128000;
  std::vector<std::pair<std::string, bool>> texts = {
      {"<|begin_of_text|>", true}, {"<|end_of_text|>", true},  {"<|reserved_special_token_0|>", true},
      {"<|reserved_special_token_1|>", true}, {"<|finetune_right_pad_id|>", true}, {"<|reserved_special_token_2|>", true},
      {"<|start_header_id|>", true}, {"<|end_header_id|>", true}, {"<|eom_id|>", true},
      {"<|eot_id|>", true},        {"<|python_tag|>", true}};
  for (int i = 3; texts.size() < 256; ++i) texts.emplace_back(fmt::format("<|reserved_special_token_{}|>", i), true);
  v.specials = numbered(128000, texts);
  v.bos = 128000;
  v.eos = 128009;
  v.add_bos = true;
  v.chat_template = kLlama3Chat;
  s.bpe = v;
  return {"llama3.2-1b", "Llama-3.2-1B-Instruct (llama, 16 x 2048, GQA 32/8, llama3 rope x32, vocab 128256, tied)", s};
}

// SmolLM2's tokenizer and chat markup on a 4 x 64 body: a real vocabulary and template in
// a model small enough for end-to-end tests of the server (about 3.3 M parameters).
SynthPreset tiny() {
  SynthPreset p = smollm2_135m();
  p.name = "tiny";
  p.description = "test model: SmolLM2's tokenizer and chat template, llama, 4 x 64, GQA 4/2, tied";
  p.spec.name = "rpu-synth-tiny";
  p.spec.n_embd = 64;
  p.spec.n_layer = 4;
  p.spec.n_head = 4;
  p.spec.n_head_kv = 2;
  p.spec.n_ff = 192;
  p.spec.n_ctx = 4096;
  return p;
}

// BGE-small-en-v1.5: BERT encoder, 12 x 384, 12 heads, FFN 1536, 512 positions, BERT's
// 30,522-token uncased WordPiece vocabulary, 2 token types, CLS pooling.
SynthPreset bge_small() {
  SynthSpec s;
  s.arch = "bert";
  s.name = "rpu-synth-bge-small";
  s.n_vocab = 30522;
  s.n_embd = 384;
  s.n_layer = 12;
  s.n_head = 12;
  s.n_head_kv = 12;
  s.n_ff = 1536;
  s.n_ctx = 512;
  s.n_token_types = 2;
  s.pooling = Pooling::kCls;
  s.layer_norm_eps = 1e-12f;
  s.qkv_bias = true;
  s.wordpiece = true;
  return {"bge-small", "BGE-small-en-v1.5 (bert encoder, 12 x 384, 12 heads, 512 positions, vocab 30522, CLS pooling)",
          s};
}

// all-MiniLM-L6-v2: bge-small's shapes with 6 layers and mean pooling.
SynthPreset all_minilm_l6() {
  SynthPreset p = bge_small();
  p.name = "all-minilm-l6";
  p.description = "all-MiniLM-L6-v2 (bert encoder, 6 x 384, 12 heads, 512 positions, vocab 30522, mean pooling)";
  p.spec.name = "rpu-synth-all-minilm-l6";
  p.spec.n_layer = 6;
  p.spec.pooling = Pooling::kMean;
  return p;
}

// bge-small's vocabulary and pooling on a 2 x 64 body, for end-to-end tests of embeddings.
SynthPreset bge_tiny() {
  SynthPreset p = bge_small();
  p.name = "bge-tiny";
  p.description = "test model: bge-small's vocabulary and CLS pooling, bert encoder, 2 x 64, 4 heads";
  p.spec.name = "rpu-synth-bge-tiny";
  p.spec.n_embd = 64;
  p.spec.n_layer = 2;
  p.spec.n_head = 4;
  p.spec.n_head_kv = 4;
  p.spec.n_ff = 128;
  return p;
}

// cross-encoder/ms-marco-MiniLM-L6-v2, the common small reranker: a bert cross-encoder, 6 x
// 384, 12 heads, FFN 1536, 512 positions, BERT's uncased WordPiece vocabulary, the pooler
// (cls) and a one-label classifier (cls.output): pooling rank.
SynthPreset ms_marco_minilm_l6() {
  SynthPreset p = bge_small();
  p.name = "ms-marco-minilm-l6";
  p.description = "ms-marco-MiniLM-L6-v2 (bert cross-encoder reranker, 6 x 384, 12 heads, 512 positions, vocab 30522, "
                  "rank pooling: pooler + 1-label classifier)";
  p.spec.name = "rpu-synth-ms-marco-minilm-l6";
  p.spec.n_layer = 6;
  p.spec.pooling = Pooling::kRank;
  p.spec.n_cls_out = 1;
  return p;
}

// ms-marco-MiniLM-L6's vocabulary and head on a 2 x 64 body, for tests of reranking.
SynthPreset rerank_tiny() {
  SynthPreset p = bge_tiny();
  p.name = "rerank-tiny";
  p.description = "test model: a bert cross-encoder with bge-small's vocabulary and a 1-label classifier, 2 x 64, 4 heads";
  p.spec.name = "rpu-synth-rerank-tiny";
  p.spec.pooling = Pooling::kRank;
  p.spec.n_cls_out = 1;
  return p;
}

// Gemma 3 shapes: 4 heads of 256 over one KV head, a 262,144-token SentencePiece
// vocabulary, q/k norms, five 512-token sliding-window layers (rope base 10000) to one
// global layer (rope base 1e6), 32k context, tied embeddings.
SynthSpec gemma3_base(const char* name, int n_embd, int n_layer, int n_ff) {
  SynthSpec s;
  s.arch = "gemma3";
  s.name = name;
  s.n_vocab = 262144;
  s.n_embd = n_embd;
  s.n_layer = n_layer;
  s.n_head = 4;
  s.n_head_kv = 1;
  s.head_dim = 256;
  s.n_ff = n_ff;
  s.n_ctx = 32768;
  s.rope_theta = 1000000.0f;
  s.rms_eps = 1e-6f;
  s.tied_output = true;
  s.qk_norm = true;
  s.sliding_window = 512;
  return s;
}

SynthPreset gemma3_270m() {
  return {"gemma3-270m", "Gemma-3-270M (gemma3, 18 x 640, 4 heads of 256 over 1 KV, window 512 on 5 of 6 layers, vocab 262144, tied)",
          gemma3_base("rpu-synth-gemma3-270m", 640, 18, 2048)};
}

SynthPreset gemma3_1b() {
  return {"gemma3-1b", "Gemma-3-1B (gemma3, 26 x 1152, 4 heads of 256 over 1 KV, window 512 on 5 of 6 layers, vocab 262144, tied)",
          gemma3_base("rpu-synth-gemma3-1b", 1152, 26, 6912)};
}

// Gemma-2-2B: 26 x 2304, 8 heads of 256 over 4 KV heads, GeGLU 9216, every other layer a
// 4096-token window, attention logits capped at 50 and final logits at 30, 256,000 tokens, tied.
SynthPreset gemma2_2b() {
  SynthSpec s;
  s.arch = "gemma2";
  s.name = "rpu-synth-gemma2-2b";
  s.n_vocab = 256000;
  s.n_embd = 2304;
  s.n_layer = 26;
  s.n_head = 8;
  s.n_head_kv = 4;
  s.head_dim = 256;
  s.n_ff = 9216;
  s.n_ctx = 8192;
  s.rope_theta = 10000.0f;
  s.rms_eps = 1e-6f;
  s.tied_output = true;
  s.sliding_window = 4096;
  s.attn_softcap = 50.0f;
  s.final_softcap = 30.0f;
  return {"gemma2-2b", "Gemma-2-2B (gemma2, 26 x 2304, GQA 8/4 of 256, soft caps 50/30, window 4096 on every other layer, vocab 256000, tied)", s};
}

// Phi-3.5-mini-instruct: 32 x 3072, 32 heads of 96 (no GQA), fused qkv and gate/up (8192),
// 32,064-token SentencePiece vocabulary, untied head, 128k context by longrope over an
// original 4096 (sliding_window 262144 in its config, so no window in practice).
SynthPreset phi35_mini() {
  SynthSpec s;
  s.arch = "phi3";
  s.name = "rpu-synth-phi-3.5-mini";
  s.n_vocab = 32064;
  s.n_embd = 3072;
  s.n_layer = 32;
  s.n_head = 32;
  s.n_head_kv = 32;
  s.n_ff = 8192;
  s.n_ctx = 131072;
  s.rope_theta = 10000.0f;
  s.rms_eps = 1e-5f;
  s.tied_output = false;
  s.longrope = true;
  s.longrope_original_ctx = 4096;
  s.sliding_window = 262144;
  // Its added tokens (llama.cpp requires <|endoftext|> in a model named phi-3); the rest of
  // the 32,064 rows past them are word pieces here, padding in the real file.
  s.spm_specials = numbered(32000, {{"<|endoftext|>", true}, {"<|assistant|>", false}, {"<|placeholder1|>", false},
                                    {"<|placeholder2|>", false}, {"<|placeholder3|>", false}, {"<|placeholder4|>", false},
                                    {"<|system|>", false}, {"<|end|>", false}, {"<|placeholder5|>", false},
                                    {"<|placeholder6|>", false}, {"<|user|>", false}});
  return {"phi-3.5-mini", "Phi-3.5-mini-instruct (phi3, 32 x 3072, 32 heads of 96, fused qkv/gate_up, longrope 128k, vocab 32064)", s};
}

// SmolLM3-3B: 36 x 2048, 16 heads of 128 over 4 KV heads, SwiGLU 11008, no RoPE in every
// fourth layer, rope base 5e6, 64k context, Llama 3's 128,256-token byte-level vocabulary
// with ChatML turn markers, tied.
SynthPreset smollm3_3b() {
  SynthPreset p = llama32_1b();
  SynthSpec& s = p.spec;
  s.arch = "smollm3";
  s.name = "rpu-synth-smollm3-3b";
  s.n_embd = 2048;
  s.n_layer = 36;
  s.n_head = 16;
  s.n_head_kv = 4;
  s.n_ff = 11008;
  s.n_ctx = 65536;
  s.rope_theta = 5000000.0f;
  s.rms_eps = 1e-6f;
  s.llama3_rope = false;
  BpeVocabSpec& v = *s.bpe;
  v.specials[11].text = "<|im_start|>";
  v.specials[12].text = "<|im_end|>";
  v.eos = 128012;
  v.pad = 128012;
  v.add_bos = false;
  v.chat_template = kChatMl;
  return {"smollm3-3b", "SmolLM3-3B (smollm3, 36 x 2048, GQA 16/4, no RoPE every 4th layer, vocab 128256, tied)", p.spec};
}

const std::vector<SynthPreset>& presets() {
  static const std::vector<SynthPreset> table = {smollm2_135m(), qwen25_05b(), qwen3_06b(),  llama32_1b(),
                                                 gemma2_2b(),    gemma3_270m(), gemma3_1b(), phi35_mini(),
                                                 smollm3_3b(),   tiny(),        bge_small(), all_minilm_l6(),
                                                 bge_tiny(),    ms_marco_minilm_l6(), rerank_tiny()};
  return table;
}

}  // namespace

const SynthPreset* find_synth_preset(std::string_view name) {
  for (const auto& p : presets()) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

std::string synth_preset_names() {
  std::string names;
  for (const auto& p : presets()) names += (names.empty() ? "" : ", ") + std::string(p.name);
  return names;
}

}  // namespace rpu
