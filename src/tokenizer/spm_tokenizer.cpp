#include "tokenizer/spm_tokenizer.h"

#include <fmt/format.h>

#include <cctype>
#include <queue>

#include "core/error.h"

namespace rpu {
namespace {


// A symbol of the text being merged: a byte range plus links to its live neighbours.
struct Symbol {
  size_t begin;
  size_t length;
  int prev;
  int next;
};

// A candidate merge of symbols left and right (adjacent when it was queued).
struct Bigram {
  float score;
  int left;
  int right;
  size_t length;  // merged length, to detect stale entries
  bool operator<(const Bigram& other) const {
    // Highest score first; among equals the leftmost pair.
    if (score != other.score) return score < other.score;
    return left > other.left;
  }
};

}  // namespace

size_t spm_symbol_length(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  size_t len = 1;
  if (lead >= 0xf0) len = 4;
  else if (lead >= 0xe0) len = 3;
  else if (lead >= 0xc0) len = 2;
  return std::min(len, text.size() - pos);
}

SpmTokenizer::SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.ids.find(fmt::format("<0x{:02X}>", b));
    byte_tokens_[b] = it != vocab_.ids.end() ? it->second : -1;
  }
  // Whether some piece has a space marker right after another character ("a\u2581b").
  for (int32_t id = 0; id < vocab_.size() && split_at_spaces_; ++id) {
    const std::string& p = vocab_.pieces[static_cast<size_t>(id)];
    if (mergeable(p) < 0) continue;
    for (size_t pos = p.find(kSpaceMarker, 1); pos != std::string::npos; pos = p.find(kSpaceMarker, pos + 1)) {
      const bool after_marker = pos >= kSpaceMarker.size() && p.compare(pos - kSpaceMarker.size(), kSpaceMarker.size(), kSpaceMarker) == 0;
      if (!after_marker) split_at_spaces_ = false;
    }
  }
}

int32_t SpmTokenizer::mergeable(std::string_view piece) const {
  const int32_t id = vocab_.find(piece);
  if (id < 0) return -1;
  const TokenKind kind = vocab_.kinds[static_cast<size_t>(id)];
  return kind == TokenKind::kNormal || kind == TokenKind::kUserDefined ? id : -1;
}

void SpmTokenizer::append_symbol(std::string_view symbol, std::vector<int32_t>& out) const {
  if (const int32_t id = mergeable(symbol); id >= 0) {
    out.push_back(id);
    return;
  }
  for (char c : symbol) {
    const int32_t id = byte_tokens_[static_cast<unsigned char>(c)];
    if (id >= 0) {
      out.push_back(id);
    } else if (vocab_.unk >= 0) {
      out.push_back(vocab_.unk);
      return;  // one <unk> for the whole character
    } else {
      fail("cannot encode byte 0x{:02X}: the vocabulary has neither a byte token nor <unk>", static_cast<unsigned char>(c));
    }
  }
}

void SpmTokenizer::encode_text(std::string_view raw, StretchStart start, std::vector<int32_t>& out) const {
  // A stretch that starts the text or follows a special token gets the space prefix:
  // SentencePiece treats both as the start of a sentence. A continuation does not.
  const std::string text = spm_escape_spaces(raw, vocab_.add_space_prefix && start != StretchStart::kContinuation);
  // Cut before each space marker that follows another character when no piece can span such
  // a point: no bigram across it can ever be queued, so each chunk merges exactly as it
  // would inside the whole text, and the queues stay small.
  if (!split_at_spaces_) {
    encode_chunk(text, out);
    return;
  }
  for_each_spm_word(text, [&](std::string_view word) { encode_chunk(word, out); });
}

std::string spm_escape_spaces(std::string_view raw, bool add_space_prefix) {
  std::string text;
  text.reserve(raw.size() + 8);
  if (add_space_prefix) text += kSpaceMarker;
  for (char c : raw) {
    if (c == ' ') {
      text += kSpaceMarker;
    } else {
      text += c;
    }
  }
  return text;
}

void for_each_spm_word(std::string_view all, const std::function<void(std::string_view)>& visit) {
  const size_t m = kSpaceMarker.size();
  size_t start = 0;
  for (size_t pos = 1; pos + m <= all.size(); ++pos) {
    if (all.compare(pos, m, kSpaceMarker) != 0) continue;
    if (pos >= m && all.compare(pos - m, m, kSpaceMarker) == 0) continue;
    visit(all.substr(start, pos - start));
    start = pos;
    pos += m - 1;
  }
  visit(all.substr(start));
}

void SpmTokenizer::encode_chunk(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = spm_symbol_length(text, pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back(Symbol{pos, len, index - 1, -1});
    if (index > 0) symbols[static_cast<size_t>(index - 1)].next = index;
    pos += len;
  }

  std::priority_queue<Bigram> queue;
  const std::string_view view = text;
  auto try_queue = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const size_t length = l.length + r.length;
    const int32_t id = mergeable(view.substr(l.begin, length));
    if (id < 0) return;
    queue.push(Bigram{vocab_.scores[static_cast<size_t>(id)], left, right, length});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_queue(static_cast<int>(i - 1), static_cast<int>(i));

  while (!queue.empty()) {
    const Bigram top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.left)];
    Symbol& right = symbols[static_cast<size_t>(top.right)];
    // Skip entries made stale by an earlier merge of either side.
    if (left.length == 0 || right.length == 0 || left.length + right.length != top.length || left.next != top.right) {
      continue;
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.left;
    try_queue(left.prev, top.left);
    try_queue(top.left, left.next);
  }

  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    append_symbol(view.substr(s.begin, s.length), out);
  }
}

std::string SpmTokenizer::token_to_piece(int32_t id) const {
  check_id(id);
  const std::string& piece = vocab_.pieces[static_cast<size_t>(id)];
  switch (vocab_.kinds[static_cast<size_t>(id)]) {
    case TokenKind::kControl:
    case TokenKind::kUnused: return {};
    case TokenKind::kByte: {
      // "<0xAB>" stands for the single byte 0xAB.
      if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>' &&
          std::isxdigit(static_cast<unsigned char>(piece[3])) && std::isxdigit(static_cast<unsigned char>(piece[4]))) {
        return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
      }
      return piece;
    }
    case TokenKind::kUserDefined: return piece;
    default: break;
  }
  return spaces_from_markers(piece);
}

}  // namespace rpu
