#include "decode/copy_matcher.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "decode/grammar.h"

namespace rpu {
namespace {

bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_word_byte(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
// value_shape, one byte at a time: a letter or digit extends a run of its class.
void append_shape(std::string& shape, uint8_t c) {
  const char cls = (c >= 'A' && c <= 'Z') ? 'A' : ((c >= 'a' && c <= 'z') || c >= 0x80) ? 'a' : (c >= '0' && c <= '9') ? '#' : static_cast<char>(c);
  const bool run = (cls == 'A' || cls == 'a' || cls == '#') && !shape.empty() && shape.back() == cls;
  if (!run) shape.push_back(cls);
}
// A word boundary at p: the text's ends, or not between two word bytes.
bool boundary(std::string_view t, size_t p) {
  return p == 0 || p == t.size() || !(is_word_byte(static_cast<uint8_t>(t[p - 1])) && is_word_byte(static_cast<uint8_t>(t[p])));
}

// Where a candidate may start: a word boundary that is not a space.
bool is_start(std::string_view t, size_t i) { return boundary(t, i) && !is_space(static_cast<uint8_t>(t[i])); }

// One byte of text as JSON writes it inside a string (what a model's copy looks like).
std::string json_escaped(uint8_t c) {
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: break;
  }
  if (c < 0x20) {
    static const char* kHex = "0123456789abcdef";
    return std::string("\\u00") + kHex[c >> 4] + kHex[c & 15];
  }
  return std::string(1, static_cast<char>(c));
}

// The ends j of the candidate spans [start, j) of `t`, in increasing order.
std::vector<size_t> candidate_ends(std::string_view t, size_t start, const std::vector<std::string>& shapes) {
  std::vector<size_t> ends;
  std::string shape;
  int words = 1;
  for (size_t j = start + 1; j <= t.size() && j - start <= kMaxCopyBytes; ++j) {
    const auto c = static_cast<uint8_t>(t[j - 1]);
    if (is_space(c) && !is_space(static_cast<uint8_t>(t[j - 2])) && ++words > kMaxCopyWords) break;
    append_shape(shape, c);
    if (!boundary(t, j) || is_space(c)) continue;
    if (shapes.empty() || std::find(shapes.begin(), shapes.end(), shape) != shapes.end()) ends.push_back(j);
  }
  return ends;
}

}  // namespace

std::string value_shape(std::string_view value) {
  std::string shape;
  for (char ch : value) append_shape(shape, static_cast<uint8_t>(ch));
  return shape;
}

std::vector<CopyField> parse_copy_fields(const nlohmann::ordered_json& j) {
  constexpr const char* kForm =
      "an array of key names or an object of key -> array of value shapes or {\"shapes\": [...], \"from\": "
      "\"last_user\" | \"messages\"}";
  std::vector<CopyField> fields;
  const auto key_of = [&](const std::string& key) {
    if (key.empty()) throw Error(std::string("copy_fields: a key is empty; expected ") + kForm);
    for (const CopyField& f : fields)
      if (f.key == key) throw Error("copy_fields: key '" + key + "' appears twice");
    fields.push_back(CopyField{key, {}});
    return &fields.back();
  };
  if (j.is_array()) {
    for (const auto& k : j) {
      if (!k.is_string()) throw Error(std::string("copy_fields: expected ") + kForm);
      key_of(k.get<std::string>());
    }
  } else if (j.is_object()) {
    for (const auto& item : j.items()) {
      const std::string& key = item.key();  // a plain reference: clang's lambdas cannot capture structured bindings
      const nlohmann::ordered_json& spec = item.value();
      CopyField* f = key_of(key);
      const auto read_shapes = [&](const nlohmann::ordered_json& shapes) {
        if (!shapes.is_array()) throw Error("copy_fields: the shapes of '" + key + "' must be an array of strings");
        for (const auto& s : shapes) {
          if (!s.is_string() || s.get_ref<const std::string&>().empty())
            throw Error("copy_fields: the shapes of '" + key + "' must be non-empty strings");
          f->shapes.push_back(s.get<std::string>());
        }
      };
      if (!spec.is_object()) {
        read_shapes(spec);
        continue;
      }
      for (const auto& [name, value] : spec.items()) {
        if (name == "shapes") {
          read_shapes(value);
        } else if (name == "from" && value.is_string() && (value == "last_user" || value == "messages")) {
          f->last_user_only = value == "last_user";
        } else if (name == "from") {
          throw Error("copy_fields: the 'from' of '" + key + "' must be \"last_user\" or \"messages\"");
        } else {
          throw Error("copy_fields: '" + key + "' has an unknown key '" + name + "'");
        }
      }
    }
  } else {
    throw Error(std::string("copy_fields: expected ") + kForm);
  }
  if (fields.size() > 64) throw Error("copy_fields: at most 64 keys, got " + std::to_string(fields.size()));
  return fields;
}

nlohmann::ordered_json copy_fields_json(const std::vector<CopyField>& fields) {
  const bool shaped = std::any_of(fields.begin(), fields.end(),
                                  [](const CopyField& f) { return !f.shapes.empty() || f.last_user_only; });
  nlohmann::ordered_json j = shaped ? nlohmann::ordered_json::object() : nlohmann::ordered_json::array();
  for (const CopyField& f : fields) {
    if (!shaped) j.push_back(f.key);
    else if (f.last_user_only) j[f.key] = {{"shapes", f.shapes}, {"from", "last_user"}};
    else j[f.key] = f.shapes;
  }
  return j;
}

namespace {
// A message's texts: its string content, or its content parts' text.
void append_message_texts(const nlohmann::ordered_json& m, std::vector<std::string>& texts) {
  if (!m.contains("content")) return;
  const auto& content = m["content"];
  if (content.is_string()) texts.push_back(content.get<std::string>());
  if (!content.is_array()) return;
  for (const auto& part : content)
    if (part.is_object() && part.contains("text") && part["text"].is_string()) texts.push_back(part["text"].get<std::string>());
}
}  // namespace

std::vector<std::string> copy_source_texts(const nlohmann::ordered_json& messages) {
  std::vector<std::string> texts;
  if (!messages.is_array()) return texts;
  for (const auto& m : messages) {
    if (m.is_object() && m.value("role", "") != "assistant") append_message_texts(m, texts);
  }
  return texts;
}

CopyTexts copy_texts(const nlohmann::ordered_json& messages) {
  CopyTexts texts{copy_source_texts(messages), {}};
  if (!messages.is_array()) return texts;
  for (size_t i = messages.size(); i-- > 0;) {
    const auto& m = messages[i];
    if (!m.is_object() || m.value("role", "") != "user") continue;
    append_message_texts(m, texts.last_user);
    break;
  }
  return texts;
}

std::vector<std::string> copy_candidates(std::string_view text, const std::vector<std::string>& shapes) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!is_start(text, i)) continue;
    for (size_t j : candidate_ends(text, i, shapes)) {
      std::string v(text.substr(i, j - i));
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
    }
  }
  return out;
}

