// GBNF text -> byte-level BNF (see grammar.h). Recursive descent over the source; groups and
// repetitions become synthetic rules; character classes become UTF-8 byte-range sequences.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/error.h"
#include "decode/grammar.h"
#include "tokenizer/unicode.h"

namespace rpu {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr int kMaxRepetition = 10000;

struct CodeRange {
  uint32_t lo, hi;
};

// One element of a sequence while parsing: a byte set (index) or a rule reference.
struct Item {
  bool is_rule;
  int32_t value;
};

struct RuleDraft {
  std::string name;
  std::vector<std::vector<Item>> alts;
  bool defined = false;
  size_t first_use = 0;  // source offset of the first reference (for "undefined rule")
  size_t defined_at = 0;
  // Synthetic rules (groups, repetitions) remember where they came from for error messages:
  // a description and a source offset, turned into "line, column" only when reporting (doing
  // it for every rule would scan the source once per group: quadratic in the grammar's size).
  bool synthetic = false;
  const char* origin = "";
  size_t origin_at = 0;
  bool has_origin_at = false;
};

struct ByteSetHash {
  size_t operator()(const ByteSet& s) const {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t w : s.bits) h = (h ^ w) * 1099511628211ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

size_t utf8_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 0;
}

void append_utf8(std::string& out, uint32_t cp) { unicode::append_utf8(out, static_cast<char32_t>(cp)); }

// Splits [lo, hi] (no surrogates, one side of each encoding-length boundary handled by the
// caller) into ranges whose UTF-8 encodings are byte-wise rectangles: every byte position
// ranges independently, so each piece is a sequence of byte ranges.
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  static constexpr uint32_t kLengthEnds[] = {0x7F, 0x7FF, 0xFFFF, kMaxCodePoint};
  for (uint32_t end : kLengthEnds) {
    if (lo <= end && hi > end) {
      utf8_sequences(lo, end, out);
      utf8_sequences(end + 1, hi, out);
      return;
    }
  }
  std::string a, b;
  append_utf8(a, lo);
  append_utf8(b, hi);
  // Split where a lower byte position would not cover its whole continuation range.
  for (size_t i = 1; i < a.size(); ++i) {
    const uint32_t mask = (uint32_t{1} << (6 * i)) - 1;
    if ((lo & ~mask) != (hi & ~mask)) {
      if ((lo & mask) != 0) {
        utf8_sequences(lo, lo | mask, out);
        utf8_sequences((lo | mask) + 1, hi, out);
        return;
      }
      if ((hi & mask) != mask) {
        utf8_sequences(lo, (hi & ~mask) - 1, out);
        utf8_sequences(hi & ~mask, hi, out);
        return;
      }
    }
  }
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (size_t i = 0; i < a.size(); ++i) seq.emplace_back(static_cast<uint8_t>(a[i]), static_cast<uint8_t>(b[i]));
  out.push_back(std::move(seq));
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

class Parser {
 public:
  Parser(std::string_view src, const GrammarLimits& limits) : src_(src), limits_(limits) {}

  std::shared_ptr<const Grammar> run(std::string_view root_name) {
    if (src_.size() > limits_.max_text_bytes)
      throw GrammarTooLarge(fmt::format("grammar: the grammar text has {} bytes, more than the {} allowed", src_.size(),
                                        limits_.max_text_bytes));
    skip_space();
    if (at_end()) fail("grammar: the grammar is empty (expected rules like `root ::= ...`)");
    while (!at_end()) {
      const size_t start = pos_;
      if (!is_name_char(peek())) error_at(pos_, "expected a rule name");
      const std::string name = parse_name();
      skip_space();
      if (src_.substr(pos_, 3) != "::=") error_at(pos_, fmt::format("expected '::=' after rule name '{}'", name));
      pos_ += 3;
      const int32_t id = rule_id(name, start);
      RuleDraft& rule = rules_[static_cast<size_t>(id)];
      if (rule.defined)
        error_at(start, fmt::format("rule '{}' is defined twice (first at {})", name, location(rule.defined_at)));
      rule.defined = true;
      rule.defined_at = start;
      auto alts = parse_alternatives(false);
      rules_[static_cast<size_t>(id)].alts = std::move(alts);
      skip_space();
    }
    for (const RuleDraft& rule : rules_)
      if (!rule.defined) error_at(rule.first_use, fmt::format("undefined rule '{}'", rule.name));
    const auto root = names_.find(std::string(root_name));
    if (root == names_.end()) fail("grammar: no rule named '{}' (the start rule)", root_name);
    check_left_recursion();
    return lower(root->second);
  }

