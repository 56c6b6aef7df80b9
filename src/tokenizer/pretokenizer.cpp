#include "tokenizer/pretokenizer.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace rpu {
namespace {

using Match = Regex::Match;

// Cuts `piece` at `matches` (sorted, non-overlapping) the way Hugging Face's
// NormalizedString::split does, appending the non-empty results to `out`.
void split_piece(const std::string& piece, const std::vector<Match>& matches, SplitBehavior behavior, bool invert,
                 std::vector<std::string>& out) {
  struct Span {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Span> spans;
  size_t prev = 0;
  for (const Match& m : matches) {
    if (m.begin > prev) spans.push_back({prev, m.begin, invert});
    spans.push_back({m.begin, m.end, !invert});
    prev = m.end;
  }
  if (prev < piece.size()) spans.push_back({prev, piece.size(), invert});

  auto emit = [&](const Span& s) {
    if (s.end > s.begin) out.emplace_back(piece, s.begin, s.end - s.begin);
  };
  if (behavior == SplitBehavior::kRemoved || behavior == SplitBehavior::kIsolated) {
    for (const Span& s : spans) {
      if (behavior == SplitBehavior::kIsolated || !s.is_match) emit(s);
    }
    return;
  }
  std::vector<Span> merged;
  merged.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
    case SplitBehavior::kIsolated:
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !merged.empty()) {
          merged.back().end = s.end;
        } else {
          merged.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) {
          merged.back().begin = it->begin;
        } else {
          merged.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    case SplitBehavior::kContiguous:
      for (const Span& s : spans) {
        if (!merged.empty() && s.is_match == previous_match) {
          merged.back().end = s.end;
        } else {
          merged.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
  }
  for (const Span& s : merged) emit(s);
}

// Each character satisfying `pred` is one match (Hugging Face's char-predicate patterns).
void char_matches(std::string_view text, const std::function<bool(char32_t)>& pred, std::vector<Match>& out) {
  for (size_t pos = 0, len = 0; pos < text.size(); pos += len) {
    const char32_t cp = unicode::decode(text, pos, len);
    if (cp != unicode::kInvalid && pred(cp)) out.push_back(Match{pos, pos + len});
  }
}

class RegexSplit : public PreTokenizer {
 public:
  RegexSplit(std::string_view pattern, SplitBehavior behavior, bool invert)
      : regex_(pattern), behavior_(behavior), invert_(invert) {}
  void apply(std::vector<std::string>& pieces, bool) const override {
    std::vector<std::string> out;
    out.reserve(pieces.size() * 2);
    std::vector<Match> matches;
    for (const std::string& piece : pieces) {
      matches.clear();
      regex_.find_all(piece, matches);
      split_piece(piece, matches, behavior_, invert_, out);
    }
    pieces.swap(out);
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class CharSplit : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> pred, SplitBehavior behavior) : pred_(std::move(pred)), behavior_(behavior) {}
  void apply(std::vector<std::string>& pieces, bool) const override {
    std::vector<std::string> out;
    out.reserve(pieces.size() * 2);
    std::vector<Match> matches;
    for (const std::string& piece : pieces) {
      matches.clear();
      char_matches(piece, pred_, matches);
      split_piece(piece, matches, behavior_, false, out);
    }
    pieces.swap(out);
  }

 private:
  std::function<bool(char32_t)> pred_;
  SplitBehavior behavior_;
};

constexpr std::string_view kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteEncoder : public PreTokenizer {
 public:
  void apply(std::vector<std::string>& pieces, bool) const override {
    for (std::string& piece : pieces) {
      std::string encoded;
      encoded.reserve(piece.size() * 2);
      for (char c : piece) encoded += unicode::byte_to_unicode(static_cast<uint8_t>(c));
      piece.swap(encoded);
    }
  }
};

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<RegexSplit>(kGpt2Pattern, SplitBehavior::kIsolated, false);
  }
  void apply(std::vector<std::string>& pieces, bool at_text_start) const override {
    if (add_prefix_space_) {
      for (std::string& piece : pieces) {
        if (piece.empty() || piece[0] != ' ') piece.insert(0, 1, ' ');
      }
    }
    if (regex_) regex_->apply(pieces, at_text_start);
    encoder_.apply(pieces, at_text_start);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<RegexSplit> regex_;
  ByteEncoder encoder_;
};

class Metaspace : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void apply(std::vector<std::string>& pieces, bool at_text_start) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < pieces.size(); ++i) {
      std::string text;
      for (char c : pieces[i]) {
        if (c == ' ') {
          text += replacement_;
        } else {
          text += c;
        }
      }
      const bool starts_with = text.compare(0, replacement_.size(), replacement_) == 0;
      const bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && i == 0 && at_text_start);
      if (prepend && !starts_with) text.insert(0, replacement_);
      if (!split_) {
        if (!text.empty()) out.push_back(std::move(text));
        continue;
      }
      std::vector<Match> matches;
      for (size_t pos = text.find(replacement_); pos != std::string::npos; pos = text.find(replacement_, pos + replacement_.size())) {
        matches.push_back(Match{pos, pos + replacement_.size()});
      }
      split_piece(text, matches, SplitBehavior::kMergedWithNext, false, out);
    }
    pieces.swap(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void apply(std::vector<std::string>& pieces, bool at_text_start) const override {
    for (const auto& step : steps_) step->apply(pieces, at_text_start);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

bool is_bert_punctuation(char32_t cp) {
  return (cp < 0x80 && std::ispunct(static_cast<int>(cp))) || unicode::is_punctuation(cp);
}

}  // namespace

SplitBehavior parse_split_behavior(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "removed") return SplitBehavior::kRemoved;
  if (lower == "isolated") return SplitBehavior::kIsolated;
  if (lower == "mergedwithprevious") return SplitBehavior::kMergedWithPrevious;
  if (lower == "mergedwithnext") return SplitBehavior::kMergedWithNext;
  if (lower == "contiguous") return SplitBehavior::kContiguous;
  fail("unknown split behavior '{}'", name);
}

