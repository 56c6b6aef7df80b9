#include "tokenizer/wordpiece_tokenizer.h"

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace rpu {

WordPieceTokenizer::WordPieceTokenizer(Vocab vocab, WordPieceOptions options, std::unique_ptr<Normalizer> normalizer,
                                       std::unique_ptr<PreTokenizer> pretokenizer)
    : Tokenizer(std::move(vocab)),
      options_(std::move(options)),
      normalizer_(std::move(normalizer)),
      pretokenizer_(std::move(pretokenizer)) {
  if (vocab_.unk < 0) vocab_.unk = vocab_.find("[UNK]");
  if (vocab_.unk < 0) fail("WordPiece vocabulary has no unknown token ([UNK])");
}

std::unique_ptr<Tokenizer> WordPieceTokenizer::from_gguf(const GgufFile& file, Vocab vocab) {
  BertNormalizerOptions norm;
  // Uncased BERT vocabularies are the common case, and the converter records only departures.
  norm.lowercase = file.find("tokenizer.ggml.normalizer.lowercase")
                       ? file.require("tokenizer.ggml.normalizer.lowercase").as_bool("lowercase")
                       : true;
  norm.strip_accents = file.find("tokenizer.ggml.normalizer.strip_accents")
                           ? file.require("tokenizer.ggml.normalizer.strip_accents").as_bool("strip_accents")
                           : norm.lowercase;
  WordPieceOptions options;
  options.word_prefix = "\xe2\x96\x81";
  options.continuation_prefix = "";
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), options, make_bert_normalizer(norm), make_bert());
}

void WordPieceTokenizer::encode_text(std::string_view text, StretchStart start, std::vector<int32_t>& out) const {
  const bool at_text_start = start == StretchStart::kTextStart;
  std::vector<std::string> words;
  words.push_back(normalizer_ ? normalizer_->apply(text) : std::string(text));
  if (pretokenizer_) pretokenizer_->apply(words, at_text_start);
  for (const std::string& word : words) encode_word(word, out);
}

void WordPieceTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  // Character boundaries, so that pieces end on whole characters.
  std::vector<size_t> bounds;
  for (size_t pos = 0, len = 0; pos < word.size(); pos += len) {
    bounds.push_back(pos);
    unicode::decode(word, pos, len);
  }
  bounds.push_back(word.size());
  const size_t n_chars = bounds.size() - 1;
  if (n_chars > options_.max_chars_per_word) {
    out.push_back(vocab_.unk);
    return;
  }
  const size_t first_new = out.size();
  std::string candidate;
  for (size_t start = 0; start < n_chars;) {
    int32_t found = -1;
    size_t end = n_chars;
    const std::string& prefix = start == 0 ? options_.word_prefix : options_.continuation_prefix;
    for (; end > start; --end) {
      candidate.assign(prefix);
      candidate.append(word.substr(bounds[start], bounds[end] - bounds[start]));
      found = vocab_.find(candidate);
      if (found >= 0) break;
    }
    if (found < 0) {  // the word cannot be covered: all of it is unknown
      out.resize(first_new);
      out.push_back(vocab_.unk);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

std::string WordPieceTokenizer::token_to_piece(int32_t id) const {
  check_id(id);
  const std::string& piece = vocab_.pieces[static_cast<size_t>(id)];
  switch (vocab_.kinds[static_cast<size_t>(id)]) {
    case TokenKind::kControl:
    case TokenKind::kUnused: return {};
    case TokenKind::kNormal: break;
    default: return piece;
  }
  // A word start is shown after a space; a continuation joins the previous piece.
  const std::string& word = options_.word_prefix;
  const std::string& cont = options_.continuation_prefix;
  if (!word.empty()) {
    if (piece.compare(0, word.size(), word) == 0) {
      std::string text(1, ' ');  // (not " " + ...: GCC 12 warns falsely on that form)
      return text.append(piece, word.size());
    }
    return piece;
  }
  if (!cont.empty() && piece.compare(0, cont.size(), cont) == 0) return piece.substr(cont.size());
  return " " + piece;
}

}  // namespace rpu
