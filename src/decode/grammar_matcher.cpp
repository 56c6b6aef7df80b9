// GrammarMatcher: sets of parse stacks interned as states of a lazily built byte DFA (see
// grammar.h), and token masks computed by one walk of the vocabulary trie.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/error.h"
#include "decode/grammar.h"

namespace rpu {
namespace {

constexpr int32_t kDead = -1;
constexpr int32_t kUnknown = -2;
constexpr int32_t kComplete = -1;  // stack id meaning "the whole input has been matched"
// Caches grow with the text and the walks; past these sizes they are rebuilt from the current
// state, which keeps memory bounded (a state costs 4 bytes per byte class of transitions).
constexpr size_t kMaxStates = 1 << 15;
constexpr size_t kMaxNodes = 1 << 21;
constexpr size_t kMaxCachedMasks = 64;
// An ambiguous grammar (`root ::= "" | . root . root`) can match a text in a number of ways
// that grows exponentially with its length, and a state holds one parse stack per way: past
// these bounds one byte's transition is refused (GrammarTooLarge) instead of taking minutes and
// gigabytes. Generated grammars stay below: a state of an enum holds one stack per value, and
// GrammarLimits admit at most ~70,000 values (60,000 measured to match). Each byte's work is
// bounded by these, so 512 bytes of the fuzzer's worst inputs take seconds, not minutes.
constexpr size_t kMaxStacksPerState = 1 << 17;
constexpr size_t kMaxClosureVisits = 1 << 18;  // (position, frame) pairs explored for one byte
// And for one call (a token's bytes, a token mask's trie walk): a mask walks up to a vocabulary's
// worth of bytes, each of which may explore up to the bound above. ~1 s of work at most.
constexpr size_t kMaxVisitsPerCall = 1 << 25;

// uint64 key -> int32 value, open addressing with linear probing: the matcher's hot sets (frames
// by (position, parent), positions visited in one closure) take millions of inserts on ambiguous
// grammars, where node-based std::unordered_map spent most of its time in malloc. clear() costs
// what was inserted, not the table's size. Keys never equal kFree: a key is (position << 32 |
// parent) with a position below 2^31.
class FlatIdMap {
 public:
  static constexpr uint64_t kFree = ~uint64_t{0};
  // The value stored for `key`, inserting `value` first if the key is new; `inserted` says which.
  int32_t find_or_insert(uint64_t key, int32_t value, bool& inserted) {
    if ((used_.size() + 1) * 2 > keys_.size()) grow();
    size_t i = slot_of(key);
    while (keys_[i] != kFree) {
      if (keys_[i] == key) {
        inserted = false;
        return values_[i];
      }
      i = (i + 1) & (keys_.size() - 1);
    }
    keys_[i] = key;
    values_[i] = value;
    used_.push_back(static_cast<uint32_t>(i));
    inserted = true;
    return value;
  }
  size_t size() const { return used_.size(); }
  void clear() {
    if (keys_.size() > (size_t{1} << 16) && used_.size() * 64 < keys_.size()) {
      *this = FlatIdMap();  // a table grown by one huge closure is not kept for small ones
      return;
    }
    for (uint32_t i : used_) keys_[i] = kFree;
    used_.clear();
  }

 private:
  // Fibonacci hashing: the product's top bits depend on every bit of the key.
  size_t slot_of(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  void grow() {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<int32_t> old_values = std::move(values_);
    const std::vector<uint32_t> old_used = std::move(used_);
    keys_.assign(std::max<size_t>(64, old_keys.size() * 2), kFree);
    shift_ = 64 - std::countr_zero(keys_.size());
    values_.assign(keys_.size(), 0);
    used_.clear();
    bool inserted;
    for (uint32_t i : old_used) find_or_insert(old_keys[i], old_values[i], inserted);
  }

  std::vector<uint64_t> keys_;  // size a power of two
  std::vector<int32_t> values_;
  std::vector<uint32_t> used_;  // occupied slots, in insertion order
  int shift_ = 64;
};

struct VectorHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

}  // namespace

struct GrammarMatcher::Automaton {
  // A stack frame: position of the next element, and the frame below (-1: bottom). The top
  // frame always points at a byte-set element; lower frames at return positions.
  struct Node {
    int32_t pos;
    int32_t parent;
  };
  struct State {
    std::vector<int32_t> stacks;  // sorted ids; kComplete first when present
    bool complete = false;
  };

