// Copy-constrained decoding (src/decode/copy_matcher.h). Oracles: the candidate definition
// written out by hand (word boundaries, shapes), and the matcher's own byte-level advance():
// its mask must agree with advance() on every token of a real vocabulary, every value a
// random walk under the mask closes must be a candidate, and every candidate's tokens must be
// accepted.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

#include "core/error.h"
#include "decode/copy_matcher.h"
#include "grammar_test_util.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

const std::string kMessage =
    "Hi, this is <PERSON_1>. The Kestrel camera drone I bought was charged twice. My order is JN-251997. "
    "Subject: \"Lunch\\later\"";

TEST(CopyMatcherTest, ShapesCollapseRunsOfLettersAndDigits) {
  EXPECT_EQ(value_shape("JN-251997"), "A-#");
  EXPECT_EQ(value_shape("Polar 2 kettle"), "Aa # a");
  EXPECT_EQ(value_shape("<PERSON_1> Park"), "<A_#> Aa");
  EXPECT_EQ(value_shape("bob@mail.com"), "a@a.a");
  EXPECT_EQ(value_shape("Zoë"), "Aa");  // UTF-8 letters are letters
  EXPECT_EQ(value_shape(""), "");
}

TEST(CopyMatcherTest, CandidatesStartAndEndAtWordBoundaries) {
  const auto any = copy_candidates(kMessage, {});
  const auto has = [&](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  EXPECT_TRUE(has(any, "JN-251997"));
  EXPECT_TRUE(has(any, "Kestrel camera drone"));
  EXPECT_TRUE(has(any, "<PERSON_1>"));
  EXPECT_TRUE(has(any, "JN"));            // a word is a span
  EXPECT_FALSE(has(any, "N-251997"));     // starts inside a word
  EXPECT_FALSE(has(any, "JN-2519"));      // ends inside a word
  EXPECT_FALSE(has(any, "drone "));       // trailing space
  EXPECT_FALSE(has(any, " Kestrel"));     // leading space
  const auto ids = copy_candidates(kMessage, {"A-#"});
  EXPECT_EQ(ids, std::vector<std::string>({"JN-251997"}));
  const auto products = copy_candidates(kMessage, {"Aa a a"});
  EXPECT_TRUE(has(products, "Kestrel camera drone"));
  for (const std::string& p : products) EXPECT_EQ(value_shape(p), "Aa a a") << p;
}

struct Fixture {
  test::LoadedVocab loaded = test::load_fixture_vocab("gpt-2");
  std::vector<CopyField> fields = {{"order_id", {"A-#"}}, {"product", {"Aa a a", "Aa a"}}, {"note", {}}, {"phone", {"+#"}}};
  std::shared_ptr<const CopySource> source = std::make_shared<CopySource>(std::vector<std::string>{kMessage}, fields);
  CopyMatcher matcher{source, loaded.vocab};

  std::vector<int32_t> tokens(const std::string& text) const { return loaded.tokenizer->encode(text, false, false); }
  bool accept_text(CopyMatcher& m, const std::string& text) const {
    for (int32_t t : tokens(text))
      if (!m.accept(t)) return false;
    return true;
  }
};

// The mask allows exactly the tokens advance() accepts (a control token or the end of
// generation: only outside a copied value).
void expect_mask_matches_advance(const Fixture& f, const CopyMatcher& m) {
  const GrammarVocab& vocab = *f.loaded.vocab;
  std::vector<float> logits(static_cast<size_t>(vocab.size()), 0.0f);
  m.mask_logits(logits);
  for (int32_t id = 0; id < vocab.size(); ++id) {
    CopyScan s = m.scan();
    const std::string& piece = vocab.piece(id);
    const bool ok = piece.empty() ? s.mode != CopyScan::Mode::kCopy : m.advance(s, piece);
    const bool allowed = logits[static_cast<size_t>(id)] != -std::numeric_limits<float>::infinity();
    ASSERT_EQ(allowed, ok) << "token " << id << " '" << piece << "'";
  }
}

TEST(CopyMatcherTest, MaskAgreesWithAdvanceOnEveryToken) {
  Fixture f;
  for (const std::string prefix : {"", "{\"order_id\": ", "{\"order_id\": \"", "{\"order_id\": \"JN-", "{\"note\": \"Kes",
                                   "{\"product\": \"Kestrel camera", "{\"phone\": "}) {
    CopyMatcher m(f.source, f.loaded.vocab);
    CopyScan s;
    ASSERT_TRUE(m.advance(s, prefix)) << prefix;
    ASSERT_TRUE(f.accept_text(m, prefix)) << prefix;
    SCOPED_TRACE(prefix);
    expect_mask_matches_advance(f, m);
  }
}

TEST(CopyMatcherTest, CandidatesAreAcceptedAndMiscopiesRefused) {
  Fixture f;
  const auto accepts = [&](const std::string& text) {
    CopyMatcher m(f.source, f.loaded.vocab);
    return f.accept_text(m, text);
  };
  EXPECT_TRUE(accepts("{\"order_id\":\"JN-251997\",\"product\":\"Kestrel camera drone\",\"note\":null}"));
  EXPECT_TRUE(accepts("{\"note\": \"Lunch\\\\later\"}"));             // escapes copy as JSON writes them
  EXPECT_TRUE(accepts("{\"note\": \"\\\"Lunch\\\\later\\\"\"}"));     // the quotes around it too
  EXPECT_FALSE(accepts("{\"order_id\":\"BN-251997\""));              // a miscopied prefix
  EXPECT_FALSE(accepts("{\"order_id\":\"JN-2519\""));                // closed inside a word
  EXPECT_FALSE(accepts("{\"order_id\":\"Kestrel\""));                // a span of another shape
  EXPECT_FALSE(accepts("{\"product\":\"\""));                        // empty says nothing: null does
  EXPECT_FALSE(accepts("{\"phone\":\""));                            // no candidate in the request
  EXPECT_TRUE(accepts("{\"phone\":null,\"other\":\"anything at all\"}"));  // other keys are free
  EXPECT_TRUE(accepts("<tool_call>{\"name\": \"x\", \"arguments\": {\"order_id\": \"JN-251997\"}}"));
  EXPECT_TRUE(accepts("{\"order\": \"BN\", \"order_ids\": \"BN\"}"));  // only whole keys
}

TEST(CopyMatcherTest, EveryValueARandomWalkUnderTheMaskClosesIsACandidate) {
  Fixture f;
  std::mt19937 rng(7);
  const GrammarVocab& vocab = *f.loaded.vocab;
  std::vector<float> logits(static_cast<size_t>(vocab.size()));
  for (const auto& [key, shapes] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"order_id", {"A-#"}}, {"product", {"Aa a a", "Aa a"}}, {"note", {}}}) {
    const auto candidates = copy_candidates(kMessage, shapes);
    for (int walk = 0; walk < 40; ++walk) {
      CopyMatcher m(f.source, f.loaded.vocab);
      ASSERT_TRUE(f.accept_text(m, "{\"" + key + "\": \""));
      std::string value;
      for (int step = 0; step < 200 && m.scan().mode == CopyScan::Mode::kCopy; ++step) {
        std::fill(logits.begin(), logits.end(), 0.0f);
        m.mask_logits(logits);
        std::vector<int32_t> allowed;
        for (int32_t id = 0; id < vocab.size(); ++id)
          if (logits[static_cast<size_t>(id)] == 0.0f) allowed.push_back(id);
        ASSERT_FALSE(allowed.empty()) << "a copied value with no way on: '" << value << "'";
        const int32_t t = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
        ASSERT_TRUE(m.accept(t));
        value += vocab.piece(t);
      }
      ASSERT_NE(m.scan().mode, CopyScan::Mode::kCopy) << key;
      // The value is everything up to the unescaped closing quote.
      size_t end = 0;
      for (bool escape = false; end < value.size(); ++end) {
        if (value[end] == '"' && !escape) break;
        escape = value[end] == '\\' && !escape;
      }
      const std::string text = json::parse("\"" + value.substr(0, end) + "\"").get<std::string>();
      EXPECT_NE(std::find(candidates.begin(), candidates.end(), text), candidates.end()) << key << ": '" << text << "'";
    }
  }
}

