#include "chat/jinja_lexer.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "chat/jinja_error.h"
#include "chat/jinja_unicode.h"

namespace rpu::jinja {

const char* token_type_name(TokenType type) {
  switch (type) {
    case TokenType::Text: return "Text";
    case TokenType::NumericLiteral: return "NumericLiteral";
    case TokenType::StringLiteral: return "StringLiteral";
    case TokenType::Identifier: return "Identifier";
    case TokenType::Equals: return "Equals";
    case TokenType::OpenParen: return "OpenParen";
    case TokenType::CloseParen: return "CloseParen";
    case TokenType::OpenStatement: return "OpenStatement";
    case TokenType::CloseStatement: return "CloseStatement";
    case TokenType::OpenExpression: return "OpenExpression";
    case TokenType::CloseExpression: return "CloseExpression";
    case TokenType::OpenSquareBracket: return "OpenSquareBracket";
    case TokenType::CloseSquareBracket: return "CloseSquareBracket";
    case TokenType::OpenCurlyBracket: return "OpenCurlyBracket";
    case TokenType::CloseCurlyBracket: return "CloseCurlyBracket";
    case TokenType::Comma: return "Comma";
    case TokenType::Dot: return "Dot";
    case TokenType::Colon: return "Colon";
    case TokenType::Pipe: return "Pipe";
    case TokenType::AdditiveBinaryOperator: return "AdditiveBinaryOperator";
    case TokenType::MultiplicativeBinaryOperator: return "MultiplicativeBinaryOperator";
    case TokenType::ExponentiationBinaryOperator: return "ExponentiationBinaryOperator";
    case TokenType::ComparisonBinaryOperator: return "ComparisonBinaryOperator";
    case TokenType::UnaryOperator: return "UnaryOperator";
    case TokenType::Comment: return "Comment";
  }
  return "?";
}

namespace {

// The preprocessed source plus, for every byte, its offset in the original source, so errors can
// name the line the template author sees even after trim_blocks removed newlines.
struct Mapped {
  std::string text;
  std::vector<std::uint32_t> origin;