  const Grammar& grammar;
  const std::vector<GrammarElement>& elements;
  const std::vector<ByteSet>& sets;

  std::vector<Node> nodes;
  FlatIdMap node_ids;
  std::vector<State> states;
  std::unordered_map<std::vector<int32_t>, int32_t, VectorHash> state_ids;
  const size_t row;  // transitions per state: one per byte class
  std::vector<int32_t> transitions;  // states.size() * row
  std::unordered_map<int32_t, std::vector<uint64_t>> masks;

  size_t call_visits = 0;  // closure work since the matcher's current public call began
  size_t call_budget = kMaxVisitsPerCall;
  std::vector<int32_t> scratch;
  FlatIdMap visited;  // values unused
  std::vector<Node> work;

  explicit Automaton(const Grammar& g)
      : grammar(g), elements(g.elements()), sets(g.byte_sets()), row(static_cast<size_t>(g.byte_class_count())) {}

  int32_t node(int32_t pos, int32_t parent) {
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(parent);
    bool inserted;
    const int32_t id = node_ids.find_or_insert(key, static_cast<int32_t>(nodes.size()), inserted);
    if (inserted) nodes.push_back({pos, parent});
    return id;
  }

  // Adds to `out` every stack whose top is a byte set, reachable from "at pos, below: parent"
  // without consuming input. Iterative: rule chains in user grammars can be long.
  void close(int32_t start_pos, int32_t start_parent, std::vector<int32_t>& out) {
    work.clear();
    work.push_back({start_pos, start_parent});
    while (!work.empty()) {
      auto [pos, parent] = work.back();
      work.pop_back();
      while (true) {
        const GrammarElement& e = elements[static_cast<size_t>(pos)];
        if (e.kind == GrammarElement::kEnd) {
          if (parent < 0) {
            out.push_back(kComplete);
            break;
          }
          const Node below = nodes[static_cast<size_t>(parent)];
          pos = below.pos;
          parent = below.parent;
          continue;
        }
        const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(parent);
        bool first_visit;
        visited.find_or_insert(key, 0, first_visit);
        if (!first_visit) break;  // explored already in this transition
        if (visited.size() > kMaxClosureVisits) too_ambiguous("parse positions", kMaxClosureVisits);
        if (++call_visits > call_budget) {
          throw GrammarTooLarge(fmt::format("grammar: matching one token explored more than {} parse positions; the "
                                            "grammar is too ambiguous to enforce", call_budget));
        }
        if (e.kind == GrammarElement::kBytes) {
          if (!sets[static_cast<size_t>(e.value)].empty()) out.push_back(node(pos, parent));
          if (out.size() > kMaxStacksPerState) too_ambiguous("parse stacks", kMaxStacksPerState);
          break;
        }
        // A call in tail position returns straight to our caller: no frame to push.
        const bool tail = elements[static_cast<size_t>(pos) + 1].kind == GrammarElement::kEnd;
        const int32_t ret = tail ? parent : node(pos + 1, parent);
        for (int32_t alt : grammar.alternatives(e.value)) work.push_back({alt, ret});
        break;
      }
    }
  }

  [[noreturn]] static void too_ambiguous(const char* what, size_t limit) {
    throw GrammarTooLarge(fmt::format("grammar: the text matches the grammar in too many ways (more than {} {} "
                                      "for the next byte); the grammar is too ambiguous to enforce", limit, what));
  }

  int32_t intern(std::vector<int32_t>& stacks) {
    std::sort(stacks.begin(), stacks.end());
    stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
    const auto it = state_ids.find(stacks);
    if (it != state_ids.end()) return it->second;
    const int32_t id = static_cast<int32_t>(states.size());
    State state;
    state.complete = !stacks.empty() && stacks.front() == kComplete;
    state.stacks = stacks;
    states.push_back(std::move(state));
    state_ids.emplace(stacks, id);
    transitions.resize(states.size() * row, kUnknown);
    return id;
  }

