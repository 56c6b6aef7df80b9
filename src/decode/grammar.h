// Constrained decoding: a context-free grammar over bytes and a matcher that masks logits so
// the generated text always stays a prefix of a sentence of the grammar.
//
// Representation.
// - Grammar::parse reads GBNF (llama.cpp's grammar notation) and lowers it to plain BNF over
//   *bytes*: every rule is a list of alternatives, every alternative a sequence of elements
//   that are either a byte set (256 bits) or a reference to a rule. Groups and repetitions
//   (`( )`, `?`, `*`, `+`, `{m,n}`) become synthetic rules (`x*` is `r ::= x r | ""`, right
//   recursive). Character classes over code points are compiled to alternatives of UTF-8
//   byte-range sequences, so a token that ends in the middle of a character simply leaves
//   the matcher between two bytes of it. Left recursion (a rule reaching itself without
//   consuming a byte, including a repetition of something that can be empty) is rejected.
// - A parse position is a stack of return positions (an immutable linked list, hash-consed so
//   equal stacks share one id). Calls in tail position do not push, so repetitions do not
//   grow the stack. The matcher's state is the set of possible stacks (sorted, deduplicated),
//   and those sets are themselves interned: advancing a set by one byte is memoised in a
//   table, which makes the state machine a lazily built DFA over bytes.
// - GrammarVocab holds a byte trie over all token pieces (flattened in preorder). A mask is
//   one preorder walk of the trie following DFA transitions; a dead transition skips the
//   whole subtree. Masks are cached per DFA state (JSON strings revisit the same state).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace rpu {

class Tokenizer;

// Bounds on the work a grammar built from a client's input may cost. Parsing is linear in
// these sizes, and so is the matcher's time per token for an unambiguous grammar (a state
// holds up to one parse stack per alternative, e.g. per enum value): a grammar past them is
// refused rather than built. An ambiguous grammar can match a text in exponentially many ways;
// the matcher bounds the stacks per state and throws GrammarTooLarge from the byte past them.
// The defaults allow schemas of OpenAI's structured-output size (5,000 properties, thousands
// of enum values) with room to spare. At the limits (about 30,000 short enum values) a new
// matcher state's mask over a 50k-token vocabulary costs up to about 0.15 s.
// `cancelled` (optional) is polled while building; once it returns true the build stops
// with GrammarCancelled.
struct GrammarLimits {
  size_t max_rules = 100'000;       // rules after lowering (groups, repetitions, classes)
  size_t max_elements = 500'000;    // byte sets and rule references over all alternatives
  size_t max_text_bytes = 1u << 20;  // GBNF source (and JSON Schema conversion output)
  std::function<bool()> cancelled;
};

// Thrown when a grammar (or the schema behind it) exceeds GrammarLimits: the caller's input
// is too large, not malformed.
class GrammarTooLarge : public Error {
 public:
  using Error::Error;
};
// Thrown when GrammarLimits::cancelled reported that the caller went away.
class GrammarCancelled : public Error {
 public:
  using Error::Error;
};

struct ByteSet {
  uint64_t bits[4] = {0, 0, 0, 0};
  bool test(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  void set(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void set_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) set(static_cast<uint8_t>(b));
  }
  bool empty() const { return (bits[0] | bits[1] | bits[2] | bits[3]) == 0; }
  bool operator==(const ByteSet&) const = default;
};

struct GrammarElement {
  enum Kind : uint8_t { kBytes, kRule, kEnd };
  Kind kind = kEnd;
  int32_t value = 0;  // kBytes: index into byte_sets(); kRule: rule id
};

