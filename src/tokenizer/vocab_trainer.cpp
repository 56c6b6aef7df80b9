#include "tokenizer/vocab_trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

bool has_digit(std::string_view piece) {
  return std::any_of(piece.begin(), piece.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Chunks as SpmTokenizer::encode_text cuts them (space prefix, spaces as markers), counted.
void count_chunks(std::string_view raw, std::unordered_map<std::string, int64_t>& chunks) {
  for_each_spm_word(spm_escape_spaces(raw, true), [&](std::string_view word) { ++chunks[std::string(word)]; });
}

struct Word {
  std::vector<int32_t> symbols;  // piece ids; -1: a character left to byte fallback (a barrier)
  int64_t count = 0;
};

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

class Fitter {
 public:
  Fitter(const VocabFitOptions& o) : o_(o) {
    add("<unk>", 2);
    add("<s>", 3);
    add("</s>", 3);
    for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 6);
  }

  FittedVocab run(const std::vector<std::string>& texts) {
    std::unordered_map<std::string, int64_t> chunks;
    for (const std::string& t : texts) {
      if (!t.empty()) count_chunks(t, chunks);
    }
    add_characters(chunks);
    // Sorted chunks: the merge loop visits words in a fixed order whatever the hash map did.
    std::map<std::string, int64_t> sorted(chunks.begin(), chunks.end());
    for (const auto& [chunk, count] : sorted) {
      Word w;
      w.count = count;
      for (size_t pos = 0; pos < chunk.size();) {
        const size_t len = spm_symbol_length(chunk, pos);
        const auto it = ids_.find(chunk.substr(pos, len));
        w.symbols.push_back(it == ids_.end() ? -1 : it->second);
        pos += len;
      }
      words_.push_back(std::move(w));
    }
    while (static_cast<int>(out_.pieces.size()) < o_.size && merge_once()) {
    }
    return std::move(out_);
  }

 private:
  int32_t add(std::string piece, int32_t kind, float score = 0) {
    const auto id = static_cast<int32_t>(out_.pieces.size());
    ids_.emplace(piece, id);
    out_.pieces.push_back(std::move(piece));
    out_.scores.push_back(score);
    out_.kinds.push_back(kind);
    return id;
  }

  // Every character seen at least min_char_count times, most frequent first, while room is left.
  void add_characters(const std::unordered_map<std::string, int64_t>& chunks) {
    std::unordered_map<std::string, int64_t> chars;
    for (const auto& [chunk, count] : chunks) {
      for (size_t pos = 0; pos < chunk.size();) {
        const size_t len = spm_symbol_length(chunk, pos);
        chars[chunk.substr(pos, len)] += count;
        pos += len;
      }
    }
    std::vector<std::pair<std::string, int64_t>> list(chars.begin(), chars.end());
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    for (const auto& [c, count] : list) {
      if (static_cast<int>(out_.pieces.size()) >= o_.size) break;
      if (count < o_.min_char_count || ids_.count(c)) continue;
      add(c, 1);
    }
  }

  bool mergeable(int32_t a, int32_t b) const {
    if (a < 0 || b < 0) return false;
    const std::string& l = out_.pieces[static_cast<size_t>(a)];
    const std::string& r = out_.pieces[static_cast<size_t>(b)];
    if (static_cast<int>(l.size() + r.size()) > o_.max_piece_bytes) return false;
    if (o_.split_digits && (has_digit(l) || has_digit(r))) return false;
    // A marker inside a chunk only ever follows another marker ("▁▁x"): never put one after text.
    if (r.starts_with(kSpaceMarker) && !(l.size() % kSpaceMarker.size() == 0 && l.find_first_not_of(kSpaceMarker) == std::string::npos)) {
      return false;
    }
    return true;
  }

  // The pair counts are kept up to date across merges rather than recounted: a merge changes
  // only the words holding its pair, so each of those gives back its pairs' counts before the
  // merge and adds them again after (the counts stay exactly what a full recount gives, so the
  // vocabulary is the same; a full recount per merge made a 2,048-piece fit to a few MB of text
  // take minutes). Which words hold a pair is indexed (where_), and the most frequent pair is
  // the top of a heap of (count, pair) entries, one pushed at every change of a count; an entry
  // whose count is no longer the pair's is stale and skipped. So a merge touches only the words
  // it changes and the pairs they hold, never the whole corpus or every pair.
  // Adds (sign 1) or removes (-1) a word's pairs from the counts, noting each pair touched; with
  // `index_with` >= 0, the word is also indexed under its pairs that hold that piece (the pairs a
  // merge made; its other pairs are indexed already).
  void add_word_pairs(size_t index, int64_t sign, int32_t index_with = -2) {
    const Word& w = words_[index];
    for (size_t i = 1; i < w.symbols.size(); ++i) {
      const int32_t l = w.symbols[i - 1], r = w.symbols[i];
      if (!mergeable(l, r)) continue;
      const uint64_t key = pair_key(l, r);
      if ((counts_[key] += sign * w.count) == 0) counts_.erase(key);
      touched_.push_back(key);
      if (index_with == -1 || l == index_with || r == index_with) where_[key].push_back(static_cast<uint32_t>(index));
    }
  }

  // One heap entry per pair whose count changed, with its count now.
  void push_touched() {
    std::sort(touched_.begin(), touched_.end());
    touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
    for (const uint64_t key : touched_) {
      if (const auto it = counts_.find(key); it != counts_.end()) heap_.push({it->second, key});
    }
    touched_.clear();
  }

  static bool holds_pair(const Word& w, int32_t a, int32_t b) {
    for (size_t i = 1; i < w.symbols.size(); ++i) {
      if (w.symbols[i - 1] == a && w.symbols[i] == b) return true;
    }
    return false;
  }

  // The most frequent pair (ties: the smaller key), or count 0 when none is left.
  std::pair<uint64_t, int64_t> best_pair() {
    while (!heap_.empty()) {
      const HeapEntry top = heap_.top();
      const auto it = counts_.find(top.key);
      if (it != counts_.end() && it->second == top.count) return {top.key, top.count};
      heap_.pop();  // stale: the pair's count changed (a fresher entry exists) or it is gone
    }
    return {0, 0};
  }

  bool merge_once() {
    if (!counted_) {
      for (size_t i = 0; i < words_.size(); ++i) add_word_pairs(i, 1, -1);
      push_touched();
      counted_ = true;
    }
    const auto [best, best_count] = best_pair();
    if (best_count < std::max(1, o_.min_count)) return false;
    const auto a = static_cast<int32_t>(best >> 32), b = static_cast<int32_t>(best & 0xffffffffu);
    std::string piece = out_.pieces[static_cast<size_t>(a)] + out_.pieces[static_cast<size_t>(b)];
    int32_t merged;
    if (const auto it = ids_.find(piece); it != ids_.end()) {
      merged = it->second;  // the same string reached by another split ("ab"+"c" after "a"+"bc")
    } else {
      ++out_.merges;
      merged = add(std::move(piece), 1, -static_cast<float>(out_.merges));
    }
    // The words that held the pair (the index may list one twice, or one that no longer holds
    // it: holds_pair decides), in ascending order as the full scan visited them.
    std::vector<uint32_t> holders = std::move(where_[best]);
    where_.erase(best);
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    for (const uint32_t index : holders) {
      Word& w = words_[index];
      if (!holds_pair(w, a, b)) continue;
      add_word_pairs(index, -1);
      std::vector<int32_t>& s = w.symbols;
      size_t j = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          s[j++] = merged;
          ++i;
        } else {
          s[j++] = s[i];
        }
      }
      s.resize(j);
      add_word_pairs(index, 1, merged);
    }
    push_touched();
    return true;
  }

  struct HeapEntry {
    int64_t count;
    uint64_t key;
    // std::priority_queue keeps the greatest on top: the higher count, then the smaller key.
    bool operator<(const HeapEntry& o) const { return count != o.count ? count < o.count : key > o.key; }
  };

  VocabFitOptions o_;
  FittedVocab out_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> counts_;  // mergeable adjacent pairs -> occurrences
  std::unordered_map<uint64_t, std::vector<uint32_t>> where_;  // pair -> words that held it (a superset)
  std::priority_queue<HeapEntry> heap_;
  std::vector<uint64_t> touched_;  // pairs whose count changed since the last push_touched
  bool counted_ = false;
};

}  // namespace

void check_fitted_vocab_size(int size) {
  if (size < 259) fail("a fitted vocabulary needs at least 259 pieces (3 special, 256 bytes), got {}", size);
  if (size > kMaxFittedVocab) fail("a fitted vocabulary has at most {} pieces, got {}", kMaxFittedVocab, size);
}

FittedVocab fit_spm_vocab(const std::vector<std::string>& texts, const VocabFitOptions& options) {
  check_fitted_vocab_size(options.size);
  if (options.max_piece_bytes < 2) fail("max_piece_bytes must be at least 2, got {}", options.max_piece_bytes);
  return Fitter(options).run(texts);
}

}  // namespace rpu