  int32_t initial() {
    scratch.clear();
    visited.clear();
    for (int32_t alt : grammar.alternatives(grammar.root())) close(alt, -1, scratch);
    return intern(scratch);
  }

  int32_t step(int32_t state, uint8_t byte) {
    const int32_t known = transitions[static_cast<size_t>(state) * row + grammar.byte_class(byte)];
    return known != kUnknown ? known : compute(state, byte);
  }

  int32_t compute(int32_t state, uint8_t byte) {
    scratch.clear();
    visited.clear();
    for (int32_t id : states[static_cast<size_t>(state)].stacks) {
      if (id == kComplete) continue;
      const Node n = nodes[static_cast<size_t>(id)];
      if (!sets[static_cast<size_t>(elements[static_cast<size_t>(n.pos)].value)].test(byte)) continue;
      close(n.pos + 1, n.parent, scratch);
    }
    const int32_t next = scratch.empty() ? kDead : intern(scratch);
    transitions[static_cast<size_t>(state) * row + grammar.byte_class(byte)] = next;
    return next;
  }

  bool too_big() const { return states.size() > kMaxStates || nodes.size() > kMaxNodes; }

  // Drops all caches, keeping only the given states (renumbered in place).
  void rebuild(std::initializer_list<int32_t*> keep) {
    std::vector<std::vector<std::vector<int32_t>>> saved;  // per kept state: stacks, top to bottom
    for (const int32_t* state : keep) {
      auto& stacks = saved.emplace_back();
      for (int32_t id : states[static_cast<size_t>(*state)].stacks) {
        auto& frames = stacks.emplace_back();
        for (int32_t n = id; n >= 0; n = nodes[static_cast<size_t>(n)].parent) frames.push_back(nodes[static_cast<size_t>(n)].pos);
      }
    }
    nodes.clear();
    node_ids.clear();
    states.clear();
    state_ids.clear();
    transitions.clear();
    masks.clear();
    auto target = keep.begin();
    for (const auto& stacks : saved) {
      std::vector<int32_t> ids;
      for (const auto& frames : stacks) {
        int32_t parent = kComplete;  // no frames: the complete (empty) stack
        for (auto it = frames.rbegin(); it != frames.rend(); ++it) parent = node(*it, parent);
        ids.push_back(parent);
      }
      **target++ = intern(ids);
    }
  }
};

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocab> vocab)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)) {
  if (!grammar_) fail("grammar matcher: no grammar");
  automaton_ = std::make_unique<Automaton>(*grammar_);
  state_ = automaton_->initial();
}

GrammarMatcher::~GrammarMatcher() = default;
GrammarMatcher::GrammarMatcher(GrammarMatcher&&) noexcept = default;
GrammarMatcher& GrammarMatcher::operator=(GrammarMatcher&&) noexcept = default;

void GrammarMatcher::maybe_rebuild() const {
  if (automaton_->too_big()) automaton_->rebuild({&state_});
}

size_t GrammarMatcher::cached_states() const { return automaton_->states.size(); }

void GrammarMatcher::set_visit_budget(size_t visits) { automaton_->call_budget = visits; }

bool GrammarMatcher::is_complete() const { return automaton_->states[static_cast<size_t>(state_)].complete; }

bool GrammarMatcher::can_continue() const {
  const auto& stacks = automaton_->states[static_cast<size_t>(state_)].stacks;
  return std::any_of(stacks.begin(), stacks.end(), [](int32_t id) { return id != kComplete; });
}

size_t GrammarMatcher::accepted_prefix_length(std::string_view bytes) const {
  automaton_->call_visits = 0;
  maybe_rebuild();
  int32_t s = state_;
  for (size_t i = 0; i < bytes.size(); ++i) {
    s = automaton_->step(s, static_cast<uint8_t>(bytes[i]));
    if (s == kDead) return i;
    if (automaton_->too_big()) automaton_->rebuild({&state_, &s});  // long inputs stay bounded
  }
  return bytes.size();
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  automaton_->call_visits = 0;
  maybe_rebuild();
  int32_t s = state_;
  for (char b : bytes) {
    s = automaton_->step(s, static_cast<uint8_t>(b));
    if (s == kDead) return false;
    if (automaton_->too_big()) automaton_->rebuild({&state_, &s});  // long inputs stay bounded
  }
  state_ = s;
  text_.append(bytes);
  return true;
}