class Grammar {
 public:
  // GBNF text -> grammar. Rules: `name ::= alt | alt`, a rule may span lines (it ends where
  // the next `name ::=` starts). Elements: "literal" (escapes \n \r \t \\ \" \xHH \uHHHH
  // \UHHHHHHHH), [a-z] / [^"\\] classes over code points, `.` (any character), rule names,
  // ( groups ), postfix ? * + {m} {m,} {m,n}; `#` starts a comment. Throws rpu::Error naming
  // line, column and problem.
  // Throws GrammarTooLarge past `limits` (checked as the rules are built, so a huge grammar
  // costs little before it is refused).
  static std::shared_ptr<const Grammar> parse(std::string_view text, std::string_view root = "root",
                                              const GrammarLimits& limits = GrammarLimits());

  // Flattened rules: alternative starts are indices into elements(); each alternative ends
  // with a kEnd element.
  const std::vector<GrammarElement>& elements() const { return elements_; }
  const std::vector<int32_t>& alternatives(int32_t rule) const { return rules_[static_cast<size_t>(rule)].alts; }
  const std::vector<ByteSet>& byte_sets() const { return byte_sets_; }
  int32_t root() const { return root_; }
  size_t rule_count() const { return rules_.size(); }
  const std::string& rule_name(int32_t rule) const { return rules_[static_cast<size_t>(rule)].name; }

  struct Rule {
    std::string name;
    std::vector<int32_t> alts;
  };
  // Used by the parser only.
  Grammar(std::vector<Rule> rules, std::vector<GrammarElement> elements, std::vector<ByteSet> sets, int32_t root);

  // Bytes that no byte set tells apart share a class; DFA rows are indexed by class.
  int32_t byte_class_count() const { return n_byte_classes_; }
  uint8_t byte_class(uint8_t byte) const { return byte_class_[byte]; }

 private:
  std::vector<Rule> rules_;
  std::vector<GrammarElement> elements_;
  std::vector<ByteSet> byte_sets_;
  int32_t root_ = 0;
  uint8_t byte_class_[256] = {};
  int32_t n_byte_classes_ = 1;
};

// The token pieces of one tokenizer as a byte trie; build once per tokenizer and share.
class GrammarVocab {
 public:
  static std::shared_ptr<const GrammarVocab> build(const Tokenizer& tokenizer);

  int32_t size() const { return n_vocab_; }
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  bool is_end_of_generation(int32_t id) const { return eog_mask_[static_cast<size_t>(id)] != 0; }
  const std::vector<int32_t>& end_of_generation_tokens() const { return eog_; }
  // Tokens whose piece has a '"': outside a JSON string only these can open one (the copy
  // matcher, decode/copy_matcher.h, checks just them there). Found once per tokenizer.
  const std::vector<int32_t>& quote_tokens() const { return quote_tokens_; }
  // Tokens whose piece has a '=': only these can ask the calculator (decode/calculator.h) for
  // a result.
  const std::vector<int32_t>& equals_tokens() const { return equals_tokens_; }
  // Tokens whose piece has a '>': only these can close a reasoning span ("</think>",
  // pipeline/thinking_prefix.h).
  const std::vector<int32_t>& angle_tokens() const { return angle_tokens_; }

  // Trie in preorder; node 0 is the root (empty prefix). Node i's subtree is [i, end[i]).
  struct Trie {
    std::vector<uint8_t> byte;        // byte leading into the node
    std::vector<uint16_t> depth;      // root = 0 (pieces longer than 65535 bytes are left out)
    std::vector<int32_t> end;         // one past the node's subtree
    std::vector<int32_t> token_start;  // tokens whose piece ends here: tokens[token_start[i] .. token_start[i+1])
    std::vector<int32_t> tokens;
  };
  const Trie& trie() const { return trie_; }

