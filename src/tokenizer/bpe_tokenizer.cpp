#include "tokenizer/bpe_tokenizer.h"

#include <fmt/format.h>

#include <queue>
#include <set>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace rpu {
namespace {


// A symbol of the word being merged, linked to its live neighbours.
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

// A queued merge of the symbol at `pos` with its right neighbour.
struct Candidate {
  uint32_t rank;
  int32_t pos;
  int32_t merged;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

// Pre-tokenizer names whose Hugging Face model sets ignore_merges.
const std::set<std::string> kIgnoreMergesPre = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
                                                "pixtral", "midm-2.0", "lfm2", "tekken"};

}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab, const BpeOptions& options, std::unique_ptr<Normalizer> normalizer,
                           std::unique_ptr<PreTokenizer> pretokenizer, BpeDecoding decoding, bool strips_leading_space)
    : Tokenizer(std::move(vocab)),
      normalizer_(std::move(normalizer)),
      pretokenizer_(std::move(pretokenizer)),
      decoding_(decoding),
      strips_leading_space_(strips_leading_space) {
  options_.byte_fallback = options.byte_fallback;
  options_.ignore_merges = options.ignore_merges;
  options_.fuse_unk = options.fuse_unk;
  merges_.reserve(options.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < options.merges.size(); ++rank) {
    const auto& [left, right] = options.merges[rank];
    const int32_t l = vocab_.find(left);
    const int32_t r = vocab_.find(right);
    joined = left + right;
    const int32_t m = vocab_.find(joined);
    // A merge whose parts or result are not tokens can never fire; skip it.
    if (l < 0 || r < 0 || m < 0) continue;
    merges_.emplace(pair_key(l, r), Merge{static_cast<uint32_t>(rank), m});  // the first listing wins
  }
  for (int b = 0; b < 256; ++b) byte_tokens_[b] = vocab_.find(fmt::format("<0x{:02X}>", b));
}

std::unique_ptr<Tokenizer> BpeTokenizer::from_gguf(const GgufFile& file, Vocab vocab) {
  BpeOptions options;
  const auto& merges = file.require("tokenizer.ggml.merges").as_array("tokenizer.ggml.merges");
  options.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i].as_string("tokenizer.ggml.merges item");
    // "left right"; the split is at the first space after the first byte, since a byte-level
    // piece never contains a plain space.
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) fail("{}: merge {} ('{}') has no space between its two parts", file.path(), i, m);
    options.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  const std::string pre = file.get_string("tokenizer.ggml.pre", "default");
  options.ignore_merges = kIgnoreMergesPre.count(pre) > 0;
  auto pretokenizer = make_gguf_pretokenizer(pre);
  return std::make_unique<BpeTokenizer>(std::move(vocab), options, nullptr, std::move(pretokenizer),
                                        BpeDecoding::kByteLevel, false);
}

void BpeTokenizer::encode_text(std::string_view text, StretchStart start, std::vector<int32_t>& out) const {
  const bool at_text_start = start == StretchStart::kTextStart;
  std::vector<std::string> pieces;
  pieces.push_back(normalizer_ ? normalizer_->apply(text) : std::string(text));
  if (pieces[0].empty()) return;
  if (pretokenizer_) pretokenizer_->apply(pieces, at_text_start);
  for (const std::string& piece : pieces) encode_word(piece, out);
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const int32_t id = vocab_.find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // One symbol per character; characters outside the vocabulary become byte tokens or unk.
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto push = [&](int32_t id) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, index - 1, -1, true});
    if (index > 0) symbols[static_cast<size_t>(index - 1)].next = index;
  };
  for (size_t pos = 0, len = 0; pos < word.size(); pos += len) {
    unicode::decode(word, pos, len);
    const int32_t id = vocab_.find(word.substr(pos, len));
    if (id >= 0) {
      push(id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (size_t i = pos; i < pos + len; ++i) all = all && byte_tokens_[static_cast<unsigned char>(word[i])] >= 0;
      if (all) {
        for (size_t i = pos; i < pos + len; ++i) push(byte_tokens_[static_cast<unsigned char>(word[i])]);
        continue;
      }
    }
    if (vocab_.unk < 0) continue;  // nothing to stand for the character: it is dropped
    if (options_.fuse_unk && !symbols.empty() && symbols.back().id == vocab_.unk) continue;
    push(vocab_.unk);
  }

  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int32_t pos) {
    const Symbol& s = symbols[static_cast<size_t>(pos)];
    if (s.next < 0) return;
    const auto it = merges_.find(pair_key(s.id, symbols[static_cast<size_t>(s.next)].id));
    if (it != merges_.end()) queue.push(Candidate{it->second.rank, pos, it->second.merged});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    // Stale when either side changed since the candidate was queued.
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.merged != top.merged) continue;
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[static_cast<size_t>(left.next)].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (int32_t i = 0; i >= 0 && i < static_cast<int32_t>(symbols.size()); i = symbols[static_cast<size_t>(i)].next) {
    out.push_back(symbols[static_cast<size_t>(i)].id);
  }
}

std::string BpeTokenizer::token_to_piece(int32_t id) const {
  check_id(id);
  const std::string& piece = vocab_.pieces[static_cast<size_t>(id)];
  const TokenKind kind = vocab_.kinds[static_cast<size_t>(id)];
  if (kind == TokenKind::kControl || kind == TokenKind::kUnused) return {};
  if (decoding_ == BpeDecoding::kByteLevel) {
    std::string text;
    text.reserve(piece.size());
    // Added tokens are stored as plain text: like Hugging Face's ByteLevel decoder, a piece
    // that is not entirely byte-level characters is kept as written.
    for (size_t pos = 0, len = 0; pos < piece.size(); pos += len) {
      const char32_t cp = unicode::decode(piece, pos, len);
      const int byte = cp == unicode::kInvalid ? -1 : unicode::unicode_to_byte(cp);
      if (byte < 0) return piece;
      text += static_cast<char>(byte);
    }
    return text;
  }
  if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>' && byte_tokens_[0] >= 0) {
    for (int b = 0; b < 256; ++b) {
      if (byte_tokens_[b] == id) return std::string(1, static_cast<char>(b));
    }
  }
  return spaces_from_markers(piece);
}

}  // namespace rpu