  void push(char c, std::uint32_t from) {
    text += c;
    origin.push_back(from);
  }
  void pop_back(std::size_t n) {
    text.resize(text.size() - n);
    origin.resize(origin.size() - n);
  }
};

bool is_line_terminator_at(const std::string& s, std::size_t i, std::size_t& length) {
  if (s[i] == '\n' || s[i] == '\r') return length = 1, true;
  // U+2028 / U+2029 end a line for JavaScript's multiline ^ as well.
  if (i + 2 < s.size() && s[i] == '\xE2' && s[i + 1] == '\x80' && (s[i + 2] == '\xA8' || s[i + 2] == '\xA9'))
    return length = 3, true;
  return false;
}

// /^[ \t]*({[#%-])/gm -> "$1"
Mapped lstrip_blocks(const Mapped& in) {
  Mapped out;
  const std::string& s = in.text;
  bool line_start = true;
  for (std::size_t i = 0; i < s.size();) {
    if (line_start) {
      std::size_t j = i;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
      if (j + 1 < s.size() && s[j] == '{' && (s[j + 1] == '#' || s[j + 1] == '%' || s[j + 1] == '-')) i = j;
    }
    std::size_t length = 0;
    if (is_line_terminator_at(s, i, length)) {
      for (std::size_t k = 0; k < length; ++k) out.push(s[i + k], in.origin[i + k]);
      i += length;
      line_start = true;
    } else {
      out.push(s[i], in.origin[i]);
      ++i;
      line_start = false;
    }
  }
  return out;
}

// /([#%-]})\n/g -> "$1"
Mapped trim_blocks(const Mapped& in) {
  Mapped out;
  const std::string& s = in.text;
  for (std::size_t i = 0; i < s.size();) {
    if (i + 2 < s.size() && (s[i] == '#' || s[i] == '%' || s[i] == '-') && s[i + 1] == '}' && s[i + 2] == '\n') {
      out.push(s[i], in.origin[i]);
      out.push(s[i + 1], in.origin[i + 1]);
      i += 3;
      continue;
    }
    out.push(s[i], in.origin[i]);
    ++i;
  }
  return out;
}

bool starts_with_at(const std::string& s, std::size_t i, std::string_view what) {
  return i <= s.size() && s.size() - i >= what.size() && s.compare(i, what.size(), what) == 0;
}

// Matches {%-? \s* (end)?generation \s* -?%} at i; returns the end offset or 0.
std::size_t match_generation_tag(const std::string& s, std::size_t i, bool& lstrip, bool& rstrip) {
  if (!starts_with_at(s, i, "{%")) return 0;
  std::size_t k = i + 2;
  lstrip = k < s.size() && s[k] == '-';
  if (lstrip) ++k;
  k += js_space_prefix(std::string_view(s).substr(k));
  if (starts_with_at(s, k, "end")) k += 3;
  if (!starts_with_at(s, k, "generation")) return 0;
  k += 10;
  k += js_space_prefix(std::string_view(s).substr(k));
  rstrip = k < s.size() && s[k] == '-';
  if (rstrip) ++k;
  if (!starts_with_at(s, k, "%}")) return 0;
  return k + 2;
}

// /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs -> keep the surrounding whitespace unless the
// tag asks to strip it.
Mapped erase_generation_tags(const Mapped& in) {
  Mapped out;
  const std::string& s = in.text;
  std::size_t segment_start = 0;  // where the current regex search started (end of last match)
  for (std::size_t i = 0; i < s.size();) {
    bool lstrip = false, rstrip = false;
    const std::size_t end = s[i] == '{' ? match_generation_tag(s, i, lstrip, rstrip) : 0;
    if (end == 0) {
      out.push(s[i], in.origin[i]);
      ++i;
      continue;
    }
    if (lstrip) {
      const std::string_view since(s.data() + segment_start, i - segment_start);
      out.pop_back(js_space_suffix(since));
    }
    const std::size_t after = js_space_prefix(std::string_view(s).substr(end));
    if (!rstrip)
      for (std::size_t k = end; k < end + after; ++k) out.push(s[k], in.origin[k]);
    i = end + after;
    segment_start = i;
  }
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  Lexer(Mapped src, std::vector<std::size_t> line_starts) : src_(std::move(src)), line_starts_(std::move(line_starts)) {}

  std::vector<Token> run();

 private:
  const std::string& s() const { return src_.text; }
  char at(std::size_t i) const { return i < s().size() ? s()[i] : '\0'; }
  bool has(std::size_t i, std::string_view what) const { return starts_with_at(s(), i, what); }
  int line_at(std::size_t i) const {
    const std::uint32_t original = src_.origin.empty() ? 0 : src_.origin[std::min(i, src_.origin.size() - 1)];
    return static_cast<int>(std::upper_bound(line_starts_.begin(), line_starts_.end(), original) - line_starts_.begin());
  }
  [[noreturn]] void fail(const std::string& message) const { raise(message, line_at(pos_)); }
  TokenType last_type() const { return tokens_.empty() ? TokenType::Text : tokens_.back().type; }
  void push(TokenType type, std::string value, std::size_t at) { tokens_.push_back({type, std::move(value), line_at(at)}); }

  bool is_space_at(std::size_t i, std::size_t& width) const {
    if (i >= s().size()) return false;
    std::size_t next = i;
    const char32_t cp = next_code_point(s(), next);
    width = next - i;
    return is_js_space(cp);
  }
  void skip_spaces() {
    std::size_t width = 0;
    while (is_space_at(pos_, width)) pos_ += width;
  }
  // consumeWhile(isWhitespace): like skip_spaces, but the port keeps JavaScript's quirk of failing
  // when a code token runs into the end of the input.
  void consume_spaces() {
    std::size_t width = 0;
    while (is_space_at(pos_, width)) {
      pos_ += width;
      if (pos_ >= s().size()) fail("unexpected end of input");
    }
  }
  template <typename Pred>
  std::string consume_while(Pred pred);
  void strip_trailing_whitespace();

  // The steps of run(), in its order; each returns whether it consumed a token.
  bool lex_text();
  bool lex_comment();
  bool lex_stripping_open();
  bool lex_stripping_close();
  bool lex_signed_number(char c);
  bool lex_fixed();
  void lex_literal_or_word(char c);

  Mapped src_;
  std::vector<std::size_t> line_starts_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int curly_depth_ = 0;
};

template <typename Pred>
std::string Lexer::consume_while(Pred pred) {
  std::string out;
  while (pos_ < s().size() && pred(s()[pos_])) {
    if (s()[pos_] == '\\') {
      ++pos_;
      if (pos_ >= s().size()) fail("unexpected end of input");
      const char escaped = s()[pos_++];
      if (escaped == 'x' || escaped == 'u') {
        const std::size_t length = escaped == 'x' ? 2 : 4;
        char32_t unit = 0;
        for (std::size_t k = 0; k < length; ++k) {
          const int h = hex_value(at(pos_ + k));
          if (pos_ + k >= s().size() || h < 0)
            fail("invalid hexadecimal escape sequence \\" + std::string(1, escaped) + s().substr(pos_, length));
          unit = unit * 16 + static_cast<char32_t>(h);
        }
        pos_ += length;
        // A \uD8xx\uDCxx pair spells one astral character, as it does in JavaScript.
        if (unit >= 0xD800 && unit <= 0xDBFF && at(pos_) == '\\' && at(pos_ + 1) == 'u') {
          char32_t low = 0;
          bool ok = true;
          for (std::size_t k = 0; k < 4; ++k) {
            const int h = hex_value(at(pos_ + 2 + k));
            ok = ok && h >= 0;
            low = low * 16 + static_cast<char32_t>(h < 0 ? 0 : h);
          }
          if (ok && low >= 0xDC00 && low <= 0xDFFF) {
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            pos_ += 6;
          }
        }
        append_utf8(out, unit);
        continue;
      }
      switch (escaped) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        default: fail(std::string("unexpected escaped character: \\") + escaped);
      }
      continue;
    }
    out += s()[pos_++];
    if (pos_ >= s().size()) fail("unexpected end of input");
  }
  return out;
}

void Lexer::strip_trailing_whitespace() {
  if (tokens_.empty() || tokens_.back().type != TokenType::Text) return;
  std::string& text = tokens_.back().value;
  text.resize(js_trim_end(text).size());
  if (text.empty()) tokens_.pop_back();
}

struct Fixed {
  std::string_view seq;
  TokenType type;
};

// Order matters: longer operators before their prefixes, exactly as in the reference lexer.
constexpr Fixed kFixedTokens[] = {
    {"{%", TokenType::OpenStatement},
    {"%}", TokenType::CloseStatement},
    {"{{", TokenType::OpenExpression},
    {"}}", TokenType::CloseExpression},
    {"(", TokenType::OpenParen},
    {")", TokenType::CloseParen},
    {"{", TokenType::OpenCurlyBracket},
    {"}", TokenType::CloseCurlyBracket},
    {"[", TokenType::OpenSquareBracket},
    {"]", TokenType::CloseSquareBracket},
    {",", TokenType::Comma},
    {".", TokenType::Dot},
    {":", TokenType::Colon},
    {"|", TokenType::Pipe},
    {"<=", TokenType::ComparisonBinaryOperator},
    {">=", TokenType::ComparisonBinaryOperator},
    {"==", TokenType::ComparisonBinaryOperator},
    {"!=", TokenType::ComparisonBinaryOperator},
    {"<", TokenType::ComparisonBinaryOperator},
    {">", TokenType::ComparisonBinaryOperator},
    {"+", TokenType::AdditiveBinaryOperator},
    {"-", TokenType::AdditiveBinaryOperator},
    {"~", TokenType::AdditiveBinaryOperator},
    {"**", TokenType::ExponentiationBinaryOperator},
    {"*", TokenType::MultiplicativeBinaryOperator},
    {"//", TokenType::MultiplicativeBinaryOperator},
    {"/", TokenType::MultiplicativeBinaryOperator},
    {"%", TokenType::MultiplicativeBinaryOperator},
    {"=", TokenType::Equals},
};

// Text up to the next "{%", "{{" or "{#", when the last token closed a tag (or there is none).
bool Lexer::lex_text() {
  const bool text_mode = tokens_.empty() || last_type() == TokenType::CloseStatement ||
                         last_type() == TokenType::CloseExpression || last_type() == TokenType::Comment;
  if (!text_mode) return false;
  const std::size_t start = pos_;
  while (pos_ < s().size() && !(s()[pos_] == '{' && (at(pos_ + 1) == '%' || at(pos_ + 1) == '{' || at(pos_ + 1) == '#')))
    ++pos_;
  if (pos_ == start) return false;
  push(TokenType::Text, s().substr(start, pos_ - start), start);
  return true;
}

// "{# ... #}", with "{#-" / "-#}" stripping the whitespace around it.
bool Lexer::lex_comment() {
  if (!has(pos_, "{#")) return false;
  const std::size_t start = pos_;
  pos_ += 2;
  const bool strip_before = at(pos_) == '-';
  if (strip_before) ++pos_;
  std::string comment;
  while (!(at(pos_) == '#' && at(pos_ + 1) == '}')) {
    if (pos_ + 2 >= s().size()) fail("missing end of comment tag");
    comment += s()[pos_++];
  }
  const bool strip_after = !comment.empty() && comment.back() == '-';
  if (strip_after) comment.pop_back();
  if (strip_before) strip_trailing_whitespace();
  push(TokenType::Comment, std::move(comment), start);
  pos_ += 2;
  if (strip_after) skip_spaces();
  return true;
}

// "{%-" and "{{-": the tag, with the text's trailing whitespace removed.
bool Lexer::lex_stripping_open() {
  const bool statement = has(pos_, "{%-");
  if (!statement && !has(pos_, "{{-")) return false;
  strip_trailing_whitespace();
  push(statement ? TokenType::OpenStatement : TokenType::OpenExpression, statement ? "{%" : "{{", pos_);
  if (!statement) curly_depth_ = 0;
  pos_ += 3;
  return true;
}

// "-%}" and "-}}": the tag, with the whitespace after it skipped.
bool Lexer::lex_stripping_close() {
  const bool statement = has(pos_, "-%}");
  if (!statement && !has(pos_, "-}}")) return false;
  push(statement ? TokenType::CloseStatement : TokenType::CloseExpression, statement ? "%}" : "}}", pos_);
  pos_ += 3;
  skip_spaces();
  return true;
}

// '-' or '+' where it cannot be a binary operator: a signed number, else a unary operator.
bool Lexer::lex_signed_number(char c) {
  if (c != '-' && c != '+') return false;
  if (tokens_.empty() || last_type() == TokenType::Text) fail(std::string("unexpected character: ") + c);
  const TokenType last = last_type();
  const bool binary = last == TokenType::Identifier || last == TokenType::NumericLiteral ||
                      last == TokenType::StringLiteral || last == TokenType::CloseParen ||
                      last == TokenType::CloseSquareBracket;
  if (binary) return false;
  const std::size_t start = pos_++;
  std::string num = consume_while(is_digit);
  if (!num.empty() && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
    ++pos_;
    num += '.';
    num += consume_while(is_digit);
  }
  const TokenType type = num.empty() ? TokenType::UnaryOperator : TokenType::NumericLiteral;
  num.insert(num.begin(), c);
  push(type, std::move(num), start);
  return true;
}

// Operators and delimiters (kFixedTokens, longest first); "}}" inside a dict literal is two braces.
bool Lexer::lex_fixed() {
  for (const Fixed& fixed : kFixedTokens) {
    if (fixed.seq == "}}" && curly_depth_ > 0) continue;
    if (!has(pos_, fixed.seq)) continue;
    push(fixed.type, std::string(fixed.seq), pos_);
    if (fixed.type == TokenType::OpenExpression) curly_depth_ = 0;
    if (fixed.type == TokenType::OpenCurlyBracket) ++curly_depth_;
    if (fixed.type == TokenType::CloseCurlyBracket) --curly_depth_;
    pos_ += fixed.seq.size();
    return true;
  }
  return false;
}

// A string literal, a number, an identifier, or an error naming the character.
void Lexer::lex_literal_or_word(char c) {
  const std::size_t start = pos_;
  if (c == '\'' || c == '"') {
    ++pos_;
    std::string value = consume_while([c](char x) { return x != c; });
    if (pos_ >= s().size()) fail("unterminated string literal");
    ++pos_;
    push(TokenType::StringLiteral, std::move(value), start);
    return;
  }
  if (is_digit(c)) {
    std::string num = consume_while(is_digit);
    if (last_type() != TokenType::Dot && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
      ++pos_;
      num += '.';
      num += consume_while(is_digit);
    }
    push(TokenType::NumericLiteral, std::move(num), start);
    return;
  }
  if (is_word(c)) {
    push(TokenType::Identifier, consume_while(is_word), start);
    return;
  }
  if (static_cast<unsigned char>(c) >= 0x80) {
    std::size_t next = pos_;
    std::string ch;
    append_utf8(ch, next_code_point(s(), next));
    fail("unexpected character: " + ch);
  }
  fail(std::string("unexpected character: ") + c);
}

std::vector<Token> Lexer::run() {
  while (pos_ < s().size()) {
    if (lex_text() || lex_comment() || lex_stripping_open()) continue;
    consume_spaces();
    if (lex_stripping_close()) continue;
    const char c = s()[pos_];
    if (lex_signed_number(c) || lex_fixed()) continue;
    lex_literal_or_word(c);
  }
  return std::move(tokens_);
}

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& options) {
  std::vector<std::size_t> line_starts{0};
  for (std::size_t i = 0; i < source.size(); ++i)
    if (source[i] == '\n') line_starts.push_back(i + 1);

  Mapped mapped;
  mapped.text.reserve(source.size());
  mapped.origin.reserve(source.size());
  std::size_t length = source.size();
  if (length > 0 && source[length - 1] == '\n') --length;  // Jinja drops one trailing newline
  for (std::size_t i = 0; i < length; ++i) mapped.push(source[i], static_cast<std::uint32_t>(i));

  if (options.lstrip_blocks) mapped = lstrip_blocks(mapped);
  if (options.trim_blocks) mapped = trim_blocks(mapped);
  mapped = erase_generation_tags(mapped);

  return Lexer(std::move(mapped), std::move(line_starts)).run();
}

}  // namespace rpu::jinja