// A long request and a field with no shape would make a path from every word: past the budget
// it is refused with what to do about it (LocalBackend answers a 400 naming copy_fields); with
// a shape only the spans of that shape are kept, and the same text is fine.
TEST(CopyMatcherTest, ALongRequestWithAnUnshapedFieldIsRefusedNotStored) {
  std::string text;
  for (int i = 0; text.size() < 600000; ++i) text += "word" + std::to_string(i) + " ";
  try {
    CopySource source({text}, {{"note", {}}});
    FAIL() << "built";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shapes"), std::string::npos) << e.what();
  }
  const CopySource shaped({text}, {{"note", {"a#"}}});
  EXPECT_NE(shaped.root(0), -1);
}

TEST(CopyMatcherTest, CopyFieldsParseFromBothFormsAndRefuseOthers) {
  const auto plain = parse_copy_fields(json::parse(R"(["order_id", "product"])"));
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_TRUE(plain[1].shapes.empty());
  EXPECT_EQ(copy_fields_json(plain).dump(), R"(["order_id","product"])");
  const auto shaped = parse_copy_fields(json::parse(R"({"order_id": ["A-#"], "note": []})"));
  EXPECT_EQ(shaped[0].shapes, std::vector<std::string>({"A-#"}));
  EXPECT_EQ(parse_copy_fields(copy_fields_json(shaped)).size(), 2u);
  for (const char* bad : {R"("order_id")", R"([1])", R"([""])", R"(["a", "a"])", R"({"a": "A-#"})", R"({"a": [""]})", "null"}) {
    EXPECT_THROW(parse_copy_fields(json::parse(bad)), Error) << bad;
  }
  json many = json::array();
  for (int i = 0; i < 65; ++i) many.push_back("k" + std::to_string(i));
  EXPECT_THROW(parse_copy_fields(many), Error);
  // The {shapes, from} form: a field copied from the last user message only.
  const auto sourced = parse_copy_fields(json::parse(R"({"title": {"shapes": ["Aa a"], "from": "last_user"}, "id": ["A-#"]})"));
  ASSERT_EQ(sourced.size(), 2u);
  EXPECT_TRUE(sourced[0].last_user_only);
  EXPECT_EQ(sourced[0].shapes, std::vector<std::string>({"Aa a"}));
  EXPECT_FALSE(sourced[1].last_user_only);
  EXPECT_EQ(copy_fields_json(sourced).dump(), R"({"title":{"shapes":["Aa a"],"from":"last_user"},"id":["A-#"]})");
  EXPECT_TRUE(parse_copy_fields(json::parse(R"({"t": {"from": "last_user"}})"))[0].shapes.empty());
  EXPECT_FALSE(parse_copy_fields(json::parse(R"({"t": {"from": "messages"}})"))[0].last_user_only);
  EXPECT_EQ(copy_fields_json(parse_copy_fields(json::parse(R"({"t": {"from": "last_user"}})"))).dump(),
            R"({"t":{"shapes":[],"from":"last_user"}})");
  for (const char* bad : {R"({"t": {"from": "system"}})", R"({"t": {"from": 1}})", R"({"t": {"shape": []}})",
                          R"({"t": {"shapes": "Aa"}})"}) {
    try {
      parse_copy_fields(json::parse(bad));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'t'"), std::string::npos) << e.what();
    }
  }
}

// A last_user_only field takes values from the last user message alone: not from the system
// prompt, an earlier turn or a tool result, which stay open to the other fields.
TEST(CopyMatcherTest, ALastUserFieldCopiesFromTheLastUserMessageOnly) {
  const json messages = json::parse(R"([
    {"role": "system", "content": "Call a tool with arguments taken from the user's message."},
    {"role": "user", "content": "Put \"Car service\" in my calendar."},
    {"role": "assistant", "content": "Done."},
    {"role": "tool", "content": "Fleet Review"},
    {"role": "user", "content": [{"type": "text", "text": "Put \"Dentist appointment\" in my calendar."}]}])");
  const CopyTexts texts = copy_texts(messages);
  EXPECT_EQ(texts.messages.size(), 4u);
  EXPECT_EQ(texts.last_user, std::vector<std::string>({"Put \"Dentist appointment\" in my calendar."}));
  test::LoadedVocab loaded = test::load_fixture_vocab("gpt-2");
  auto source = std::make_shared<const CopySource>(texts, std::vector<CopyField>{{"title", {}, true}, {"note", {}, false}});
  const auto accepts = [&](const std::string& text) {
    CopyMatcher m(source, loaded.vocab);
    for (int32_t t : loaded.tokenizer->encode(text, false, false))
      if (!m.accept(t)) return false;
    return true;
  };
  EXPECT_TRUE(accepts(R"({"title": "Dentist appointment"})"));
  EXPECT_FALSE(accepts(R"({"title": "Car service"})")) << "an earlier turn";
  EXPECT_FALSE(accepts(R"({"title": "message"})")) << "the system prompt";
  EXPECT_FALSE(accepts(R"({"title": "Fleet Review"})")) << "a tool result";
  EXPECT_TRUE(accepts(R"({"note": "Car service"})"));
  EXPECT_TRUE(accepts(R"({"note": "Fleet Review"})"));
  // No user message: a last_user field has nothing to copy, so only null.
  const CopySource none(copy_texts(json::parse(R"([{"role": "system", "content": "Car service"}])")),
                        std::vector<CopyField>{{"title", {}, true}});
  EXPECT_EQ(none.root(0), -1);
}

}  // namespace
}  // namespace rpu