  // Blocks (-inf) every token whose piece a byte scan refuses, starting from `start`:
  // `step(State&, uint8_t)` returns false to refuse a byte. The trie is walked depth first with
  // one State per depth, so a refused prefix rules out its whole subtree; control tokens (empty
  // pieces) and ids past the vocabulary are blocked too. For scans whose state is small and
  // whose allowed set is narrow (a copied value, a computed result).
  template <class State, class Step>
  void mask_by_scan(const State& start, Step step, std::span<float> logits) const {
    std::vector<uint8_t> allowed(static_cast<size_t>(n_vocab_), 0);
    std::vector<State> at_depth(1, start);
    const auto nodes = static_cast<int32_t>(trie_.byte.size());
    for (int32_t i = 1; i < nodes;) {
      const auto node = static_cast<size_t>(i);
      const size_t d = trie_.depth[node];
      State s = at_depth[d - 1];
      if (!step(s, trie_.byte[node])) {
        i = trie_.end[node];
        continue;
      }
      if (at_depth.size() <= d) at_depth.resize(d + 1);
      at_depth[d] = std::move(s);
      for (int32_t t = trie_.token_start[node]; t < trie_.token_start[node + 1]; ++t)
        allowed[static_cast<size_t>(trie_.tokens[static_cast<size_t>(t)])] = 1;
      ++i;
    }
    for (size_t id = 0; id < logits.size(); ++id)
      if (id >= allowed.size() || !allowed[id]) logits[id] = -std::numeric_limits<float>::infinity();
  }

 private:
  int32_t n_vocab_ = 0;
  std::vector<std::string> pieces_;  // token_to_piece; empty for control tokens
  std::vector<uint8_t> eog_mask_;
  std::vector<int32_t> eog_;
  std::vector<int32_t> quote_tokens_;
  std::vector<int32_t> equals_tokens_;
  std::vector<int32_t> angle_tokens_;
  Trie trie_;
};

// Tracks the text accepted so far against a grammar. Not thread-safe (mask computation
// fills caches); use one matcher per sequence.
class GrammarMatcher {
 public:
  // vocab may be null when only byte-level use (accept_bytes) is needed.
  GrammarMatcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocab> vocab);
  ~GrammarMatcher();
  GrammarMatcher(GrammarMatcher&&) noexcept;
  GrammarMatcher& operator=(GrammarMatcher&&) noexcept;

  // Sets the logits of tokens that cannot come next to -infinity. logits may be longer than
  // the vocabulary (padded embedding rows): the extra entries are masked too.
  void mask_logits(std::span<float> logits) const;
  // Allowed tokens as a bit set (bit id%64 of word id/64), size ceil(vocab/64); cached per
  // state. The reference is valid until the next call on this matcher.
  const std::vector<uint64_t>& allowed_tokens() const;
  // The same, always by walking the trie (no mask cache): for tests and measurements.
  std::vector<uint64_t> compute_allowed_tokens() const;
  bool is_allowed(int32_t token) const;

  // Accepts one token; false (and no state change) when it is not allowed. An end-of-
  // generation token is accepted only when the text is complete and changes nothing.
  bool accept(int32_t token);
  // Accepts raw bytes (all or nothing); usable without a vocabulary.
  bool accept_bytes(std::string_view bytes);
  // Length of the longest prefix of bytes that can be accepted (no state change).
  size_t accepted_prefix_length(std::string_view bytes) const;

  bool is_complete() const;   // the text so far is a whole sentence
  bool can_continue() const;  // some further byte is possible
  const std::string& text() const { return text_; }
  // Size of the matcher's caches (DFA states built so far); bounded, see grammar_matcher.cpp.
  size_t cached_states() const;
  // The most parse positions one call (accept_bytes, accepted_prefix_length, a token mask) may
  // explore before it throws GrammarTooLarge (default 2^25, about a second): transitions are
  // cached, so only a grammar that keeps making new, highly ambiguous states gets near it.
  void set_visit_budget(size_t visits);

 private:
  struct Automaton;
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const GrammarVocab> vocab_;
  void maybe_rebuild() const;  // bounds the caches' memory (may renumber state_)

  std::unique_ptr<Automaton> automaton_;
  mutable int32_t state_ = 0;
  std::string text_;
};

}  // namespace rpu
