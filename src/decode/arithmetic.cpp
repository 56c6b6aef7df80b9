#include "decode/arithmetic.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "decode/numbers.h"

namespace rpu {
namespace {

struct Token {
  enum Kind { kNumber, kOp, kOpen, kClose, kEquals, kBreak } kind = kBreak;
  char op = 0;  // kOp: + - * /
  size_t begin = 0;
  size_t end = 0;
  NumberToken number;  // kNumber
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool starts_with(std::string_view text, size_t i, std::string_view s) { return text.substr(i, s.size()) == s; }

// Next non-blank byte at or after i is a digit, '(' or '$' (an operand can start there).
bool operand_follows(std::string_view text, size_t i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  return i < text.size() && (is_digit(text[i]) || text[i] == '(' || text[i] == '$');
}

// Multi-byte and contextual operators; returns the byte length consumed (0: none).
size_t read_operator(std::string_view text, size_t i, const std::vector<Token>& tokens, char& op) {
  static const struct {
    std::string_view spelled;
    char op;
  } kOps[] = {{"\xE2\x88\x92", '-'}, {"\xC3\x97", '*'}, {"\xC2\xB7", '*'}, {"\xC3\xB7", '/'},
              {"+", '+'}, {"-", '-'}, {"*", '*'}, {"/", '/'}};
  for (const auto& o : kOps) {
    if (starts_with(text, i, o.spelled)) {
      op = o.op;
      return o.spelled.size();
    }
  }
  const bool after_operand = !tokens.empty() && (tokens.back().kind == Token::kNumber || tokens.back().kind == Token::kClose);
  const bool standalone = i + 1 >= text.size() || !((text[i + 1] >= 'a' && text[i + 1] <= 'z') || (text[i + 1] >= 'A' && text[i + 1] <= 'Z'));
  if (text[i] == 'x' && after_operand && standalone && operand_follows(text, i + 1)) {
    op = '*';
    return 1;
  }
  return 0;
}

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    Token t;
    t.begin = i;
    if (c == ' ' || c == '\t' || c == '$') {
      ++i;
      continue;
    }
    if (is_digit(c)) {
      t.kind = Token::kNumber;
      t.number = *read_number(text, i, false);
      i = t.number.end;
    } else if (c == '=') {
      const bool compound = (i > 0 && (text[i - 1] == '<' || text[i - 1] == '>' || text[i - 1] == '!' || text[i - 1] == '=')) ||
                            (i + 1 < text.size() && text[i + 1] == '=');
      t.kind = compound ? Token::kBreak : Token::kEquals;
      i += 1;
    } else if (c == '(' || c == ')') {
      t.kind = c == '(' ? Token::kOpen : Token::kClose;
      i += 1;
    } else if (const size_t n = read_operator(text, i, tokens, t.op); n > 0) {
      t.kind = Token::kOp;
      i += n;
    } else {
      i += 1;  // anything else (a letter, '\n', ',') ends an expression
    }
    t.end = i;
    // Runs of breaks collapse into one.
    if (t.kind != Token::kBreak || tokens.empty() || tokens.back().kind != Token::kBreak) tokens.push_back(std::move(t));
  }
  return tokens;
}

// Recursive descent over tokens[pos..]; fails (nullopt) on anything that is not a complete
// expression. Depth-limited so a wall of '(' cannot exhaust the stack.
class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  std::optional<long double> expression(size_t& pos, bool& has_op, int depth = 0) {
    auto value = term(pos, has_op, depth);
    while (value && at(pos, Token::kOp) && (t_[pos].op == '+' || t_[pos].op == '-')) {
      const char op = t_[pos++].op;
      const auto rhs = term(pos, has_op, depth);
      if (!rhs) return std::nullopt;
      has_op = true;
      *value = op == '+' ? *value + *rhs : *value - *rhs;
    }
    return value;
  }

 private:
  bool at(size_t pos, Token::Kind kind) const { return pos < t_.size() && t_[pos].kind == kind; }

  std::optional<long double> term(size_t& pos, bool& has_op, int depth) {
    auto value = factor(pos, has_op, depth);
    while (value && at(pos, Token::kOp) && (t_[pos].op == '*' || t_[pos].op == '/')) {
      const char op = t_[pos++].op;
      const auto rhs = factor(pos, has_op, depth);
      if (!rhs) return std::nullopt;
      has_op = true;
      *value = op == '*' ? *value * *rhs
               : *rhs == 0 ? std::numeric_limits<long double>::quiet_NaN()
                           : *value / *rhs;
    }
    return value;
  }

  std::optional<long double> factor(size_t& pos, bool& has_op, int depth) {
    if (depth > 32) return std::nullopt;
    if (at(pos, Token::kOp) && t_[pos].op == '-') {
      ++pos;
      const auto inner = factor(pos, has_op, depth + 1);
      if (!inner) return std::nullopt;
      return -*inner;
    }
    if (at(pos, Token::kNumber)) return t_[pos++].number.value;
    if (!at(pos, Token::kOpen)) return std::nullopt;
    ++pos;
    const auto inner = expression(pos, has_op, depth + 1);
    if (!inner || !at(pos, Token::kClose)) return std::nullopt;
    ++pos;
    return inner;
  }

  const std::vector<Token>& t_;
};

struct WrittenResult {
  size_t first = 0;  // token where the result starts (its sign, if any)
  size_t last = 0;   // its last token
  long double value = 0;
  int decimals = 0;  // -1 for a fraction: compared exactly
};

bool is_op(const Token& t, char op) { return t.kind == Token::kOp && t.op == op; }