std::unique_ptr<PreTokenizer> make_split(std::string_view pattern, SplitBehavior behavior, bool invert) {
  return std::make_unique<RegexSplit>(pattern, behavior, invert);
}

std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevel>(add_prefix_space, use_regex);
}

std::unique_ptr<PreTokenizer> make_byte_encoder() { return std::make_unique<ByteEncoder>(); }

std::unique_ptr<PreTokenizer> make_metaspace(std::string replacement, PrependScheme scheme, bool split) {
  if (replacement.empty()) fail("Metaspace replacement is empty");
  return std::make_unique<Metaspace>(std::move(replacement), scheme, split);
}

std::unique_ptr<PreTokenizer> make_whitespace() {
  return std::make_unique<RegexSplit>(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved, true);
}

std::unique_ptr<PreTokenizer> make_whitespace_split() {
  return std::make_unique<CharSplit>(unicode::is_whitespace, SplitBehavior::kRemoved);
}

std::unique_ptr<PreTokenizer> make_bert() {
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  steps.push_back(std::make_unique<CharSplit>(unicode::is_whitespace, SplitBehavior::kRemoved));
  steps.push_back(std::make_unique<CharSplit>(is_bert_punctuation, SplitBehavior::kIsolated));
  return make_sequence(std::move(steps));
}

std::unique_ptr<PreTokenizer> make_digits(bool individual) {
  return std::make_unique<CharSplit>(unicode::is_number, individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
}

std::unique_ptr<PreTokenizer> make_punctuation(SplitBehavior behavior) {
  return std::make_unique<CharSplit>(is_bert_punctuation, behavior);
}

std::unique_ptr<PreTokenizer> make_sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) {
  return std::make_unique<Sequence>(std::move(steps));
}

namespace {

// The regex lists behind each `tokenizer.ggml.pre` name. They restate the Split steps of the
// models' tokenizer.json pre-tokenizers (as llama.cpp records them); where llama.cpp had to
// rewrite a pattern for std::regex, the original Hugging Face pattern is used since PCRE2
// runs it as written.
constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kGpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kCjk = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
constexpr std::string_view kDeepseekLlmLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
constexpr std::string_view kDeepseekLlmPunct = R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
// Bloom's published pattern puts "(", "|" and ")" inside its class; they are members.
constexpr std::string_view kBloom = R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+)";

const std::map<std::string, std::vector<std::string_view>>& gguf_pre_table() {
  static const std::map<std::string, std::vector<std::string_view>> table = [] {
    std::map<std::string, std::vector<std::string_view>> t;
    auto add = [&t](std::initializer_list<const char*> names, std::vector<std::string_view> regexes) {
      for (const char* name : names) t[name] = regexes;
    };
    add({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "dbrx", "smaug-bpe",
         "glm4", "chatglm-bpe"},
        {kLlama3});
    add({"qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan", "megrez", "grok-2", "kormo"}, {kQwen2});
    add({"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "jina-v1-en",
         "jina-v2-code", "roberta-bpe", "gigachat", "exaone4", "trillion", "granite-docling", "mellum", "modern-bert",
         "a.x-4.0"},
        {kGpt2Pattern});
    add({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"},
        {R"(\p{N})", kGpt2Pattern});
    add({"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2Pattern, "[0-9][0-9][0-9]"});
    add({"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2Pattern, R"(\p{N}+)", "[0-9][0-9][0-9]"});
    add({"deepseek-llm"}, {"[\r\n]", kDeepseekLlmLetters, kDeepseekLlmPunct, R"(\s+$)", kCjk, R"(\p{N}+)"});
    add({"deepseek-coder"}, {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"});
    add({"deepseek-v3"},
        {R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
         R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"});
    add({"gpt-4o", "llama4"}, {kGpt4o});
    add({"tekken"}, {kTekken});
    add({"bloom", "poro-chat", "gpt3-finnish"}, {kBloom});
    add({"viking"}, {kBloom, R"(\p{N})"});
    add({"seed-coder"},
        {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"});
    return t;
  }();
  return table;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_gguf_pretokenizer(const std::string& pre) {
  const auto& table = gguf_pre_table();
  const auto it = table.find(pre.empty() ? "default" : pre);
  if (it == table.end()) {
    std::string names;
    for (const auto& [name, regexes] : table) names += (names.empty() ? "" : ", ") + name;
    fail("pre-tokenizer '{}' (tokenizer.ggml.pre) is not supported (supported: {})", pre, names);
  }
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  for (std::string_view regex : it->second) steps.push_back(make_split(regex, SplitBehavior::kIsolated, false));
  steps.push_back(make_byte_encoder());
  return make_sequence(std::move(steps));
}

const std::vector<std::string_view>* gguf_pretokenizer_regexes(const std::string& pre) {
  const auto& table = gguf_pre_table();
  const auto it = table.find(pre);
  return it == table.end() ? nullptr : &it->second;
}

std::string_view gpt2_split_pattern() { return kGpt2Pattern; }

}  // namespace rpu
