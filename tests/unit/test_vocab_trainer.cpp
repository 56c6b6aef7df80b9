// The fitted vocabulary (tokenizer/vocab_trainer.h) as a specialist uses it: written into GGUF
// tokenizer keys and read back by the engine's SpmTokenizer, it must encode and decode any text
// losslessly (byte fallback for what it never saw), make the corpus's frequent words single
// tokens, never merge digits, and be a function of the corpus alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_trainer.h"
#include "train/decoder_params.h"

namespace rpu {
namespace {

std::vector<std::string> corpus() {
  const std::vector<std::string> labels = {"billing", "technical", "account", "sales", "other"};
  const std::vector<std::string> phrases = {"my invoice shows the wrong amount", "the app crashes on start",
                                            "I forgot my password", "can I get a quote for 200 licenses",
                                            "where is your office"};
  std::vector<std::string> texts;
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const size_t k = rng() % phrases.size();
    texts.push_back("Classify the message into billing, technical, account, sales or other.");
    texts.push_back("Hi, " + phrases[k] + ". Order AB-" + std::to_string(100000 + rng() % 900000) + ".");
    texts.push_back(labels[k]);
  }
  return texts;
}

std::unique_ptr<Tokenizer> tokenizer_of(const FittedVocab& vocab) {
  const GgufFile no_base = train::metadata_as_file({});
  return Tokenizer::from_gguf(train::metadata_as_file(train::fitted_tokenizer_keys(no_base, vocab)));
}

TEST(VocabTrainer, RoundTripsAnyTextThroughTheEngineTokenizer) {
  VocabFitOptions o;
  o.size = 400;
  const FittedVocab vocab = fit_spm_vocab(corpus(), o);
  ASSERT_EQ(vocab.pieces.size(), 400u);
  const auto tok = tokenizer_of(vocab);
  std::vector<std::string> texts = corpus();
  texts.push_back("Unseen: naïve café, emoji \xF0\x9F\x98\x80, tabs\tand  double  spaces, \"quotes\" {json: 1}");
  std::mt19937 rng(3);
  for (int i = 0; i < 50; ++i) {  // random printable ASCII with runs of spaces
    std::string s;
    for (int j = 0; j < 40; ++j) s += static_cast<char>(rng() % 5 == 0 ? ' ' : 33 + rng() % 94);
    texts.push_back(s);
  }
  for (const std::string& t : texts) {
    const auto ids = tok->encode(t, /*add_special=*/false);
    EXPECT_EQ(tok->decode(ids), t) << t;
  }
}

TEST(VocabTrainer, FrequentWordsBecomeOneTokenAndTextGetsShorter) {
  const FittedVocab vocab = fit_spm_vocab(corpus(), {});
  const auto tok = tokenizer_of(vocab);
  for (const char* word : {"billing", "technical", "password", "invoice"}) {  // "▁word" once prefixed
    EXPECT_EQ(tok->encode(word, false).size(), 1u) << word;
  }
  VocabFitOptions chars_only;
  chars_only.size = 259 + 60;  // room for the characters, none for merges
  const auto char_tok = tokenizer_of(fit_spm_vocab(corpus(), chars_only));
  size_t fitted = 0, characters = 0;
  for (const std::string& t : corpus()) {
    fitted += tok->encode(t, false).size();
    characters += char_tok->encode(t, false).size();
  }
  EXPECT_LT(fitted * 3, characters);  // at least 3x fewer tokens than one per character
}

TEST(VocabTrainer, DigitsStayOneTokenEach) {
  const FittedVocab vocab = fit_spm_vocab(corpus(), {});
  EXPECT_GT(vocab.merges, 50);
  for (size_t i = 0; i < vocab.pieces.size(); ++i) {
    if (vocab.kinds[i] != 1) continue;
    const std::string& p = vocab.pieces[i];
    if (std::any_of(p.begin(), p.end(), ::isdigit)) {
      EXPECT_EQ(p.size(), 1u) << p;
    }
  }
  const auto tok = tokenizer_of(vocab);
  EXPECT_EQ(tok->encode("123456", false).size(), 7u);  // the space marker, then six digits
}

TEST(VocabTrainer, DependsOnlyOnTheCorpus) {
  std::vector<std::string> texts = corpus();
  const FittedVocab a = fit_spm_vocab(texts, {});
  std::reverse(texts.begin(), texts.end());
  const FittedVocab b = fit_spm_vocab(texts, {});
  EXPECT_EQ(a.pieces, b.pieces);
  EXPECT_EQ(a.scores, b.scores);
}

TEST(VocabTrainer, RejectsTooSmallASize) {
  VocabFitOptions o;
  o.size = 100;
  EXPECT_THROW(fit_spm_vocab(corpus(), o), Error);
  EXPECT_NO_THROW(fit_spm_vocab({}, VocabFitOptions{}));  // an empty corpus: bytes only
}

}  // namespace
}  // namespace rpu
