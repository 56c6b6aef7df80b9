// Grammar parsing (errors name line/column and problem), byte-level matching against hand-
// computed expectations, UTF-8 classes against an independent UTF-8 validity oracle, and the
// trie token mask against a brute-force per-token check on real vocabularies.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <fmt/core.h>

#include "core/error.h"
#include "io/gguf.h"
#include "grammar_test_util.h"
#include "test_util.h"
#include "decode/grammar.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

std::string parse_error(const std::string& text, const std::string& root = "root") {
  try {
    Grammar::parse(text, root);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

GrammarMatcher matcher(const std::string& text) { return GrammarMatcher(Grammar::parse(text), nullptr); }

// Accepts `text` in one piece and reports whether it is a whole sentence.
bool full_match(const std::string& grammar, const std::string& text) {
  GrammarMatcher m = matcher(grammar);
  return m.accept_bytes(text) && m.is_complete();
}

TEST(GrammarParseTest, ErrorsNameLineColumnAndProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"root ::= foo", "line 1, column 10: undefined rule 'foo'"},
      {"root ::= x\n\nx ::= \"a\" bar", "line 3, column 11: undefined rule 'bar'"},
      {"root ::= (\"a\"", "line 1, column 10: unbalanced parentheses: '(' is never closed"},
      {"root ::= \"a\")", "line 1, column 13: unbalanced parentheses: ')' without '('"},
      {"root ::= root \"a\"", "rule 'root' is left-recursive"},
      {"root ::= a\na ::= b \"x\"\nb ::= \"\" | a", "left-recursive"},
      {"root ::= (\"a\"?)*", "can match empty text inside a loop"},
      {"root ::= \"abc", "line 1, column 10: unterminated string literal"},
      {"root ::= [abc", "unterminated character class"},
      {"root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice (first at line 1, column 1)"},
      {"x ::= \"a\"", "no rule named 'root'"},
      {"root ::= \"a\"{3,2}", "repetition {3,2} has max < min"},
      {"root ::= \"a\"{2", "expected '}'"},
      {"root ::= \"\\q\"", "unknown escape '\\q'"},
      {"root = \"a\"", "line 1, column 6: expected '::=' after rule name 'root'"},
      {"", "the grammar is empty"},
      {"root ::= [z-a]", "reversed"},
      {"root ::= \"\\uD800\"", "not a Unicode scalar value"},
      {"root ::= \"a\" @", "line 1, column 14: unexpected character '@'"},
      {"root ::= \"a\"{20000}", "repetition count above 10000"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string message = parse_error(text);
    EXPECT_NE(message.find(expected), std::string::npos) << "grammar: " << text << "\nerror: " << message;
    EXPECT_EQ(message.rfind("grammar: ", 0), 0u) << message;
  }
  EXPECT_NE(parse_error("start ::= \"a\"", "begin").find("no rule named 'begin'"), std::string::npos);
  EXPECT_EQ(parse_error("start ::= \"a\"", "start"), "(no error)");
}

TEST(GrammarParseTest, MultiLineRulesCommentsAndAlternatives) {
  const std::string g = R"(# a comment line
root ::=
    greeting   # trailing comment
    ( " " name )?
greeting ::= "hi" | "hello"
  | "hey"
name ::= [a-z]+ [0-9]{0,2}
)";
  EXPECT_TRUE(full_match(g, "hi"));
  EXPECT_TRUE(full_match(g, "hey bob"));
  EXPECT_TRUE(full_match(g, "hello bob42"));
  EXPECT_FALSE(full_match(g, "hello bob421"));
  EXPECT_FALSE(full_match(g, "hello "));
  EXPECT_FALSE(full_match(g, "yo"));
}

TEST(GrammarMatcherTest, RepetitionCounts) {
  const std::string g = "root ::= \"a\"{2,4} \"b\"{3} (\"xy\"){1,} \"z\"{0,}";
  for (int a = 0; a <= 6; ++a) {
    const std::string text = std::string(static_cast<size_t>(a), 'a') + "bbbxy";
    EXPECT_EQ(full_match(g, text), a >= 2 && a <= 4) << text;
  }
  EXPECT_TRUE(full_match(g, "aabbbxyxyxyzzz"));
  EXPECT_FALSE(full_match(g, "aabbbb"));
  EXPECT_FALSE(full_match(g, "aabbbxyx"));
  EXPECT_FALSE(full_match(g, "aabbbzz"));
}