// The written result after '=' at tokens[pos]: a number, "-" glued to a number, or a
// fraction "3/4" that nothing but a break or '=' follows (so "1/2 + 1/4 = 3/4" checks).
std::optional<WrittenResult> result_after(const std::vector<Token>& t, size_t pos) {
  if (pos >= t.size() || t[pos].kind != Token::kEquals) return std::nullopt;
  WrittenResult r;
  r.first = ++pos;
  long double sign = 1;
  if (pos + 1 < t.size() && is_op(t[pos], '-') && t[pos].end == t[pos + 1].begin) {
    sign = -1;
    ++pos;
  }
  if (pos >= t.size() || t[pos].kind != Token::kNumber) return std::nullopt;
  r.last = pos;
  r.value = sign * t[pos].number.value;
  r.decimals = t[pos].number.decimals;
  const bool fraction = pos + 2 < t.size() && is_op(t[pos + 1], '/') && t[pos + 2].kind == Token::kNumber &&
                        t[pos + 2].number.value != 0 &&
                        (pos + 3 >= t.size() || t[pos + 3].kind == Token::kBreak || t[pos + 3].kind == Token::kEquals);
  if (fraction) {
    r.last = pos + 2;
    r.value /= t[pos + 2].number.value;
    r.decimals = -1;
  }
  return r;
}

// Whether an expression may start at tokens[i]. It must begin where an expression can
// begin (not right after a number, so "2(3 + 4) = 14" is not read as "(3 + 4) = 14"); a
// leading '-' is a sign only when glued to its operand, so a "- 5 + 3 = 8" bullet reads
// as "5 + 3 = 8".
bool can_start(const std::vector<Token>& t, size_t i) {
  const auto boundary = [&](size_t k) {  // nothing, a break, '=' or '(' before token k
    return k == 0 || t[k - 1].kind == Token::kBreak || t[k - 1].kind == Token::kEquals || t[k - 1].kind == Token::kOpen;
  };
  const bool after_leading_op = i > 0 && t[i - 1].kind == Token::kOp && boundary(i - 1);
  if (!boundary(i) && !after_leading_op) return false;
  if (t[i].kind == Token::kNumber || t[i].kind == Token::kOpen) return true;
  return is_op(t[i], '-') && i + 1 < t.size() && t[i].end == t[i + 1].begin &&
         (t[i + 1].kind == Token::kNumber || t[i + 1].kind == Token::kOpen);
}

}  // namespace

bool agrees(long double written, int decimals, long double exact) {
  if (!std::isfinite(exact)) return false;
  const auto close = [](long double a, long double b) {
    return std::fabs(a - b) <= 1e-9L * std::max<long double>(1, std::fabs(b));
  };
  if (close(written, exact)) return true;
  if (decimals <= 0) return false;
  const long double scale = std::pow(10.0L, static_cast<long double>(std::min(decimals, 18)));
  return close(written, std::round(exact * scale) / scale) || close(written, std::trunc(exact * scale) / scale);
}

std::vector<ArithmeticStep> find_arithmetic_steps(std::string_view text) {
  const std::vector<Token> tokens = tokenize(text);
  Parser parser(tokens);
  std::vector<ArithmeticStep> steps;
  for (size_t i = 0; i < tokens.size();) {
    size_t pos = i;
    bool has_op = false;
    const auto value = can_start(tokens, i) ? parser.expression(pos, has_op) : std::nullopt;
    const auto result = value && has_op ? result_after(tokens, pos) : std::nullopt;
    if (!result) {
      ++i;
      continue;
    }
    ArithmeticStep step;
    step.begin = tokens[i].begin;
    step.end = tokens[result->last].end;
    step.text = std::string(text.substr(step.begin, step.end - step.begin));
    step.expected = *value;
    step.written = result->value;
    step.correct = agrees(step.written, result->decimals, step.expected);
    steps.push_back(std::move(step));
    i = result->first;  // the result may start the next step of a run-on chain
  }
  return steps;
}

std::optional<long double> value_before_equals(std::string_view text) {
  const std::vector<Token> tokens = tokenize(text);
  if (tokens.empty() || tokens.back().kind != Token::kEquals) return std::nullopt;
  const size_t last = tokens.size() - 1;
  Parser parser(tokens);
  // The walk of find_arithmetic_steps, up to the first expression that ends at the last '='.
  for (size_t i = 0; i < last;) {
    size_t pos = i;
    bool has_op = false;
    const auto value = can_start(tokens, i) ? parser.expression(pos, has_op) : std::nullopt;
    if (value && has_op && pos == last) return std::isfinite(*value) ? value : std::nullopt;
    const auto result = value && has_op ? result_after(tokens, pos) : std::nullopt;
    i = result ? result->first : i + 1;
  }
  return std::nullopt;
}

std::optional<FinalAnswer> find_final_answer(std::string_view text) {
  std::string lower(text);
  for (char& ch : lower) ch = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  for (size_t at = lower.rfind("answer"); at != std::string::npos; at = at == 0 ? std::string::npos : lower.rfind("answer", at - 1)) {
    size_t i = at + 6;
    const auto skip = [&] {
      while (i < lower.size() && (lower[i] == ' ' || lower[i] == '*' || lower[i] == '$' || lower[i] == '\t')) ++i;
    };
    skip();
    const bool is = starts_with(lower, i, "is");
    if (is) i += 2;
    if (i < lower.size() && (lower[i] == ':' || lower[i] == '=')) i += 1;
    else if (!is) continue;
    skip();
    if (const auto number = read_number(text, i, true)) return FinalAnswer{at, number->value, number->normalized};
  }
  return std::nullopt;
}

}  // namespace rpu
