// The fitted vocabulary (tokenizer/vocab_trainer.h) as a specialist uses it: written into GGUF
// tokenizer keys and read back by the engine's SpmTokenizer, it must encode and decode any text
// losslessly (byte fallback for what it never saw), make the corpus's frequent words single
// tokens, never merge digits, and be a function of the corpus alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/error.h"
#include "tokenizer/spm_tokenizer.h"
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

// Oracle for the fitter's incrementally kept pair counts: plain BPE, which recounts every
// adjacent pair before each merge. Words are the corpus's chunks as piece ids (characters only,
// -1 for a character left to byte fallback), with their counts.
struct RecountBpe {
  const FittedVocab& v;
  std::map<std::string, int32_t> ids;
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;

  RecountBpe(const FittedVocab& vocab, const std::vector<std::string>& texts, size_t first_merge) : v(vocab) {
    for (size_t i = 0; i < v.pieces.size(); ++i) ids.emplace(v.pieces[i], static_cast<int32_t>(i));
    std::map<std::string, int64_t> chunks;
    for (const std::string& t : texts) for_each_spm_word(spm_escape_spaces(t, true), [&](std::string_view w) { ++chunks[std::string(w)]; });
    for (const auto& [chunk, count] : chunks) {
      std::vector<int32_t> symbols;
      for (size_t pos = 0; pos < chunk.size();) {
        const size_t len = spm_symbol_length(chunk, pos);
        const auto it = ids.find(chunk.substr(pos, len));
        symbols.push_back(it != ids.end() && static_cast<size_t>(it->second) < first_merge ? it->second : -1);
        pos += len;
      }
      words.emplace_back(std::move(symbols), count);
    }
  }

  // The fitter's rule, restated with its defaults: at most 32 bytes, no digits, and a space
  // marker only after markers.
  bool allowed(int32_t a, int32_t b) const {
    if (a < 0 || b < 0) return false;
    const std::string &l = v.pieces[static_cast<size_t>(a)], &r = v.pieces[static_cast<size_t>(b)];
    const auto digit = [](const std::string& p) { return std::any_of(p.begin(), p.end(), ::isdigit); };
    if (l.size() + r.size() > 32 || digit(l) || digit(r)) return false;
    const std::string marker = "\xE2\x96\x81";
    bool l_all_markers = l.size() % marker.size() == 0;
    for (size_t i = 0; l_all_markers && i < l.size(); i += marker.size()) l_all_markers = l.compare(i, marker.size(), marker) == 0;
    return !(r.starts_with(marker) && !l_all_markers);
  }

  // The most frequent allowed pair after a full recount (ties: the smaller pair of ids).
  std::pair<int32_t, int32_t> best_pair() const {
    std::map<std::pair<int32_t, int32_t>, int64_t> counts;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 1; i < symbols.size(); ++i) {
        if (allowed(symbols[i - 1], symbols[i])) counts[{symbols[i - 1], symbols[i]}] += count;
      }
    }
    if (counts.empty()) return {-1, -1};
    auto best = counts.begin();  // std::map order: the first of equal counts has the smaller ids
    for (auto it = counts.begin(); it != counts.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    return best->first;
  }

  void merge(int32_t a, int32_t b, int32_t merged) {
    for (auto& [symbols, count] : words) {
      size_t j = 0;
      for (size_t i = 0; i < symbols.size(); ++i, ++j) {
        const bool pair = i + 1 < symbols.size() && symbols[i] == a && symbols[i + 1] == b;
        symbols[j] = pair ? merged : symbols[i];
        if (pair) ++i;
      }
      symbols.resize(j);
    }
  }
};

// Each merge the fitter learned is, in order, the most frequent mergeable pair of a full
// recount then; a recount's best pair whose string already exists (another split reached it
// first) is merged into that piece without a new one, as the fitter does.
TEST(VocabTrainer, EachMergeIsTheMostFrequentPairOfAFullRecount) {
  std::vector<std::string> texts = corpus();
  for (int i = 0; i < 40; ++i) texts.push_back("aaaa abab aaab baaa ababab " + std::string(static_cast<size_t>(i % 7 + 1), 'a'));
  VocabFitOptions o;
  o.size = 440;  // the corpus has pairs seen twice up to ~450 pieces
  const FittedVocab v = fit_spm_vocab(texts, o);
  ASSERT_EQ(v.pieces.size(), 440u);
  std::vector<int32_t> merges;  // ids of merged pieces, in the order they were learned (score -1, -2, ...)
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    if (v.scores[i] < 0) merges.push_back(static_cast<int32_t>(i));
  }
  std::sort(merges.begin(), merges.end(), [&](int32_t x, int32_t y) { return v.scores[x] > v.scores[y]; });
  ASSERT_EQ(static_cast<int>(merges.size()), v.merges);
  ASSERT_GT(v.merges, 100);
  RecountBpe bpe(v, texts, static_cast<size_t>(merges.front()));
  for (size_t next = 0; next < merges.size();) {
    const auto [a, b] = bpe.best_pair();
    ASSERT_GE(a, 0) << "no pair left to merge before merge " << next;
    const auto merged = bpe.ids.find(v.pieces[a] + v.pieces[b]);
    ASSERT_NE(merged, bpe.ids.end()) << "the recount's best pair was never merged: " << v.pieces[a] << " + " << v.pieces[b];
    if (merged->second != merges[next]) {
      ASSERT_LT(merged->second, merges[next])
          << "merge " << next << ": the fitter learned " << v.pieces[merges[next]] << ", the recount's best is " << merged->first;
    } else {
      ++next;
    }
    bpe.merge(a, b, merged->second);
  }
}

TEST(VocabTrainer, RejectsTooSmallASize) {
  VocabFitOptions o;
  o.size = 100;
  EXPECT_THROW(fit_spm_vocab(corpus(), o), Error);
  EXPECT_NO_THROW(fit_spm_vocab({}, VocabFitOptions{}));  // an empty corpus: bytes only
}

}  // namespace
}  // namespace rpu
