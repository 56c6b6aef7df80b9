// Tokenizer::from_hf: builds a tokenizer from a Hugging Face tokenizer.json (the format the
// `tokenizers` library saves) plus tokenizer_config.json beside it, so that a published model
// folder works without conversion. Supported: BPE (byte level, or SentencePiece-like with byte
// fallback) and WordPiece models, with the normalizers, pre-tokenizers, post-processors and
// decoders those families use; anything else is refused with a clear error.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/json_text.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/wordpiece_tokenizer.h"

namespace rpu {
namespace {

using json = nlohmann::json;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}'", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}


// A whole number, as the file's ids and counts must be: a float such as 5e61 would be undefined
// behaviour to convert, and a fractional id names no token.
// `where` prefixes the error ("FILE: " or nothing).
int64_t whole_number(const json& j, std::string_view what, std::string_view where = "") {
  if (j.is_number_integer()) return j.get<int64_t>();  // number_unsigned above INT64_MAX wraps negative
  fail("{}{} must be a whole number, got {}", where, what, j.is_number() ? j.dump() : j.type_name());
}

int64_t get_whole(const json& j, const char* key, int64_t fallback, std::string_view where = "") {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : whole_number(*it, key, where);
}

bool get_bool(const json& j, const char* key, bool fallback) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<bool>();
}

std::string get_string(const json& j, const char* key, const std::string& fallback = "") {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<std::string>();
}

// A Split/Replace pattern: {"String": literal} or {"Regex": pattern}, as a regex.
std::string pattern_of(const json& pattern) {
  if (pattern.contains("Regex")) return pattern.at("Regex").get<std::string>();
  if (pattern.contains("String")) return regex_escape(pattern.at("String").get<std::string>());
  fail("pattern {} is neither a String nor a Regex", pattern.dump());
}

std::unique_ptr<Normalizer> build_normalizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return make_unicode_normalizer(type);
  if (type == "Lowercase") return make_lowercase();
  if (type == "StripAccents") return make_strip_accents();
  if (type == "Replace") return make_replace(pattern_of(j.at("pattern")), j.at("content").get<std::string>());
  if (type == "Prepend") return make_prepend(j.at("prepend").get<std::string>());
  if (type == "Strip") return make_strip(get_bool(j, "strip_left", true), get_bool(j, "strip_right", true));
  if (type == "BertNormalizer") {
    BertNormalizerOptions o;
    o.clean_text = get_bool(j, "clean_text", true);
    o.handle_chinese_chars = get_bool(j, "handle_chinese_chars", true);
    o.lowercase = get_bool(j, "lowercase", true);
    o.strip_accents = get_bool(j, "strip_accents", o.lowercase);  // null: follow lowercase
    return make_bert_normalizer(o);
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const json& step : j.at("normalizers")) {
      if (auto n = build_normalizer(step)) steps.push_back(std::move(n));
    }
    return make_normalizer_sequence(std::move(steps));
  }
  fail("normalizer '{}' is not supported", type);
}

std::unique_ptr<PreTokenizer> build_pretokenizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  if (type == "Split") {
    return make_split(pattern_of(j.at("pattern")), parse_split_behavior(j.at("behavior").get<std::string>()),
                      get_bool(j, "invert", false));
  }
  if (type == "ByteLevel") return make_byte_level(get_bool(j, "add_prefix_space", true), get_bool(j, "use_regex", true));
  if (type == "Metaspace") {
    PrependScheme scheme = get_bool(j, "add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
    const std::string name = get_string(j, "prepend_scheme");
    if (name == "always") scheme = PrependScheme::kAlways;
    if (name == "first") scheme = PrependScheme::kFirst;
    if (name == "never") scheme = PrependScheme::kNever;
    return make_metaspace(get_string(j, "replacement", "\xe2\x96\x81"), scheme, get_bool(j, "split", true));
  }
  if (type == "Whitespace") return make_whitespace();
  if (type == "WhitespaceSplit") return make_whitespace_split();
  if (type == "BertPreTokenizer") return make_bert();
  if (type == "Digits") return make_digits(get_bool(j, "individual_digits", false));
  if (type == "Punctuation") return make_punctuation(parse_split_behavior(get_string(j, "behavior", "Isolated")));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (const json& step : j.at("pretokenizers")) {
      if (auto p = build_pretokenizer(step)) steps.push_back(std::move(p));
    }
    return make_sequence(std::move(steps));
  }
  fail("pre-tokenizer '{}' is not supported", type);
}