const std::vector<uint64_t>& GrammarMatcher::allowed_tokens() const {
  if (!vocab_) fail("grammar matcher: token masks need a vocabulary");
  maybe_rebuild();
  Automaton& a = *automaton_;
  if (const auto it = a.masks.find(state_); it != a.masks.end()) return it->second;
  std::vector<uint64_t> mask = compute_allowed_tokens();
  if (a.masks.size() >= kMaxCachedMasks) a.masks.clear();
  return a.masks.emplace(state_, std::move(mask)).first->second;
}

std::vector<uint64_t> GrammarMatcher::compute_allowed_tokens() const {
  if (!vocab_) fail("grammar matcher: token masks need a vocabulary");
  automaton_->call_visits = 0;
  maybe_rebuild();
  Automaton& a = *automaton_;
  const GrammarVocab::Trie& trie = vocab_->trie();
  std::vector<uint64_t> mask((static_cast<size_t>(vocab_->size()) + 63) / 64, 0);
  const auto allow = [&](int32_t id) { mask[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63); };
  // state_at[d]: DFA state after the first d bytes of the current trie path.
  std::vector<int32_t> state_at(1, state_);
  const int32_t n = static_cast<int32_t>(trie.byte.size());
  for (int32_t i = 1; i < n;) {
    const size_t depth = trie.depth[static_cast<size_t>(i)];
    const int32_t next = a.step(state_at[depth - 1], trie.byte[static_cast<size_t>(i)]);
    if (next == kDead) {
      i = trie.end[static_cast<size_t>(i)];
      continue;
    }
    if (state_at.size() <= depth) state_at.resize(depth + 1);
    state_at[depth] = next;
    for (int32_t t = trie.token_start[static_cast<size_t>(i)]; t < trie.token_start[static_cast<size_t>(i) + 1]; ++t)
      allow(trie.tokens[static_cast<size_t>(t)]);
    ++i;
  }
  if (is_complete())
    for (int32_t id : vocab_->end_of_generation_tokens()) allow(id);
  return mask;
}

bool GrammarMatcher::is_allowed(int32_t token) const {
  if (!vocab_) fail("grammar matcher: token masks need a vocabulary");
  if (token < 0 || token >= vocab_->size()) return false;
  if (vocab_->is_end_of_generation(token)) return is_complete();
  const std::string& piece = vocab_->piece(token);
  return !piece.empty() && accepted_prefix_length(piece) == piece.size();
}

void GrammarMatcher::mask_logits(std::span<float> logits) const {
  if (!vocab_) fail("grammar matcher: token masks need a vocabulary");
  if (logits.size() < static_cast<size_t>(vocab_->size()))
    fail("grammar matcher: {} logits for a vocabulary of {} tokens", logits.size(), vocab_->size());
  const std::vector<uint64_t>& mask = allowed_tokens();
  constexpr float kBlocked = -std::numeric_limits<float>::infinity();
  const size_t n = static_cast<size_t>(vocab_->size());
  for (size_t w = 0; w < mask.size(); ++w) {
    const uint64_t bits = mask[w];
    if (bits == ~uint64_t{0}) continue;
    const size_t end = std::min(n, (w + 1) * 64);
    for (size_t i = w * 64; i < end; ++i)
      if (!((bits >> (i & 63)) & 1)) logits[i] = kBlocked;
  }
  for (size_t i = n; i < logits.size(); ++i) logits[i] = kBlocked;
}

bool GrammarMatcher::accept(int32_t token) {
  if (!vocab_) fail("grammar matcher: accepting tokens needs a vocabulary");
  if (token < 0 || token >= vocab_->size()) return false;
  if (vocab_->is_end_of_generation(token)) return is_complete();
  const std::string& piece = vocab_->piece(token);
  if (piece.empty()) return false;
  return accept_bytes(piece);
}

}  // namespace rpu
