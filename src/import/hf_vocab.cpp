#include "import/hf_vocab.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_map>

#include "core/error.h"
#include "core/json_text.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace rpu::hf {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}'", path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The merges as "left right" strings, whichever of the two spellings the file uses.
std::vector<std::string> merges_of(const std::string& path, const json& model) {
  std::vector<std::string> merges;
  if (!model.contains("merges")) return merges;
  for (const json& m : model.at("merges")) {
    if (m.is_array() && m.size() == 2) {
      merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else if (m.is_string()) {
      merges.push_back(m.get<std::string>());
    } else {
      fail("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", path, m.dump());
    }
  }
  return merges;
}

// The regexes a pre-tokenizer splits by, in order (ByteLevel with use_regex adds GPT-2's).
void collect_regexes(const json& j, std::vector<std::string>& out) {
  if (!j.is_object()) return;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const json& step : j.value("pretokenizers", json::array())) collect_regexes(step, out);
  } else if (type == "Split" && j.contains("pattern")) {
    const json& p = j.at("pattern");
    if (p.contains("Regex")) out.push_back(p.at("Regex").get<std::string>());
    if (p.contains("String")) out.push_back(p.at("String").get<std::string>());
  } else if (type == "Digits") {
    out.push_back(j.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "ByteLevel" && j.value("use_regex", true)) {
    out.emplace_back(gpt2_split_pattern());
  }
}

// The GGUF pre-tokenizer name whose regexes are the file's; llama.cpp's usual names first.
std::string pre_name(const std::string& path, const json& tok) {
  std::vector<std::string> regexes;
  collect_regexes(tok.value("pre_tokenizer", json()), regexes);
  static const char* const kNames[] = {"llama-bpe", "qwen2",          "gpt-2",        "smollm",     "gpt-4o",
                                       "tekken",    "deepseek-v3",    "deepseek-coder", "deepseek-llm", "falcon",
                                       "seed-coder", "bloom",         "viking",       "default"};
  for (const char* name : kNames) {
    const auto* known = gguf_pretokenizer_regexes(name);
    if (known == nullptr || known->size() != regexes.size()) continue;
    bool same = true;
    for (size_t i = 0; i < regexes.size(); ++i) same = same && (*known)[i] == regexes[i];
    if (same) return name;
  }
  fail("{}: its pre-tokenizer ({} split patterns) matches none of the GGUF pre-tokenizers rpu knows", path,
       regexes.size());
}

// SentencePiece-style scores for a BPE vocabulary: a token made by merge r scores -r, so
// merging the best-scored pair first follows merge order; other tokens score 0.
std::vector<float> scores_from_merges(const Vocab& v, const std::vector<std::string>& merges, size_t n) {
  std::vector<float> scores(n, 0.0f);
  std::vector<bool> seen(n, false);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) continue;
    const int32_t id = v.find(m.substr(0, space) + m.substr(space + 1));
    if (id < 0 || seen[static_cast<size_t>(id)]) continue;
    seen[static_cast<size_t>(id)] = true;
    scores[static_cast<size_t>(id)] = -static_cast<float>(rank + 1);
  }
  return scores;
}

// A special token's id from generation_config.json or config.json (an int or a list: the first).
int64_t config_token_id(const json& generation_config, const json& config, const char* key) {
  for (const json* j : {&generation_config, &config}) {
    const auto it = j->find(key);
    if (it == j->end()) continue;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_array() && !it->empty() && it->front().is_number_integer()) return it->front().get<int64_t>();
  }
  return -1;
}

void set_id(GgufWriter& out, const char* key, int64_t id, int64_t n) {
  if (id >= 0 && id < n) out.set(key, GgufValue::u32(static_cast<uint32_t>(id)));
}

// Whether a SentencePiece-style tokenizer puts a space before the text: a Prepend("▁")
// normalizer (Llama 2) or a Metaspace pre-tokenizer that prepends (newer files); Gemma does neither.
bool adds_space_prefix(const json& tok) {
  const std::string normalizer = tok.value("normalizer", json()).dump();
  if (normalizer.find("\"Prepend\"") != std::string::npos) return true;
  const json pre = tok.value("pre_tokenizer", json());
  const std::string text = pre.dump();
  if (text.find("\"Metaspace\"") == std::string::npos) return false;
  return text.find("\"never\"") == std::string::npos;
}