// A token named in tokenizer_config.json: a plain string or an AddedToken object.
std::string config_token(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return get_string(*it, "content");
  return {};
}

// A post-processor's id must name a token: encode() would otherwise return ids outside the
// vocabulary (printed by `rpu tokenize --ids-only`, or indexing the embedding table).
int32_t special_id(const json& id_json, const std::string& name, const Vocab& v) {
  const int64_t id = whole_number(id_json, "a post_processor id");
  if (id < 0 || id >= v.size()) {
    fail("post_processor special token '{}' has id {}, outside the vocabulary of {} tokens", name, id, v.size());
  }
  return static_cast<int32_t>(id);
}

// The ids TemplateProcessing / BertProcessing / RobertaProcessing put around a single text.
void apply_post_processor(const json& j, Vocab& v) {
  if (j.is_null()) return;
  const std::string type = j.at("type").get<std::string>();
  if (type == "TemplateProcessing") {
    v.prefix_ids.clear();
    v.suffix_ids.clear();
    bool after_text = false;
    for (const json& item : j.at("single")) {
      if (item.contains("Sequence")) {
        after_text = true;
        continue;
      }
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      const json& special = j.at("special_tokens").at(name);
      for (const json& id : special.at("ids")) (after_text ? v.suffix_ids : v.prefix_ids).push_back(special_id(id, name, v));
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    v.prefix_ids = {special_id(j.at("cls").at(1), j.at("cls").at(0).get<std::string>(), v)};
    v.suffix_ids = {special_id(j.at("sep").at(1), j.at("sep").at(0).get<std::string>(), v)};
  } else if (type == "Sequence") {
    for (const json& p : j.at("processors")) apply_post_processor(p, v);
  } else if (type != "ByteLevel") {
    fail("post-processor '{}' is not supported", type);
  }
}

// Whether a decoder (or any decoder in a Sequence) has the given type.
bool has_decoder(const json& j, const std::string& type) {
  if (j.is_null()) return false;
  if (j.value("type", "") == type) return true;
  if (j.contains("decoders")) {
    for (const json& d : j.at("decoders")) {
      if (has_decoder(d, type)) return true;
    }
  }
  return false;
}

// Whether decoding drops the first space (Strip decoder, or Metaspace that prepended one).
bool decoder_strips_space(const json& j) {
  if (j.is_null()) return false;
  const std::string type = j.value("type", "");
  if (type == "Strip") return get_whole(j, "start", 0) > 0;
  if (type == "Metaspace") {
    const std::string scheme = get_string(j, "prepend_scheme");
    return scheme.empty() ? get_bool(j, "add_prefix_space", true) : scheme != "never";
  }
  if (j.contains("decoders")) {
    for (const json& d : j.at("decoders")) {
      if (decoder_strips_space(d)) return true;
    }
  }
  return false;
}

// The pieces by id: the model's vocabulary plus added tokens; gaps stay as unused empty pieces.
Vocab read_vocab(const std::string& path, const json& tok, const json& model) {
  const json& vocab_json = model.at("vocab");
  if (!vocab_json.is_object()) fail("{}: model.vocab is not an object of piece -> id", path);

  int64_t max_id = -1;
  const std::string where = path + ": ";
  for (const auto& [piece, id_json] : vocab_json.items()) {
    const int64_t id = whole_number(id_json, "a token id", where);
    if (id < 0) fail("{}: token '{}' has negative id {}", path, piece, id);
    max_id = std::max<int64_t>(max_id, id);
  }
  const json& added = tok.contains("added_tokens") && tok.at("added_tokens").is_array() ? tok.at("added_tokens") : json::array();
  for (const json& a : added) max_id = std::max<int64_t>(max_id, whole_number(a.at("id"), "an added token's id", where));
  if (max_id < 0) fail("{}: the vocabulary is empty", path);
  // Ids index a table, so they must be (nearly) dense: a stray huge id would allocate gigabytes.
  const size_t count = vocab_json.size() + added.size();
  if (max_id >= (1 << 24) || static_cast<size_t>(max_id) > 2 * count + 65536) {
    fail("{}: token id {} is far beyond the {} tokens defined", path, max_id, count);
  }

  Vocab v;
  const auto n = static_cast<size_t>(max_id + 1);
  v.pieces.assign(n, std::string());
  v.scores.assign(n, 0.0f);
  v.kinds.assign(n, TokenKind::kUnused);
  for (const auto& [piece, id_json] : vocab_json.items()) {
    const int64_t id = whole_number(id_json, "a token id", where);
    v.pieces[static_cast<size_t>(id)] = piece;
    v.kinds[static_cast<size_t>(id)] = TokenKind::kNormal;
  }
  for (const json& a : added) {
    const int64_t id = whole_number(a.at("id"), "an added token's id", where);
    if (id < 0) fail("{}: added token has negative id {}", path, id);
    const auto i = static_cast<size_t>(id);
    v.pieces[i] = a.at("content").get<std::string>();
    v.kinds[i] = get_bool(a, "special", false) ? TokenKind::kControl : TokenKind::kUserDefined;
    const uint8_t strip = (get_bool(a, "lstrip", false) ? 1 : 0) | (get_bool(a, "rstrip", false) ? 2 : 0);
    if (strip) v.strip[static_cast<int32_t>(id)] = strip;
  }
  v.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (v.kinds[i] != TokenKind::kUnused) v.ids.emplace(v.pieces[i], static_cast<int32_t>(i));
  }
  return v;
}