TEST(GrammarMatcherTest, RejectsAtTheFirstImpossibleByte) {
  const std::string json = R"(
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null")
object ::= "{" ws ( string ws ":" ws value ws ("," ws string ws ":" ws value ws)* )? "}"
array  ::= "[" ws ( value ws ("," ws value ws)* )? "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) )* "\""
number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
ws     ::= [ \t\n]*
)";
  const std::vector<std::pair<std::string, size_t>> cases = {
      // (text, length of its longest acceptable prefix)
      {R"({"a": [1, 2.5e-3, "x\u00e9y", {"b": null}], "c": true})", 54},
      {R"({"a": 01})", 7},
      {R"({"a" 1})", 5},
      {R"({"a": tru})", 9},
      {R"({"a": "\x"})", 8},
      {"{\"a\": \"line\nbreak\"}", 11},
      {R"([1])", 0},
      {R"({"a": 1,})", 8},
      {R"({"a": -})", 7},
  };
  for (const auto& [text, prefix] : cases) {
    GrammarMatcher m = matcher(json);
    EXPECT_EQ(m.accepted_prefix_length(text), prefix) << text;
    // Byte by byte the matcher agrees, and a rejected byte leaves the state unchanged.
    for (size_t i = 0; i < text.size(); ++i) {
      const bool ok = m.accept_bytes(text.substr(i, 1));
      EXPECT_EQ(ok, i < prefix) << text << " byte " << i;
      if (!ok) break;
    }
    EXPECT_EQ(m.text(), text.substr(0, prefix));
  }
  GrammarMatcher m = matcher(json);
  ASSERT_TRUE(m.accept_bytes(R"({"a": 12)"));
  EXPECT_FALSE(m.is_complete());
  EXPECT_TRUE(m.can_continue());
  ASSERT_TRUE(m.accept_bytes("}"));
  EXPECT_TRUE(m.is_complete());
  EXPECT_FALSE(m.can_continue());
}

// Independent UTF-8 oracle: is `s` exactly one well-formed UTF-8 character?
bool one_utf8_char(const std::string& s, uint32_t* cp_out) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  if (s.empty()) return false;
  size_t len;
  uint32_t cp;
  if (b(0) < 0x80) len = 1, cp = b(0);
  else if (b(0) >= 0xC2 && b(0) <= 0xDF) len = 2, cp = b(0) & 0x1F;
  else if (b(0) >= 0xE0 && b(0) <= 0xEF) len = 3, cp = b(0) & 0x0F;
  else if (b(0) >= 0xF0 && b(0) <= 0xF4) len = 4, cp = b(0) & 0x07;
  else return false;
  if (s.size() != len) return false;
  for (size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  *cp_out = cp;
  return true;
}

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

TEST(GrammarMatcherTest, CharacterClassesMatchWholeUtf8Characters) {
  // Every 1- and 2-byte string and a sample of 3- and 4-byte strings: `.` accepts exactly the
  // well-formed single characters.
  GrammarMatcher any = matcher("root ::= .");
  std::mt19937 rng(7);
  std::vector<std::string> inputs;
  for (int a = 0; a < 256; ++a) {
    inputs.push_back(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) inputs.push_back({static_cast<char>(a), static_cast<char>(b)});
  }
  for (int i = 0; i < 200000; ++i) {
    std::string s(3 + rng() % 2, '\0');
    for (char& c : s) c = static_cast<char>(0x80 + rng() % 0x80);
    s[0] = static_cast<char>(0xE0 + rng() % 0x20);
    inputs.push_back(s);
  }
  size_t accepted = 0;
  for (const std::string& s : inputs) {
    uint32_t cp = 0;
    const bool expect = one_utf8_char(s, &cp);
    const bool got = any.accepted_prefix_length(s) == s.size() && [&] {
      GrammarMatcher m = matcher("root ::= .");
      return m.accept_bytes(s) && m.is_complete();
    }();
    accepted += got;
    ASSERT_EQ(got, expect) << "bytes " << testing::PrintToString(s);
  }
  EXPECT_GT(accepted, 2000u);

  // A negated class with ranges on both sides of encoding-length boundaries, checked on every
  // code point against the class definition.
  GrammarMatcher cls = matcher("root ::= [^\"\\\\\\x00-\\x1F\\u00E9-\\u0801\\U0001F600-\\U0001F64F]");
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const bool expect = !(cp == '"' || cp == '\\' || cp < 0x20 || (cp >= 0xE9 && cp <= 0x801) ||
                          (cp >= 0x1F600 && cp <= 0x1F64F));
    const std::string s = utf8(cp);
    ASSERT_EQ(cls.accepted_prefix_length(s) == s.size(), expect) << "U+" << std::hex << cp;
  }
  // A positive class in the same way.
  EXPECT_TRUE(full_match("root ::= [α-ω]+", "αβγω"));
  EXPECT_FALSE(full_match("root ::= [α-ω]+", "αΩ"));
  EXPECT_TRUE(full_match("root ::= \"日本\" [語]", "日本語"));
}