CopySource::CopySource(const std::vector<std::string>& texts, std::vector<CopyField> fields)
    : CopySource(CopyTexts{texts, texts}, std::move(fields)) {}

CopySource::CopySource(const CopyTexts& texts, std::vector<CopyField> fields) : fields_(std::move(fields)) {
  if (fields_.size() > 64) throw Error("copy_fields: at most 64 keys, got " + std::to_string(fields_.size()));
  for (const CopyField& field : fields_) {
    const auto root = static_cast<int32_t>(nodes_.size());
    nodes_.emplace_back();
    // From each start, the path to its furthest candidate end, a candidate at every end on the
    // way: every node leads to a candidate, so a value the trie allows can always be finished.
    for (const std::string& text : field.last_user_only ? texts.last_user : texts.messages) {
      for (size_t i = 0; i < text.size(); ++i) {
        if (!is_start(text, i)) continue;
        const std::vector<size_t> ends = candidate_ends(text, i, field.shapes);
        if (ends.empty()) continue;
        int32_t node = root;
        size_t next_end = 0;
        for (size_t j = i; j < ends.back(); ++j) {
          for (char b : json_escaped(static_cast<uint8_t>(text[j]))) {
            int32_t to = next(node, static_cast<uint8_t>(b));
            if (to == -1) {
              if (nodes_.size() >= kMaxCopyNodes) {
                throw Error("copy_fields: the request holds more text to copy '" + field.key + "' from than " +
                            std::to_string(kMaxCopyNodes) + " trie nodes; give the field value shapes or send less text");
              }
              to = static_cast<int32_t>(nodes_.size());
              nodes_[static_cast<size_t>(node)].edges.emplace_back(static_cast<uint8_t>(b), to);
              nodes_.emplace_back();
            }
            node = to;
          }
          if (j + 1 == ends[next_end]) {
            nodes_[static_cast<size_t>(node)].terminal = true;
            ++next_end;
          }
        }
      }
    }
    roots_.push_back(nodes_[static_cast<size_t>(root)].edges.empty() ? -1 : root);
  }
}

