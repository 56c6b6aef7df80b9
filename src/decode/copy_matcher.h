// Copy-constrained decoding: the JSON string values of chosen keys must be copied verbatim
// from the request. An extraction specialist (a small model trained on a cluster's logged
// calls) otherwise miscopies what it should copy: an order id's prefix "JN-251997" written
// "BN-251997", a product name it half remembers from training. The conversion loop learns
// which keys a cluster's teacher always copies, and in what shape (convert/copy_fields.h); the
// gateway's route asks the specialist for them ("copy_fields"); everything else is free.
//
// How: the output is scanned as loose JSON, whatever wraps it (plain content, a tool call's
// markup). After `"KEY": "` with KEY a copy field, the value must be one of the field's
// candidates: a span of a source text that starts and ends at word boundaries (so neither
// "N-251997" nor "JN-2519" is one), and, when the field has shapes, whose shape is one of
// them (value_shape: "JN-251997" is "A-#", "Polar 2 kettle" is "Aa # a"). The candidates, as
// JSON writes them, form one byte trie; masks walk the vocabulary's byte trie along it,
// skipping every subtree whose prefix no candidate has. A field with no candidate in the
// request can only be null (or any non-string): the opening quote is refused.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rpu {

class GrammarVocab;

struct CopyField {
  std::string key;
  std::vector<std::string> shapes;  // value_shape()s a value may have; empty: any
  // Copied from the last user message only, not from every message: the current request is
  // where an agent's user writes the values of this turn's answer. A copy from elsewhere is a
  // specialist's slip: a reminder's text "message" taken from the system prompt, an event's
  // title taken from an earlier turn of the conversation.
  bool last_user_only = false;
};

// A value's shape: A-Z runs -> "A", a-z runs -> "a", digit runs -> "#", UTF-8 letters count as
// "a"; every other byte kept ("JN-251997" -> "A-#", "<PERSON_1> Park" -> "<A_#> Aa"). ('#', not
// '9': a shape never reads back from YAML as a number.)
std::string value_shape(std::string_view value);

// "copy_fields" as requests and routes write them: an array of keys (any shape), or an object
// of key -> array of shapes ({"order_id": ["A-#"], "text": []}) or key -> {"shapes": [...],
// "from": "last_user" | "messages"} ({"title": {"shapes": ["Aa a"], "from": "last_user"}}).
// parse throws rpu::Error naming what is wrong; json writes the object form (the {shapes, from}
// form for a last_user field), or the array when no field has shapes or a source.
std::vector<CopyField> parse_copy_fields(const nlohmann::ordered_json& j);
nlohmann::ordered_json copy_fields_json(const std::vector<CopyField>& fields);

// The texts of a chat request's messages a value may be copied from: every message's but the
// assistant's (system, user, tool results), string content or text parts.
std::vector<std::string> copy_source_texts(const nlohmann::ordered_json& messages);
// Those texts, and the last user message's alone (CopyField::last_user_only).
struct CopyTexts {
  std::vector<std::string> messages;
  std::vector<std::string> last_user;
};
CopyTexts copy_texts(const nlohmann::ordered_json& messages);

// The spans of `text` a copied value may be: start and end at word boundaries, no leading or
// trailing space, at most kMaxCopyWords words and kMaxCopyBytes bytes, of one of `shapes`
// (empty: any), in order of appearance, without repeats.
constexpr int kMaxCopyWords = 16;
constexpr size_t kMaxCopyBytes = 256;
std::vector<std::string> copy_candidates(std::string_view text, const std::vector<std::string>& shapes);

// Every field's candidates in the request, as one byte trie over their JSON-escaped forms.
// Immutable, shared by every sample of a request. A field without shapes has a path of up to
// kMaxCopyBytes from every word of the request, so the trie is bounded: kMaxCopyNodes nodes
// (about 32 bytes each).
constexpr size_t kMaxCopyNodes = size_t{1} << 21;
class CopySource {
 public:
  // `texts`: raw strings (the request's messages). Throws rpu::Error past 64 fields, or when
  // the candidates pass kMaxCopyNodes (a long request and a field with no shapes).
  CopySource(const std::vector<std::string>& texts, std::vector<CopyField> fields);
  // As above, each field from its own texts: texts.last_user for a last_user_only field.
  CopySource(const CopyTexts& texts, std::vector<CopyField> fields);

  // The trie node after `byte` from `node`, or -1 when no candidate goes on so.
  int32_t next(int32_t node, uint8_t byte) const;
  bool is_candidate(int32_t node) const { return nodes_[static_cast<size_t>(node)].terminal; }
  int32_t root(size_t field) const { return roots_[field]; }  // -1: the field has no candidate
  const std::vector<CopyField>& fields() const { return fields_; }
  uint64_t all_fields() const { return fields_.size() == 64 ? ~uint64_t{0} : (uint64_t{1} << fields_.size()) - 1; }

 private:
  struct Node {
    bool terminal = false;
    std::vector<std::pair<uint8_t, int32_t>> edges;  // few per node: searched linearly
  };
  void insert(int32_t root, std::string_view bytes);

  std::vector<Node> nodes_;
  std::vector<int32_t> roots_;  // per field
  std::vector<CopyField> fields_;
};

// Where the scan of the output stands (a few bytes: copied by value at every trie node).
struct CopyScan {
  enum class Mode : uint8_t { kOutside, kString, kCopy };
  Mode mode = Mode::kOutside;
  bool escape = false;        // kString: the previous byte was an unescaped backslash
  bool after_key = false;     // outside: the last thing seen was a closed string (a key if ':' follows)
  int16_t field = -1;         // outside: the copy field whose `"KEY":` was just seen, or -1
  int16_t last_key = -1;      // outside: the copy field the last closed string named, or -1
  uint16_t string_length = 0; // kString: bytes so far (capped at 65535)
  int32_t node = 0;           // kCopy: the candidate trie node of the value so far
  uint64_t candidates = 0;    // kString: fields (bit i = field i) whose key the string still prefixes
};

// One sample's matcher: which tokens keep the copied values candidates.
class CopyMatcher {
 public:
  CopyMatcher(std::shared_ptr<const CopySource> source, std::shared_ptr<const GrammarVocab> vocab);

  void mask_logits(std::span<float> logits) const;  // forbidden tokens -> -inf
  bool accept(int32_t token);                        // false: the token breaks a copy (state unchanged)
  // Bytes the scan accepts from `scan` (false: `bytes` break a copy), for tests and accept().
  bool advance(CopyScan& scan, std::string_view bytes) const;
  const CopyScan& scan() const { return scan_; }

 private:
  bool step(CopyScan& scan, uint8_t byte) const;

  std::shared_ptr<const CopySource> source_;
  std::shared_ptr<const GrammarVocab> vocab_;
  CopyScan scan_;
};

}  // namespace rpu