TEST(GrammarMatcherTest, LongRepetitionsKeepTheStackFlat) {
  // Right-recursive repetition compiles to tail calls: 100k items must not grow the state.
  GrammarMatcher m = matcher("root ::= \"[\" (\"1\" \",\")* \"]\"");
  ASSERT_TRUE(m.accept_bytes("["));
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(m.accept_bytes("1,"));
  EXPECT_TRUE(m.accept_bytes("]"));
  EXPECT_TRUE(m.is_complete());
  // A long chain of rules at the start of each other (no recursion in the matcher).
  std::string chain = "root ::= r0\n";
  const int links = 100000;
  for (int i = 0; i < links; ++i) chain += fmt::format("r{} ::= r{} \"x\"\n", i, i + 1);
  chain += fmt::format("r{} ::= \"y\"\n", links);
  // 100,001 rules and 2 MB of text: past the default limits for client input (GrammarLimits),
  // so this trusted grammar raises them.
  GrammarLimits limits;
  limits.max_rules = 200'000;
  limits.max_text_bytes = 4u << 20;
  GrammarMatcher long_chain(Grammar::parse(chain, "root", limits), nullptr);
  EXPECT_TRUE(long_chain.accept_bytes("y" + std::string(links, 'x')));
  EXPECT_LE(long_chain.cached_states(), 40000u);  // caches were rebuilt along the way
  EXPECT_TRUE(long_chain.is_complete());
  EXPECT_NE(parse_error("root ::= " + std::string(300, '(') + "\"a\"" + std::string(300, ')')).find("groups nested deeper than 256"),
            std::string::npos);
  // Deep nesting is fine too (each level is one frame).
  GrammarMatcher nest = matcher("root ::= \"(\" root \")\" | \"x\"");
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(nest.accept_bytes("("));
  EXPECT_TRUE(nest.accept_bytes("x"));
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(nest.accept_bytes(")"));
  EXPECT_TRUE(nest.is_complete());
}

TEST(GrammarMatcherTest, TooAmbiguousGrammarIsRefusedAtTheByteAndKeepsItsState) {
  // An "a" may open a level, or be the middle or last "a" of any open level, whose roots may
  // each be empty: "a"^n matches in exponentially many ways, a parse stack each (the fuzzer's
  // hang, found in CI, had this shape). The matcher refuses the byte that would pass its bound
  // instead of running for minutes.
  const auto g = Grammar::parse("root ::= \"\" | \"a\" root \"a\" root \"a\"");
  GrammarMatcher m(g, nullptr);
  size_t taken = 0;
  std::string refusal;
  try {
    for (; taken < 4096; ++taken) ASSERT_TRUE(m.accept_bytes("a"));
  } catch (const GrammarTooLarge& e) {
    refusal = e.what();
  }
  ASSERT_LT(taken, 4096u) << "never refused";
  EXPECT_GT(taken, 8u);  // small ambiguity is fine
  EXPECT_NE(refusal.find("too ambiguous"), std::string::npos) << refusal;
  // The refused byte changed nothing: the text so far is kept, and the matcher still answers.
  EXPECT_EQ(m.text(), std::string(taken, 'a'));
  EXPECT_EQ(m.is_complete(), taken % 3 == 0);  // every level holds three "a"s
  EXPECT_THROW(m.accepted_prefix_length("a"), GrammarTooLarge);
  EXPECT_EQ(m.accepted_prefix_length("b"), 0u);
  // The same grammar on a short text is matched as before.
  GrammarMatcher short_text(g, nullptr);
  EXPECT_TRUE(short_text.accept_bytes("aaaaaa"));
  EXPECT_TRUE(short_text.is_complete());
}