int32_t CopySource::next(int32_t node, uint8_t byte) const {
  for (const auto& [b, to] : nodes_[static_cast<size_t>(node)].edges)
    if (b == byte) return to;
  return -1;
}

CopyMatcher::CopyMatcher(std::shared_ptr<const CopySource> source, std::shared_ptr<const GrammarVocab> vocab)
    : source_(std::move(source)), vocab_(std::move(vocab)) {}

// One byte of output. Outside strings only `"KEY"` followed by ':' and a quote matters; in a
// copied value every byte must stay on a candidate's path.
bool CopyMatcher::step(CopyScan& s, uint8_t c) const {
  switch (s.mode) {
    case CopyScan::Mode::kCopy: {
      // The trie holds a quote only escaped (after a backslash): any other quote closes.
      const int32_t to = source_->next(s.node, c);
      if (c == '"' && to == -1) {
        if (!source_->is_candidate(s.node)) return false;
        s = CopyScan{};
        return true;
      }
      s.node = to;
      return to != -1;
    }
    case CopyScan::Mode::kString:
      if (c == '"' && !s.escape) {
        int16_t key = -1;
        for (size_t i = 0; i < source_->fields().size(); ++i)
          if ((s.candidates >> i & 1) && source_->fields()[i].key.size() == s.string_length) key = static_cast<int16_t>(i);
        s = CopyScan{};
        s.after_key = true;
        s.last_key = key;
        return true;
      }
      s.escape = c == '\\' && !s.escape;
      for (size_t i = 0; i < source_->fields().size(); ++i) {
        const std::string& k = source_->fields()[i].key;
        if ((s.candidates >> i & 1) && (k.size() <= s.string_length || static_cast<uint8_t>(k[s.string_length]) != c))
          s.candidates &= ~(uint64_t{1} << i);
      }
      if (s.string_length < std::numeric_limits<uint16_t>::max()) ++s.string_length;
      return true;
    case CopyScan::Mode::kOutside:
      if (is_space(c)) return true;
      if (c == ':' && s.after_key) {
        const int16_t field = s.last_key;
        s = CopyScan{};
        s.field = field;
        return true;
      }
      if (c == '"') {
        const int16_t field = s.field;
        s = CopyScan{};
        if (field < 0) {
          s.mode = CopyScan::Mode::kString;
          s.candidates = source_->all_fields();
          return true;
        }
        s.mode = CopyScan::Mode::kCopy;
        s.node = source_->root(static_cast<size_t>(field));
        return s.node != -1;  // no candidate in the request: only null (or a non-string) is left
      }
      s = CopyScan{};
      return true;
  }
  return true;
}

bool CopyMatcher::advance(CopyScan& scan, std::string_view bytes) const {
  for (char c : bytes)
    if (!step(scan, static_cast<uint8_t>(c))) return false;
  return true;
}

void CopyMatcher::mask_logits(std::span<float> logits) const {
  constexpr float kBlocked = -std::numeric_limits<float>::infinity();
  if (scan_.mode != CopyScan::Mode::kCopy) {
    // Only a token with a quote can open a copied value (and then break it).
    for (int32_t id : vocab_->quote_tokens()) {
      CopyScan s = scan_;
      if (!advance(s, vocab_->piece(id))) logits[static_cast<size_t>(id)] = kBlocked;
    }
    return;
  }
  // Inside a copy: walk the byte trie along the candidates; a prefix no candidate has rules
  // out its whole subtree. Everything not reached (control tokens, the end of generation) is
  // blocked: a value is finished before anything else.
  vocab_->mask_by_scan(scan_, [this](CopyScan& s, uint8_t byte) { return step(s, byte); }, logits);
}

bool CopyMatcher::accept(int32_t token) {
  if (token < 0 || token >= vocab_->size()) return false;
  const std::string& piece = vocab_->piece(token);
  if (piece.empty()) return scan_.mode != CopyScan::Mode::kCopy;
  CopyScan s = scan_;
  if (!advance(s, piece)) return false;
  scan_ = s;
  return true;
}

}  // namespace rpu