// A BPE model's options and merges; with byte fallback, its <0xNN> pieces become byte tokens.
BpeOptions bpe_options(const std::string& path, const json& model, Vocab& v) {
  if (!get_string(model, "continuing_subword_prefix").empty() || !get_string(model, "end_of_word_suffix").empty()) {
    fail("{}: BPE with continuing_subword_prefix / end_of_word_suffix is not supported", path);
  }
  BpeOptions o;
  o.byte_fallback = get_bool(model, "byte_fallback", false);
  o.ignore_merges = get_bool(model, "ignore_merges", false);
  o.fuse_unk = get_bool(model, "fuse_unk", false);
  for (const json& m : model.at("merges")) {
    if (m.is_array() && m.size() == 2) {
      o.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else if (m.is_string()) {  // older files: "left right"
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos) fail("{}: merge '{}' has no space between its two parts", path, s);
      o.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else {
      fail("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", path, m.dump());
    }
  }
  if (o.byte_fallback) {
    for (size_t i = 0; i < v.pieces.size(); ++i) {
      const std::string& p = v.pieces[i];
      if (v.kinds[i] == TokenKind::kNormal && p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
        v.kinds[i] = TokenKind::kByte;
      }
    }
  }
  return o;
}

std::unique_ptr<Tokenizer> build(const std::string& path, const json& tok, const json& config) {
  if (!tok.is_object() || !tok.contains("model")) fail("{}: not a tokenizer.json (no \"model\")", path);
  const json& model = tok.at("model");
  std::string type = get_string(model, "type");
  if (type.empty()) type = model.contains("merges") ? "BPE" : model.contains("vocab") ? "WordPiece" : "";
  if (type != "BPE" && type != "WordPiece") {
    fail("{}: tokenizer model '{}' is not supported (supported: BPE, WordPiece)", path, type);
  }
  Vocab v = read_vocab(path, tok, model);
  v.add_space_prefix = false;
  v.unk = v.find(get_string(model, "unk_token"));
  if (v.unk < 0) v.unk = v.find(config_token(config, "unk_token"));
  v.bos = v.find(config_token(config, "bos_token"));
  v.eos = v.find(config_token(config, "eos_token"));
  v.pad = v.find(config_token(config, "pad_token"));
  v.cls = v.find(config_token(config, "cls_token"));
  v.sep = v.find(config_token(config, "sep_token"));

  try {
    apply_post_processor(tok.value("post_processor", json()), v);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  // transformers' Llama and Gemma tokenizers rebuild the post-processor from these flags.
  std::string cls = get_string(config, "tokenizer_class");
  if (cls.size() > 4 && cls.compare(cls.size() - 4, 4, "Fast") == 0) cls.resize(cls.size() - 4);
  if (cls == "LlamaTokenizer" || cls == "GemmaTokenizer" || cls == "CodeLlamaTokenizer") {
    const bool bos = get_bool(config, "add_bos_token", true);
    const bool eos = get_bool(config, "add_eos_token", false);
    v.prefix_ids.clear();
    v.suffix_ids.clear();
    if (bos && v.bos >= 0) v.prefix_ids.push_back(v.bos);
    if (eos && v.eos >= 0) v.suffix_ids.push_back(v.eos);
  }
  v.add_bos = !v.prefix_ids.empty();
  v.add_eos = !v.suffix_ids.empty();
  if (config.contains("chat_template")) {
    const json& t = config.at("chat_template");
    if (t.is_string()) {
      v.chat_template = t.get<std::string>();
    } else if (t.is_array()) {  // named templates: take "default", else the first
      for (const json& named : t) {
        if (v.chat_template.empty() || named.value("name", "") == "default") v.chat_template = named.value("template", "");
      }
    }
  }

  auto normalizer = build_normalizer(tok.value("normalizer", json()));
  auto pretokenizer = build_pretokenizer(tok.value("pre_tokenizer", json()));
  const json decoder = tok.value("decoder", json());

  if (type == "WordPiece") {
    WordPieceOptions o;
    o.continuation_prefix = get_string(model, "continuing_subword_prefix", "##");
    const int64_t max_chars = get_whole(model, "max_input_chars_per_word", 100, path + ": ");
    if (max_chars < 0) fail("{}: max_input_chars_per_word must not be negative, got {}", path, max_chars);
    o.max_chars_per_word = static_cast<size_t>(max_chars);
    return std::make_unique<WordPieceTokenizer>(std::move(v), o, std::move(normalizer), std::move(pretokenizer));
  }

  const BpeOptions o = bpe_options(path, model, v);
  const BpeDecoding decoding = has_decoder(decoder, "ByteLevel") ? BpeDecoding::kByteLevel : BpeDecoding::kSentencePiece;
  return std::make_unique<BpeTokenizer>(std::move(v), o, std::move(normalizer), std::move(pretokenizer), decoding,
                                        decoder_strips_space(decoder));
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_hf(const std::string& tokenizer_json_path) {
  const std::string tokenizer_json = read_text(tokenizer_json_path);
  std::string config_json;
  const auto config_path = std::filesystem::path(tokenizer_json_path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::exists(config_path, ec)) config_json = read_text(config_path.string());
  return from_hf_json(tokenizer_json, config_json, tokenizer_json_path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_hf_json(const std::string& tokenizer_json, const std::string& config_json,
                                                   const std::string& name) {
  // Nesting is bounded before parsing: the builders below recurse once per Sequence level.
  const json tok = parse_json_text(tokenizer_json, name);
  json config = json::object();
  if (!config_json.empty()) {
    config = parse_json_text(config_json, "tokenizer_config.json");
    if (!config.is_object()) fail("tokenizer_config.json beside {}: not a JSON object", name);
  }
  try {
    return build(name, tok, config);
  } catch (const json::exception& e) {
    // A field of the wrong type or a missing one: name the file rather than crash.
    fail("{}: malformed tokenizer.json ({})", name, e.what());
  }
}

}  // namespace rpu