 private:
  bool at_end() const { return pos_ >= src_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }

  std::string location(size_t offset) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return fmt::format("line {}, column {}", line, column);
  }
  [[noreturn]] void error_at(size_t offset, const std::string& message) const {
    fail("grammar: {}: {}", location(offset), message);
  }

  // Spaces, newlines and comments.
  void skip_space() {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '#') {
        while (!at_end() && peek() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    return std::string(src_.substr(start, pos_ - start));
  }

  // Whether a new rule definition (`name ::=`) starts here: it ends the current rule.
  bool at_rule_start() const {
    size_t p = pos_;
    if (p >= src_.size() || !is_name_char(src_[p])) return false;
    while (p < src_.size() && is_name_char(src_[p])) ++p;
    while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t' || src_[p] == '\r' || src_[p] == '\n')) ++p;
    return src_.substr(p, 3) == "::=";
  }

  int32_t rule_id(const std::string& name, size_t used_at) {
    const auto [it, inserted] = names_.emplace(name, static_cast<int32_t>(rules_.size()));
    if (inserted) {
      reserve_rules(1);
      RuleDraft rule;
      rule.name = name;
      rule.first_use = used_at;
      rules_.push_back(std::move(rule));
    }
    return it->second;
  }

  // origin: a string literal ("group", ...); at: its source offset, or npos for none.
  int32_t new_synthetic(const char* origin, size_t at = std::string_view::npos) {
    reserve_rules(1);
    RuleDraft rule;
    rule.name = fmt::format("_g_{}", rules_.size());
    rule.defined = true;
    rule.synthetic = true;
    rule.origin = origin;
    rule.has_origin_at = at != std::string_view::npos;
    rule.origin_at = rule.has_origin_at ? at : 0;
    rules_.push_back(std::move(rule));
    return static_cast<int32_t>(rules_.size() - 1);
  }

  // Budget checks, called before the rules / elements are made so a grammar over the limits
  // costs little before it is refused.
  void reserve_rules(size_t n) {
    if (rules_.size() + n > limits_.max_rules)
      throw GrammarTooLarge(fmt::format("grammar: more than {} rules (after expanding groups, repetitions and "
                                        "character classes)", limits_.max_rules));
  }
  void charge_elements(size_t n) {
    elements_ += n;
    if (elements_ > limits_.max_elements)
      throw GrammarTooLarge(fmt::format("grammar: more than {} elements (after expanding repetitions)",
                                        limits_.max_elements));
    // Poll the caller's cancel flag every so often, not per element (it may take a lock).
    if (limits_.cancelled && elements_ - last_poll_ >= 4096) {
      last_poll_ = elements_;
      if (limits_.cancelled()) throw GrammarCancelled("grammar: cancelled");
    }
  }

  int32_t byte_set(const ByteSet& set) {
    const auto [it, inserted] = set_ids_.emplace(set, static_cast<int32_t>(sets_.size()));
    if (inserted) sets_.push_back(set);
    return it->second;
  }
  Item single_byte(uint8_t b) {
    ByteSet set;
    set.set(b);
    return {false, byte_set(set)};
  }

  std::vector<std::vector<Item>> parse_alternatives(bool nested) {
    std::vector<std::vector<Item>> alts;
    alts.push_back(parse_sequence(nested));
    while (peek() == '|') {
      ++pos_;
      alts.push_back(parse_sequence(nested));
    }
    return alts;
  }

  std::vector<Item> parse_sequence(bool nested) {
    std::vector<Item> seq;
    charge_elements(1);  // the alternative's end marker
    while (true) {
      skip_space();
      if (at_end() || peek() == '|' || peek() == ')' || at_rule_start()) break;
      const size_t item_start = seq.size();
      const size_t where = pos_;
      const char c = peek();
      if (c == '"') {
        parse_literal(seq);
      } else if (c == '[') {
        seq.push_back(parse_class());
      } else if (c == '.') {
        ++pos_;
        seq.push_back(class_item({{0, kMaxCodePoint}}, false));
      } else if (c == '(') {
        if (++nesting_ > kMaxNesting) error_at(where, fmt::format("groups nested deeper than {} levels", kMaxNesting));
        ++pos_;
        const int32_t group = new_synthetic("group", where);
        auto alts = parse_alternatives(true);
        rules_[static_cast<size_t>(group)].alts = std::move(alts);
        if (peek() != ')') error_at(where, "unbalanced parentheses: '(' is never closed");
        ++pos_;
        --nesting_;
        seq.push_back({true, group});
      } else if (is_name_char(c)) {
        const std::string name = parse_name();
        seq.push_back({true, rule_id(name, where)});
      } else {
        error_at(pos_, fmt::format("unexpected character '{}'", c));
      }
      charge_elements(seq.size() - item_start);
      parse_postfix(seq, item_start);
    }
    if (!nested && peek() == ')') error_at(pos_, "unbalanced parentheses: ')' without '('");
    return seq;
  }

  void parse_postfix(std::vector<Item>& seq, size_t item_start) {
    while (true) {
      // Postfix operators follow their item directly or after spaces on the same line.
      size_t p = pos_;
      while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t')) ++p;
      if (p >= src_.size()) return;
      const char op = src_[p];
      if (op != '?' && op != '*' && op != '+' && op != '{') return;
      pos_ = p;
      const size_t where = pos_;
      ++pos_;
      int min = 0, max = -1;  // -1: unbounded
      if (op == '?') max = 1;
      if (op == '+') min = 1;
      if (op == '{') {
        min = parse_count(where);
        max = min;
        if (peek() == ',') {
          ++pos_;
          skip_inline_space();
          max = peek() == '}' ? -1 : parse_count(where);
        }
        skip_inline_space();
        if (peek() != '}') error_at(where, "expected '}' to close the repetition {m,n}");
        ++pos_;
        if (max >= 0 && max < min) error_at(where, fmt::format("repetition {{{},{}}} has max < min", min, max));
      }
      std::vector<Item> item(seq.begin() + static_cast<std::ptrdiff_t>(item_start), seq.end());
      seq.resize(item_start);
      repeat(seq, item, min, max, where);
    }
  }

  void skip_inline_space() {
    while (peek() == ' ' || peek() == '\t') ++pos_;
  }

  int parse_count(size_t where) {
    skip_inline_space();
    if (!(peek() >= '0' && peek() <= '9')) error_at(where, "expected a number in the repetition {m,n}");
    long value = 0;
    while (peek() >= '0' && peek() <= '9') {
      value = value * 10 + (peek() - '0');
      if (value > kMaxRepetition) error_at(where, fmt::format("repetition count above {}", kMaxRepetition));
      ++pos_;
    }
    skip_inline_space();
    return static_cast<int>(value);
  }

  // Appends `item` repeated min..max times (max -1: unbounded) to seq.
  void repeat(std::vector<Item>& seq, const std::vector<Item>& item, int min, int max, size_t where) {
    Item unit = item.size() == 1 ? item[0] : Item{true, -1};
    if (item.size() != 1) {
      unit.value = new_synthetic("repeated item", where);
      charge_elements(item.size() + 1);
      rules_[static_cast<size_t>(unit.value)].alts = {item};
    }
    // Refuse an expansion past the budget before making it.
    const size_t optional = max < 0 ? 1 : static_cast<size_t>(max - min);
    reserve_rules(optional);
    charge_elements(static_cast<size_t>(min) + 3 * optional);
    for (int i = 0; i < min; ++i) seq.push_back(unit);
    const char* origin = "repetition";
    if (max < 0) {
      // star ::= unit star | ""
      const int32_t star = new_synthetic(origin, where);
      rules_[static_cast<size_t>(star)].alts = {{unit, {true, star}}, {}};
      seq.push_back({true, star});
    } else if (max > min) {
      // opt_k ::= unit opt_{k-1} | ""  (k optional copies, nested so "a{0,3}" has no ambiguity)
      int32_t inner = -1;
      for (int k = 0; k < max - min; ++k) {
        const int32_t opt = new_synthetic(origin, where);
        std::vector<Item> first = {unit};
        if (inner >= 0) first.push_back({true, inner});
        rules_[static_cast<size_t>(opt)].alts = {first, {}};
        inner = opt;
      }
      seq.push_back({true, inner});
    }
  }

  // Reads one code point of the source (a character or an escape) inside "..." or [...].
  // raw_byte is set when the escape \xHH named a byte (only meaningful in literals).
  uint32_t parse_char(bool& raw_byte) {
    raw_byte = false;
    const size_t where = pos_;
    const uint8_t c = static_cast<uint8_t>(peek());
    if (c == '\\') {
      ++pos_;
      const char e = peek();
      ++pos_;
      switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case '\\': return '\\';
        case '"': return '"';
        case '\'': return '\'';
        case '[': return '[';
        case ']': return ']';
        case '-': return '-';
        case '^': return '^';
        case '/': return '/';
        case 'x': raw_byte = true; return parse_hex(2, where);
        case 'u': return parse_hex(4, where);
        case 'U': return parse_hex(8, where);
        default: error_at(where, fmt::format("unknown escape '\\{}'", e));
      }
    }
    const size_t len = utf8_length(c);
    if (len == 0 || pos_ + len > src_.size()) error_at(where, "invalid UTF-8 in the grammar text");
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; ++i) {
      const uint8_t cont = static_cast<uint8_t>(src_[pos_ + i]);
      if ((cont & 0xC0) != 0x80) error_at(where, "invalid UTF-8 in the grammar text");
      cp = (cp << 6) | (cont & 0x3F);
    }
    pos_ += len;
    return cp;
  }

  uint32_t parse_hex(int digits, size_t where) {
    uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      const char h = peek();
      int d;
      if (h >= '0' && h <= '9') d = h - '0';
      else if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
      else error_at(where, fmt::format("escape needs {} hex digits", digits));
      value = value * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    if (value > kMaxCodePoint || (value >= 0xD800 && value <= 0xDFFF))
      error_at(where, fmt::format("escape names U+{:X}, which is not a Unicode scalar value", value));
    return value;
  }

  void parse_literal(std::vector<Item>& seq) {
    const size_t where = pos_;
    ++pos_;  // opening quote
    while (true) {
      if (at_end() || peek() == '\n') error_at(where, "unterminated string literal");
      if (peek() == '"') break;
      bool raw_byte = false;
      const uint32_t cp = parse_char(raw_byte);
      if (raw_byte) {
        seq.push_back(single_byte(static_cast<uint8_t>(cp)));
        continue;
      }
      std::string bytes;
      append_utf8(bytes, cp);
      for (char b : bytes) seq.push_back(single_byte(static_cast<uint8_t>(b)));
    }
    ++pos_;
  }

  Item parse_class() {
    const size_t where = pos_;
    ++pos_;  // '['
    bool negated = false;
    if (peek() == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<CodeRange> ranges;
    while (true) {
      if (at_end() || peek() == '\n') error_at(where, "unterminated character class '['");
      if (peek() == ']') break;
      bool raw = false;
      const uint32_t lo = parse_char(raw);
      uint32_t hi = lo;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < src_.size()) {
        ++pos_;
        hi = parse_char(raw);
        if (hi < lo) error_at(where, fmt::format("character range U+{:X}-U+{:X} is reversed", lo, hi));
      }
      ranges.push_back({lo, hi});
    }
    ++pos_;
    return class_item(ranges, negated);
  }

  // Code point class -> a byte set (ASCII only) or a synthetic rule of UTF-8 sequences.
  Item class_item(std::vector<CodeRange> ranges, bool negated) {
    std::sort(ranges.begin(), ranges.end(), [](const CodeRange& a, const CodeRange& b) { return a.lo < b.lo; });
    std::vector<CodeRange> merged;
    for (const CodeRange& r : ranges) {
      if (!merged.empty() && r.lo <= merged.back().hi + 1) merged.back().hi = std::max(merged.back().hi, r.hi);
      else merged.push_back(r);
    }
    if (negated) {
      std::vector<CodeRange> complement;
      uint32_t next = 0;
      for (const CodeRange& r : merged) {
        if (r.lo > next) complement.push_back({next, r.lo - 1});
        next = r.hi + 1;
      }
      if (next <= kMaxCodePoint) complement.push_back({next, kMaxCodePoint});
      merged = std::move(complement);
    }
    // Surrogates have no UTF-8 encoding.
    std::vector<CodeRange> valid;
    for (const CodeRange& r : merged) {
      if (r.hi < 0xD800 || r.lo > 0xDFFF) {
        valid.push_back(r);
        continue;
      }
      if (r.lo < 0xD800) valid.push_back({r.lo, 0xD7FF});
      if (r.hi > 0xDFFF) valid.push_back({0xE000, r.hi});
    }
    ByteSet ascii;
    std::vector<std::vector<std::pair<uint8_t, uint8_t>>> sequences;
    for (const CodeRange& r : valid) {
      if (r.lo < 0x80) ascii.set_range(static_cast<uint8_t>(r.lo), static_cast<uint8_t>(std::min<uint32_t>(r.hi, 0x7F)));
      if (r.hi >= 0x80) utf8_sequences(std::max<uint32_t>(r.lo, 0x80), r.hi, sequences);
    }
    if (sequences.empty()) return {false, byte_set(ascii)};
    const int32_t rule = new_synthetic("character class");
    size_t n_elements = 0;
    for (const auto& seq : sequences) n_elements += seq.size() + 1;
    charge_elements(n_elements + 2);
    auto& alts = rules_[static_cast<size_t>(rule)].alts;
    if (!ascii.empty()) alts.push_back({{false, byte_set(ascii)}});
    for (const auto& seq : sequences) {
      std::vector<Item> alt;
      for (const auto& [lo, hi] : seq) {
        ByteSet set;
        set.set_range(lo, hi);
        alt.push_back({false, byte_set(set)});
      }
      alts.push_back(std::move(alt));
    }
    return {true, rule};
  }

  // A rule that can reach itself before consuming a byte would make the matcher loop.
  void check_left_recursion() const {
    const size_t n = rules_.size();
    std::vector<char> nullable(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const auto& alt : rules_[r].alts) {
          const bool all = std::all_of(alt.begin(), alt.end(),
                                       [&](const Item& i) { return i.is_rule && nullable[static_cast<size_t>(i.value)]; });
          if (all) {
            nullable[r] = 1;
            changed = true;
            break;
          }
        }
      }
    }
    // Edges: rule -> rules it can start with.
    std::vector<std::vector<int32_t>> first(n);
    for (size_t r = 0; r < n; ++r) {
      for (const auto& alt : rules_[r].alts) {
        for (const Item& i : alt) {
          if (!i.is_rule) break;
          first[r].push_back(i.value);
          if (!nullable[static_cast<size_t>(i.value)]) break;
        }
      }
    }
    std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the DFS path, 2 done
    std::vector<std::pair<int32_t, size_t>> stack;
    for (size_t start = 0; start < n; ++start) {
      if (color[start]) continue;
      stack.push_back({static_cast<int32_t>(start), 0});
      color[start] = 1;
      while (!stack.empty()) {
        auto& [rule, next] = stack.back();
        const auto& edges = first[static_cast<size_t>(rule)];
        if (next == edges.size()) {
          color[static_cast<size_t>(rule)] = 2;
          stack.pop_back();
          continue;
        }
        const int32_t to = edges[next++];
        if (color[static_cast<size_t>(to)] == 1) report_left_recursion(to);
        if (color[static_cast<size_t>(to)] == 0) {
          color[static_cast<size_t>(to)] = 1;
          stack.push_back({to, 0});
        }
      }
    }
  }

  [[noreturn]] void report_left_recursion(int32_t rule) const {
    const RuleDraft& r = rules_[static_cast<size_t>(rule)];
    if (r.synthetic) {
      const std::string origin = r.has_origin_at ? fmt::format("{} at {}", r.origin, location(r.origin_at)) : r.origin;
      fail("grammar: {} can match empty text inside a loop, so the grammar could loop forever without "
           "consuming input (left recursion is not supported)",
           origin);
    }
    error_at(r.defined_at, fmt::format("rule '{}' is left-recursive (it can reach itself without consuming "
                                       "input); rewrite it with repetition, e.g. `x ::= y (\",\" y)*`",
                                       r.name));
  }

  std::shared_ptr<const Grammar> lower(int32_t root) const {
    std::vector<Grammar::Rule> rules(rules_.size());
    std::vector<GrammarElement> elements;
    for (size_t r = 0; r < rules_.size(); ++r) {
      rules[r].name = rules_[r].name;
      for (const auto& alt : rules_[r].alts) {
        rules[r].alts.push_back(static_cast<int32_t>(elements.size()));
        for (const Item& i : alt)
          elements.push_back({i.is_rule ? GrammarElement::kRule : GrammarElement::kBytes, i.value});
        elements.push_back({GrammarElement::kEnd, 0});
      }
    }
    return std::make_shared<const Grammar>(std::move(rules), std::move(elements), sets_, root);
  }

  static constexpr int kMaxNesting = 256;  // the parser and the matcher recurse into groups
  int nesting_ = 0;
  std::string_view src_;
  const GrammarLimits& limits_;
  size_t elements_ = 0, last_poll_ = 0;
  std::unordered_map<ByteSet, int32_t, ByteSetHash> set_ids_;
  size_t pos_ = 0;
  std::vector<RuleDraft> rules_;
  std::unordered_map<std::string, int32_t> names_;
  std::vector<ByteSet> sets_;
};

}  // namespace

Grammar::Grammar(std::vector<Rule> rules, std::vector<GrammarElement> elements, std::vector<ByteSet> sets, int32_t root)
    : rules_(std::move(rules)), elements_(std::move(elements)), byte_sets_(std::move(sets)), root_(root) {
  // A byte's class is its membership pattern across all byte sets, found by refining a
  // partition set by set (256 steps per set, no per-byte pattern vectors to compare).
  int32_t classes = 1;
  for (const ByteSet& set : byte_sets_) {
    int32_t split[256][2];  // old class, member? -> new class (-1: not yet numbered)
    for (int32_t c = 0; c < classes; ++c) split[c][0] = split[c][1] = -1;
    int32_t next = 0;
    for (int b = 0; b < 256; ++b) {
      int32_t& to = split[byte_class_[b]][set.test(static_cast<uint8_t>(b)) ? 1 : 0];
      if (to < 0) to = next++;
      byte_class_[b] = static_cast<uint8_t>(to);
    }
    classes = next;
  }
  n_byte_classes_ = classes;
}

std::shared_ptr<const Grammar> Grammar::parse(std::string_view text, std::string_view root, const GrammarLimits& limits) {
  return Parser(text, limits).run(root);
}

}  // namespace rpu