TEST(GrammarMatcherTest, CachesAreRebuiltWithoutLosingTheState) {
  // 40000 nesting levels are 40000 distinct states, past the matcher's cache bound: the
  // caches are dropped and rebuilt from the current stacks, and matching goes on unchanged.
  GrammarMatcher m = matcher("root ::= \"(\" root \")\" | \"[\" [0-9]? \"]\"");
  const int depth = 40000;
  for (int i = 0; i < depth; ++i) ASSERT_TRUE(m.accept_bytes("(")) << i;
  EXPECT_FALSE(m.accept_bytes(")"));
  ASSERT_TRUE(m.accept_bytes("[7]"));
  for (int i = 0; i < depth; ++i) {
    ASSERT_FALSE(m.is_complete()) << i;
    ASSERT_TRUE(m.accept_bytes(")")) << i;
  }
  EXPECT_TRUE(m.is_complete());
  EXPECT_FALSE(m.accept_bytes(")"));
  EXPECT_EQ(m.text().size(), 2u * depth + 3);
}

using Loaded = test::LoadedVocab;
Loaded load_vocab(const std::string& name) { return test::load_fixture_vocab(name); }
bool bit(const std::vector<uint64_t>& mask, int32_t id) { return test::mask_bit(mask, id); }

// The trie walk must allow exactly the tokens a per-token check allows, in many states.
void check_mask_against_brute_force(const Loaded& l, const std::string& grammar, const std::vector<std::string>& prefixes) {
  const auto g = Grammar::parse(grammar);
  for (const std::string& prefix : prefixes) {
    GrammarMatcher m(g, l.vocab);
    ASSERT_TRUE(m.accept_bytes(prefix)) << prefix;
    const std::vector<uint64_t> mask = m.allowed_tokens();
    GrammarMatcher reference(g, l.vocab);  // a separate automaton: no shared caches
    ASSERT_TRUE(reference.accept_bytes(prefix));
    size_t allowed = 0;
    for (int32_t id = 0; id < l.vocab->size(); ++id) {
      const std::string piece = l.tokenizer->token_to_piece(id);
      bool expect;
      if (l.tokenizer->is_end_of_generation(id)) expect = reference.is_complete();
      else expect = !piece.empty() && reference.accepted_prefix_length(piece) == piece.size();
      ASSERT_EQ(bit(mask, id), expect) << "prefix " << prefix << " token " << id << " piece "
                                       << testing::PrintToString(piece);
      allowed += expect;
    }
    // Logit masking agrees with the bit set; padded rows are masked.
    std::vector<float> logits(static_cast<size_t>(l.vocab->size()) + 5, 1.0f);
    m.mask_logits(logits);
    for (size_t i = 0; i < logits.size(); ++i)
      ASSERT_EQ(std::isinf(logits[i]), i >= static_cast<size_t>(l.vocab->size()) || !bit(mask, static_cast<int32_t>(i)));
    EXPECT_GT(allowed, 0u) << prefix;  // every listed state can continue or end
  }
}

const char* kJsonish = R"(
root   ::= "{" ws "\"name\"" ws ":" ws string ws "," ws "\"tags\"" ws ":" ws "[" ws (string ws ("," ws string ws)*)? "]" ws "}"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) )* "\""
ws     ::= [ \n]{0,3}
)";

TEST(GrammarVocabTest, TrieMaskEqualsBruteForceGpt2) {
  const Loaded l = load_vocab("gpt-2");
  check_mask_against_brute_force(l, kJsonish,
                                  {"", "{", "{ \"na", "{\"name\": \"", "{\"name\": \"ab\\", "{\"name\": \"x\xc3",
                                   "{\"name\": \"x\", \"tags\": [", "{\"name\": \"x\", \"tags\": []}"});
}

TEST(GrammarVocabTest, TrieMaskEqualsBruteForceSentencePiece) {
  // SentencePiece pieces carry spaces (U+2581) and byte tokens <0xNN>.
  const Loaded l = load_vocab("llama-spm");
  check_mask_against_brute_force(l, "root ::= (\" \" [a-zA-Z]+ | \"日本\" | [0-9]){1,5} \".\"",
                                  {"", " the", "日", " a1"});
}