std::string chat_template(const fs::path& dir, const Vocab& v) {
  const fs::path jinja = dir / "chat_template.jinja";
  std::error_code ec;
  if (fs::is_regular_file(jinja, ec)) return read_text(jinja);  // transformers prefers the file
  return v.chat_template;
}

}  // namespace

void add_tokenizer_metadata(const std::string& dir, const json& config, const json& generation_config, int64_t n_vocab,
                            GgufWriter& out) {
  const fs::path tok_path = fs::path(dir) / "tokenizer.json";
  std::error_code ec;
  if (!fs::is_regular_file(tok_path, ec)) fail("{}: no tokenizer.json (rpu reads the tokenizer from it)", dir);
  const std::string path = tok_path.string();
  const std::string tok_text = read_text(tok_path);
  const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  const std::string config_text = fs::is_regular_file(config_path, ec) ? read_text(config_path) : "";
  // rpu's own loader validates the file and works out ids, kinds and BOS/EOS handling.
  const auto tokenizer = Tokenizer::from_hf_json(tok_text, config_text, path);
  const Vocab& v = tokenizer->vocab();
  const json tok = parse_json_text(tok_text, path);
  const json& model = tok.at("model");
  const bool byte_level = tok.contains("decoder") && tok.at("decoder").dump().find("\"ByteLevel\"") != std::string::npos;
  if (model.value("type", "BPE") != "BPE" || (!byte_level && !model.value("byte_fallback", false))) {
    fail("{}: only byte-level BPE and BPE with byte fallback tokenizers can be converted", path);
  }
  if (v.size() > n_vocab) fail("{}: {} tokens, but the model's embedding table has {} rows", path, v.size(), n_vocab);

  const auto n = static_cast<size_t>(n_vocab);
  std::vector<std::string> pieces(n);
  std::vector<int32_t> types(n);
  for (size_t i = 0; i < n; ++i) {
    const bool real = i < static_cast<size_t>(v.size()) && v.kinds[i] != TokenKind::kUnused;
    pieces[i] = real ? v.pieces[i] : "[PAD" + std::to_string(i) + "]";
    types[i] = static_cast<int32_t>(real ? v.kinds[i] : TokenKind::kUnused);
  }
  const std::vector<std::string> merges = merges_of(path, model);
  if (byte_level) {
    out.set("tokenizer.ggml.model", GgufValue::str("gpt2"));
    out.set("tokenizer.ggml.pre", GgufValue::str(pre_name(path, tok)));
  } else {
    out.set("tokenizer.ggml.model", GgufValue::str("llama"));
    out.set("tokenizer.ggml.add_space_prefix", GgufValue::boolean(adds_space_prefix(tok)));
  }
  out.set("tokenizer.ggml.tokens", GgufValue::str_array(pieces));
  if (!byte_level) out.set("tokenizer.ggml.scores", GgufValue::f32_array(scores_from_merges(v, merges, n)));
  out.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  if (byte_level) out.set("tokenizer.ggml.merges", GgufValue::str_array(merges));

  const auto nv = static_cast<int64_t>(n);
  set_id(out, "tokenizer.ggml.bos_token_id", v.bos >= 0 ? v.bos : config_token_id(generation_config, config, "bos_token_id"), nv);
  set_id(out, "tokenizer.ggml.eos_token_id", v.eos >= 0 ? v.eos : config_token_id(generation_config, config, "eos_token_id"), nv);
  set_id(out, "tokenizer.ggml.unknown_token_id", v.unk, nv);
  set_id(out, "tokenizer.ggml.padding_token_id", v.pad, nv);
  out.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(v.add_bos));
  out.set("tokenizer.ggml.add_eos_token", GgufValue::boolean(v.add_eos));
  if (const std::string t = chat_template(dir, v); !t.empty()) out.set("tokenizer.chat_template", GgufValue::str(t));
}

}  // namespace rpu::hf