// One call's work is bounded as a whole, not only per byte: a token mask walks up to the whole
// vocabulary, and a grammar that keeps making new states could explore the per-byte bound at
// every trie node. Shown with a budget small enough for an ordinary grammar's mask to pass it.
TEST(GrammarVocabTest, OneCallsWorkIsBoundedAndTheMatcherKeepsItsState) {
  const Loaded l = load_vocab("llama-spm");
  const auto g = Grammar::parse(kJsonish);
  const std::string prefix = "{\"name\": \"";
  GrammarMatcher m(g, l.vocab);
  ASSERT_TRUE(m.accept_bytes(prefix));
  const std::vector<uint64_t> expected = m.compute_allowed_tokens();  // the default budget is ample
  GrammarMatcher tight(g, l.vocab);
  ASSERT_TRUE(tight.accept_bytes(prefix));
  tight.set_visit_budget(20);
  EXPECT_THROW(tight.compute_allowed_tokens(), GrammarTooLarge);
  EXPECT_EQ(tight.text(), prefix);
  tight.set_visit_budget(size_t{1} << 25);
  EXPECT_EQ(tight.compute_allowed_tokens(), expected);  // what was cached before the throw is sound
  EXPECT_TRUE(tight.accept_bytes("x\", \"tags\": []}"));
  EXPECT_TRUE(tight.is_complete());
}

TEST(GrammarVocabTest, CharactersSplitAcrossTokensAndEndOfGeneration) {
  const Loaded l = load_vocab("llama-spm");
  const auto g = Grammar::parse("root ::= \"é\" \"!\"?");
  GrammarMatcher m(g, l.vocab);
  // "é" is C3 A9: the byte tokens <0xC3> then <0xA9>.
  const int32_t c3 = l.tokenizer->vocab().find("<0xC3>"), a9 = l.tokenizer->vocab().find("<0xA9>");
  const int32_t eos = l.tokenizer->vocab().eos;
  ASSERT_GE(c3, 0);
  ASSERT_GE(a9, 0);
  EXPECT_FALSE(m.is_allowed(a9));
  EXPECT_FALSE(m.is_allowed(eos));
  EXPECT_FALSE(m.accept(eos));
  EXPECT_FALSE(m.is_allowed(l.tokenizer->vocab().bos));  // control token without text
  ASSERT_TRUE(m.accept(c3));
  EXPECT_FALSE(m.is_complete());
  EXPECT_TRUE(bit(m.allowed_tokens(), a9));
  EXPECT_FALSE(bit(m.allowed_tokens(), c3));
  ASSERT_TRUE(m.accept(a9));
  EXPECT_TRUE(m.is_complete());
  EXPECT_TRUE(m.can_continue());
  EXPECT_TRUE(bit(m.allowed_tokens(), eos));
  EXPECT_TRUE(m.accept(eos));
  EXPECT_EQ(m.text(), "é");
  // A rejected token leaves the state unchanged.
  EXPECT_FALSE(m.accept(c3));
  ASSERT_TRUE(m.accept(l.tokenizer->vocab().find("!")));
  EXPECT_FALSE(m.can_continue());
  std::vector<float> short_logits(10);
  EXPECT_THROW(m.mask_logits(short_logits), Error);
}

}  // namespace
}  // namespace rpu

namespace rpu {
namespace {

// Random grammar texts built from GBNF's own pieces: parsing either succeeds (and the
// matcher then works) or fails with an rpu::Error; nothing else.
TEST(GrammarParseTest, RandomTextsParseOrFailCleanly) {
  const std::vector<std::string> pieces = {"root", " ::= ", "a", "b", " ::= ", "\"x\"", "\"\\n\"", "[a-z]", "[^\"]",
                                           "(", ")", "|", "*", "+", "?", "{2}", "{1,3}", "{,", "\n", " ", "#c\n",
                                           ".", "\"", "[", "]", "\\", "\"\xc3\xa9\"", "\xff", "{0,}", "-"};
  std::mt19937 rng(11);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = i % 2 ? "root ::= " : "";
    const int n = 1 + static_cast<int>(rng() % 14);
    for (int k = 0; k < n; ++k) text += pieces[rng() % pieces.size()];
    std::shared_ptr<const Grammar> g;
    try {
      g = Grammar::parse(text);
    } catch (const Error& e) {
      ASSERT_EQ(std::string(e.what()).rfind("grammar: ", 0), 0u) << e.what();
      continue;
    }
    ++parsed;
    GrammarMatcher m(g, nullptr);
    for (const char* probe : {"x", "\n", "ab", "\xc3\xa9", "xxxx"}) m.accepted_prefix_length(probe);
  }
  EXPECT_GT(parsed, 500);
}

}  // namespace
}  // namespace rpu
