#include "chat/jinja_parser.h"

#include <cstdlib>
#include <set>
#include <string_view>
#include <utility>

#include "chat/jinja_error.h"

namespace rpu::jinja {

namespace {

// Nesting deeper than this (parentheses, blocks) is refused instead of exhausting the C++ stack.
constexpr int kMaxParseDepth = 200;

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  Program run() {
    Program program;
    while (current_ < tokens_.size()) program.body.push_back(parse_any("end of template"));
    return program;
  }

 private:
  enum class ArgMode { Call, Parameters };

  // Keeps recursion bounded: every recursive entry point holds one of these.
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxParseDepth) p.fail("template nesting is deeper than " + std::to_string(kMaxParseDepth));
    }
    ~DepthGuard() { --p.depth_; }
  };

  int line() const {
    if (current_ < tokens_.size()) return tokens_[current_].line;
    return tokens_.empty() ? 1 : tokens_.back().line;
  }
  [[noreturn]] void fail(const std::string& message) const { raise(message, line()); }
  NodePtr node(NodeType type) const { return std::make_unique<Node>(type, line()); }

  bool at_end() const { return current_ >= tokens_.size(); }
  const Token& peek(std::size_t ahead = 0) const {
    if (current_ + ahead >= tokens_.size()) fail("unexpected end of template");
    return tokens_[current_ + ahead];
  }
  bool is(TokenType type, std::size_t ahead = 0) const {
    return current_ + ahead < tokens_.size() && tokens_[current_ + ahead].type == type;
  }
  bool is_identifier(std::string_view name, std::size_t ahead = 0) const {
    return is(TokenType::Identifier, ahead) && tokens_[current_ + ahead].value == name;
  }
  bool is_statement(std::initializer_list<std::string_view> names) const {
    if (!is(TokenType::OpenStatement) || !is(TokenType::Identifier, 1)) return false;
    for (std::string_view name : names)
      if (tokens_[current_ + 1].value == name) return true;
    return false;
  }
  const Token& expect(TokenType type, const std::string& what) {
    if (at_end()) fail("unexpected end of template, expected " + what);
    const Token& token = tokens_[current_];
    if (token.type != type)
      fail("expected " + what + ", got " + token_type_name(token.type) + (token.value.empty() ? "" : " '" + token.value + "'"));
    ++current_;
    return token;
  }
  void expect_identifier(std::string_view name) {
    if (!is_identifier(name)) fail("expected '" + std::string(name) + "'");
    ++current_;
  }
  void expect_end_tag(std::string_view name) {
    expect(TokenType::OpenStatement, "'{%'");
    expect_identifier(name);
    expect(TokenType::CloseStatement, "'%}'");
  }
  // Parses statements until one of `ends` opens; end of input there means an unclosed block.
  std::vector<NodePtr> parse_until(std::initializer_list<std::string_view> ends, const std::string& what) {
    std::vector<NodePtr> body;
    while (!is_statement(ends)) {
      if (at_end()) fail("unexpected end of template: missing " + what);
      body.push_back(parse_any(what));
    }
    return body;
  }

  NodePtr parse_any(const std::string& context);
  NodePtr parse_statement();
  NodePtr parse_set();
  NodePtr parse_if();
  NodePtr parse_macro();
  NodePtr parse_for();
  NodePtr parse_expression_sequence(bool primary);
  NodePtr parse_expression();
  NodePtr parse_if_expression();
  NodePtr parse_or();
  NodePtr parse_and();
  NodePtr parse_not();
  NodePtr parse_comparison();
  NodePtr parse_additive();
  NodePtr parse_multiplicative();
  NodePtr parse_power();
  NodePtr parse_test();
  NodePtr parse_filter();
  NodePtr parse_unary_sign();
  NodePtr parse_call_member();
  NodePtr parse_call(NodePtr callee);
  std::vector<NodePtr> parse_args(ArgMode mode);
  NodePtr parse_member_arguments();
  NodePtr parse_member(NodePtr object);
  NodePtr parse_primary();
  NodePtr binary(const Token& op, BinaryOp code, NodePtr left, NodePtr right) const;

  const std::vector<Token>& tokens_;
  std::size_t current_ = 0;
  int depth_ = 0;
};

NodePtr Parser::binary(const Token& op, BinaryOp code, NodePtr left, NodePtr right) const {
  auto n = std::make_unique<Node>(NodeType::Binary, op.line);
  n->str = op.value;
  n->op = code;
  n->kids.push_back(std::move(left));
  n->kids.push_back(std::move(right));
  return n;
}

NodePtr Parser::parse_any(const std::string& context) {
  DepthGuard guard(*this);
  if (at_end()) fail("unexpected end of template: missing " + context);
  const Token& token = tokens_[current_];
  switch (token.type) {
    case TokenType::Comment: {
      auto n = node(NodeType::Comment);
      ++current_;
      return n;
    }
    case TokenType::Text: {
      auto n = node(NodeType::StringLiteral);
      n->str = token.value;
      ++current_;
      return n;
    }
    case TokenType::OpenStatement:
      return parse_statement();
    case TokenType::OpenExpression: {
      ++current_;
      auto n = parse_expression();
      expect(TokenType::CloseExpression, "'}}'");
      return n;
    }
    default:
      fail(std::string("unexpected token ") + token_type_name(token.type));
  }
}

NodePtr Parser::parse_statement() {
  expect(TokenType::OpenStatement, "'{%'");
  if (!is(TokenType::Identifier)) fail(std::string("unknown statement, got ") + token_type_name(peek().type));
  const std::string name = peek().value;
  NodePtr result;
  if (name == "set") {
    ++current_;
    result = parse_set();
  } else if (name == "if") {
    ++current_;
    result = parse_if();
    expect_end_tag("endif");
  } else if (name == "macro") {
    ++current_;
    result = parse_macro();
    expect_end_tag("endmacro");
  } else if (name == "for") {
    ++current_;
    result = parse_for();
    expect_end_tag("endfor");
  } else if (name == "call") {
    result = node(NodeType::CallStatement);
    ++current_;
    std::vector<NodePtr> caller_params;
    if (is(TokenType::OpenParen)) caller_params = parse_args(ArgMode::Parameters);
    NodePtr callee = parse_primary();
    if (callee->type != NodeType::Identifier) fail("expected identifier following call statement");
    auto call = node(NodeType::Call);
    call->kids.push_back(std::move(callee));
    for (auto& arg : parse_args(ArgMode::Call)) call->kids.push_back(std::move(arg));
    expect(TokenType::CloseStatement, "'%}'");
    result->body = parse_until({"endcall"}, "{% endcall %}");
    expect_end_tag("endcall");
    result->kids.push_back(std::move(call));
    for (auto& p : caller_params) result->kids.push_back(std::move(p));
  } else if (name == "break" || name == "continue") {
    result = node(name == "break" ? NodeType::Break : NodeType::Continue);
    ++current_;
    expect(TokenType::CloseStatement, "'%}'");
  } else if (name == "filter") {
    result = node(NodeType::FilterStatement);
    ++current_;
    NodePtr filter = parse_primary();
    if (filter->type == NodeType::Identifier && is(TokenType::OpenParen)) filter = parse_call(std::move(filter));
    expect(TokenType::CloseStatement, "'%}'");
    result->body = parse_until({"endfilter"}, "{% endfilter %}");
    expect_end_tag("endfilter");
    result->kids.push_back(std::move(filter));
  } else {
    fail("unknown statement type: " + name + " (not supported by this renderer)");
  }
  return result;
}

NodePtr Parser::parse_set() {
  auto n = node(NodeType::Set);
  n->kids.push_back(parse_expression_sequence(false));
  if (is(TokenType::Equals)) {
    ++current_;
    n->kids.push_back(parse_expression_sequence(false));
  } else {
    n->kids.push_back(nullptr);
    expect(TokenType::CloseStatement, "'%}'");
    n->body = parse_until({"endset"}, "{% endset %}");
    expect(TokenType::OpenStatement, "'{%'");
    expect_identifier("endset");
  }
  expect(TokenType::CloseStatement, "'%}'");
  return n;
}

NodePtr Parser::parse_if() {
  DepthGuard guard(*this);
  auto n = node(NodeType::If);
  n->kids.push_back(parse_expression());
  expect(TokenType::CloseStatement, "'%}'");
  n->body = parse_until({"elif", "else", "endif"}, "{% endif %}");
  if (is_statement({"elif"})) {
    current_ += 2;
    n->alt.push_back(parse_if());
  } else if (is_statement({"else"})) {
    current_ += 2;
    expect(TokenType::CloseStatement, "'%}'");
    n->alt = parse_until({"endif"}, "{% endif %}");
  }
  return n;
}

NodePtr Parser::parse_macro() {
  auto n = node(NodeType::Macro);
  NodePtr name = parse_primary();
  if (name->type != NodeType::Identifier) fail("expected identifier following macro statement");
  n->str = name->str;
  n->kids = parse_args(ArgMode::Parameters);
  expect(TokenType::CloseStatement, "'%}'");
  n->body = parse_until({"endmacro"}, "{% endmacro %}");
  return n;
}

NodePtr Parser::parse_for() {
  auto n = node(NodeType::For);
  NodePtr target = parse_expression_sequence(true);
  if (target->type != NodeType::Identifier && target->type != NodeType::TupleLiteral)
    fail("expected identifier/tuple for the loop variable");
  if (!is_identifier("in")) fail("expected 'in' keyword following loop variable");
  ++current_;
  n->kids.push_back(std::move(target));
  n->kids.push_back(parse_expression());
  expect(TokenType::CloseStatement, "'%}'");
  n->body = parse_until({"endfor", "else"}, "{% endfor %}");
  if (is_statement({"else"})) {
    current_ += 2;
    expect(TokenType::CloseStatement, "'%}'");
    n->alt = parse_until({"endfor"}, "{% endfor %}");
  }
  return n;
}

NodePtr Parser::parse_expression_sequence(bool primary) {
  const int start_line = line();
  std::vector<NodePtr> items;
  items.push_back(primary ? parse_primary() : parse_expression());
  const bool tuple = is(TokenType::Comma);
  while (tuple) {
    ++current_;
    items.push_back(primary ? parse_primary() : parse_expression());
    if (!is(TokenType::Comma)) break;
  }
  if (!tuple) return std::move(items[0]);
  auto n = std::make_unique<Node>(NodeType::TupleLiteral, start_line);
  n->kids = std::move(items);
  return n;
}

NodePtr Parser::parse_expression() {
  DepthGuard guard(*this);
  return parse_if_expression();
}

NodePtr Parser::parse_if_expression() {
  NodePtr a = parse_or();
  if (!is_identifier("if")) return a;
  ++current_;
  NodePtr test = parse_or();
  if (is_identifier("else")) {
    ++current_;
    auto n = node(NodeType::Ternary);
    NodePtr otherwise = parse_if_expression();
    n->kids.push_back(std::move(test));
    n->kids.push_back(std::move(a));
    n->kids.push_back(std::move(otherwise));
    return n;
  }
  auto n = node(NodeType::Select);
  n->kids.push_back(std::move(a));
  n->kids.push_back(std::move(test));
  return n;
}

NodePtr Parser::parse_or() {
  NodePtr left = parse_and();
  while (is_identifier("or")) {
    const Token& op = tokens_[current_++];
    left = binary(op, BinaryOp::Or, std::move(left), parse_and());
  }
  return left;
}

NodePtr Parser::parse_and() {
  NodePtr left = parse_not();
  while (is_identifier("and")) {
    const Token& op = tokens_[current_++];
    left = binary(op, BinaryOp::And, std::move(left), parse_not());
  }
  return left;
}

NodePtr Parser::parse_not() {
  if (!is_identifier("not")) return parse_comparison();
  DepthGuard guard(*this);
  auto n = node(NodeType::Unary);
  n->str = "not";
  ++current_;
  n->kids.push_back(parse_not());
  return n;
}

NodePtr Parser::parse_comparison() {
  NodePtr left = parse_additive();
  while (true) {
    if (is_identifier("not") && is_identifier("in", 1)) {
      Token op{TokenType::Identifier, "not in", peek().line};
      current_ += 2;
      left = binary(op, BinaryOp::NotIn, std::move(left), parse_additive());
    } else if (is_identifier("in")) {
      const Token& op = tokens_[current_++];
      left = binary(op, BinaryOp::In, std::move(left), parse_additive());
    } else if (is(TokenType::ComparisonBinaryOperator)) {
      const Token& op = tokens_[current_++];
      const BinaryOp code = op.value == "==" ? BinaryOp::Eq
                            : op.value == "!=" ? BinaryOp::Ne
                            : op.value == "<"  ? BinaryOp::Lt
                            : op.value == ">"  ? BinaryOp::Gt
                            : op.value == "<=" ? BinaryOp::Le
                                               : BinaryOp::Ge;
      left = binary(op, code, std::move(left), parse_additive());
    } else {
      return left;
    }
  }
}

NodePtr Parser::parse_additive() {
  NodePtr left = parse_multiplicative();
  while (is(TokenType::AdditiveBinaryOperator)) {
    const Token& op = tokens_[current_++];
    const BinaryOp code = op.value == "+" ? BinaryOp::Add : op.value == "-" ? BinaryOp::Sub : BinaryOp::Concat;
    left = binary(op, code, std::move(left), parse_multiplicative());
  }
  return left;
}

NodePtr Parser::parse_multiplicative() {
  NodePtr left = parse_power();
  while (is(TokenType::MultiplicativeBinaryOperator)) {
    const Token& op = tokens_[current_++];
    const BinaryOp code = op.value == "*"    ? BinaryOp::Mul
                          : op.value == "/"  ? BinaryOp::Div
                          : op.value == "//" ? BinaryOp::FloorDiv
                                             : BinaryOp::Mod;
    left = binary(op, code, std::move(left), parse_power());
  }
  return left;
}

NodePtr Parser::parse_power() {
  // Left-associative like Jinja2 (unlike Python): 2 ** 3 ** 2 == (2 ** 3) ** 2.
  NodePtr left = parse_test();
  while (is(TokenType::ExponentiationBinaryOperator)) {
    const Token& op = tokens_[current_++];
    left = binary(op, BinaryOp::Pow, std::move(left), parse_test());
  }
  return left;
}

NodePtr Parser::parse_test() {
  NodePtr operand = parse_filter();
  while (is_identifier("is")) {
    auto n = node(NodeType::Test);
    ++current_;
    n->flag = is_identifier("not");
    if (n->flag) ++current_;
    NodePtr test = parse_primary();
    if (test->type != NodeType::Identifier) fail("expected identifier for the test");
    n->str = test->str;
    n->kids.push_back(std::move(operand));
    operand = std::move(n);
  }
  return operand;
}

NodePtr Parser::parse_filter() {
  NodePtr operand = parse_unary_sign();
  while (is(TokenType::Pipe)) {
    auto n = node(NodeType::Filter);
    ++current_;
    NodePtr filter = parse_primary();
    if (filter->type != NodeType::Identifier) fail("expected identifier for the filter");
    if (is(TokenType::OpenParen)) filter = parse_call(std::move(filter));
    n->kids.push_back(std::move(operand));
    n->kids.push_back(std::move(filter));
    operand = std::move(n);
  }
  return operand;
}

NodePtr Parser::parse_unary_sign() {
  if ((is(TokenType::UnaryOperator) || is(TokenType::AdditiveBinaryOperator)) &&
      (peek().value == "-" || peek().value == "+")) {
    DepthGuard guard(*this);
    auto n = node(NodeType::Unary);
    n->str = tokens_[current_++].value;
    n->kids.push_back(parse_unary_sign());
    return n;
  }
  return parse_call_member();
}

NodePtr Parser::parse_call_member() {
  NodePtr member = parse_member(parse_primary());
  if (is(TokenType::OpenParen)) return parse_call(std::move(member));
  return member;
}

NodePtr Parser::parse_call(NodePtr callee) {
  DepthGuard guard(*this);
  auto n = node(NodeType::Call);
  n->kids.push_back(std::move(callee));
  for (auto& arg : parse_args(ArgMode::Call)) n->kids.push_back(std::move(arg));
  NodePtr expression = parse_member(std::move(n));
  if (is(TokenType::OpenParen)) expression = parse_call(std::move(expression));
  return expression;
}

std::vector<NodePtr> Parser::parse_args(ArgMode mode) {
  expect(TokenType::OpenParen, "'(' for the argument list");
  std::vector<NodePtr> args;
  std::set<std::string> names;
  bool saw_keyword = false, saw_spread = false;
  while (!is(TokenType::CloseParen)) {
    if (at_end()) fail("unexpected end of template in argument list");
    const bool keyword_spread = is(TokenType::ExponentiationBinaryOperator);
    const bool positional_spread = is(TokenType::MultiplicativeBinaryOperator) && peek().value == "*";
    if (mode == ArgMode::Parameters && (keyword_spread || positional_spread))
      fail("argument unpacking is not allowed in parameter declarations");
    if (keyword_spread) {
      auto n = node(NodeType::KeywordSpread);
      ++current_;
      n->kids.push_back(parse_expression());
      args.push_back(std::move(n));
      if (is(TokenType::Comma)) ++current_;
      if (!is(TokenType::CloseParen)) fail("expected ')': '**' must be applied to the final argument");
      break;
    }
    NodePtr argument;
    if (positional_spread) {
      if (saw_spread) fail("only one '*' argument unpacking is allowed");
      saw_spread = true;
      argument = node(NodeType::Spread);
      ++current_;
      argument->kids.push_back(parse_expression());
    } else {
      argument = parse_expression();
      if (is(TokenType::Equals)) {
        ++current_;
        if (argument->type != NodeType::Identifier)
          fail(mode == ArgMode::Parameters ? "expected identifier for parameter declaration"
                                           : "expected identifier for keyword argument");
        auto kw = std::make_unique<Node>(NodeType::KeywordArgument, argument->line);
        kw->str = argument->str;
        kw->kids.push_back(parse_expression());
        argument = std::move(kw);
      }
      if (mode == ArgMode::Parameters) {
        if (argument->type != NodeType::Identifier && argument->type != NodeType::KeywordArgument)
          fail("expected identifier for parameter declaration");
        if (!names.insert(argument->str).second) fail("duplicate parameter name: " + argument->str);
      }
      if (argument->type == NodeType::KeywordArgument) {
        saw_keyword = true;
      } else if (saw_keyword) {
        fail(mode == ArgMode::Call ? "positional arguments must come before keyword arguments"
                                   : "non-default argument follows default argument");
      } else if (saw_spread) {
        fail("positional arguments must not follow '*' argument unpacking");
      }
    }
    args.push_back(std::move(argument));
    if (is(TokenType::Comma)) ++current_;
  }
  expect(TokenType::CloseParen, "')' closing the argument list");
  return args;
}

NodePtr Parser::parse_member_arguments() {
  // [expr] is a subscript; any ':' makes it a slice with up to three parts.
  const int start_line = line();
  std::vector<NodePtr> parts;
  bool slice = false;
  while (!is(TokenType::CloseSquareBracket)) {
    if (at_end()) fail("unexpected end of template, expected ']'");
    if (is(TokenType::Colon)) {
      parts.push_back(nullptr);
      ++current_;
      slice = true;
    } else {
      parts.push_back(parse_expression());
      if (is(TokenType::Colon)) {
        ++current_;
        slice = true;
      }
    }
  }
  if (parts.empty()) fail("expected at least one argument for member/slice expression");
  if (!slice) return std::move(parts[0]);
  if (parts.size() > 3) fail("expected 0-3 arguments for slice expression");
  auto n = std::make_unique<Node>(NodeType::Slice, start_line);
  parts.resize(3);
  n->kids = std::move(parts);
  return n;
}

NodePtr Parser::parse_member(NodePtr object) {
  while (is(TokenType::Dot) || is(TokenType::OpenSquareBracket)) {
    const bool computed = is(TokenType::OpenSquareBracket);
    auto n = node(NodeType::Member);
    ++current_;
    NodePtr property;
    if (computed) {
      DepthGuard guard(*this);
      property = parse_member_arguments();
      expect(TokenType::CloseSquareBracket, "']'");
    } else {
      property = parse_primary();
      if (property->type != NodeType::Identifier && property->type != NodeType::IntegerLiteral)
        fail("expected identifier or integer following dot operator");
    }
    n->flag = computed;
    n->kids.push_back(std::move(object));
    n->kids.push_back(std::move(property));
    object = std::move(n);
  }
  return object;
}

NodePtr Parser::parse_primary() {
  if (at_end()) fail("unexpected end of template in expression");
  const Token& token = tokens_[current_++];
  switch (token.type) {
    case TokenType::NumericLiteral: {
      const bool is_float = token.value.find('.') != std::string::npos;
      auto n = std::make_unique<Node>(is_float ? NodeType::FloatLiteral : NodeType::IntegerLiteral, token.line);
      n->number = std::strtod(token.value.c_str(), nullptr);  // overflow -> Infinity, as Number()
      return n;
    }
    case TokenType::StringLiteral: {
      // Adjacent string literals concatenate, as in Python.
      auto n = std::make_unique<Node>(NodeType::StringLiteral, token.line);
      n->str = token.value;
      while (is(TokenType::StringLiteral)) n->str += tokens_[current_++].value;
      return n;
    }
    case TokenType::Identifier: {
      auto n = std::make_unique<Node>(NodeType::Identifier, token.line);
      n->str = token.value;
      return n;
    }
    case TokenType::OpenParen: {
      DepthGuard guard(*this);
      NodePtr expression = parse_expression_sequence(false);
      expect(TokenType::CloseParen, "')'");
      return expression;
    }
    case TokenType::OpenSquareBracket: {
      DepthGuard guard(*this);
      auto n = std::make_unique<Node>(NodeType::ArrayLiteral, token.line);
      while (!is(TokenType::CloseSquareBracket)) {
        if (at_end()) fail("unexpected end of template, expected ']'");
        n->kids.push_back(parse_expression());
        if (is(TokenType::Comma)) ++current_;
      }
      ++current_;
      return n;
    }
    case TokenType::OpenCurlyBracket: {
      DepthGuard guard(*this);
      auto n = std::make_unique<Node>(NodeType::ObjectLiteral, token.line);
      while (!is(TokenType::CloseCurlyBracket)) {
        if (at_end()) fail("unexpected end of template, expected '}'");
        n->kids.push_back(parse_expression());
        expect(TokenType::Colon, "':' between key and value in object literal");
        n->kids.push_back(parse_expression());
        if (is(TokenType::Comma)) ++current_;
      }
      ++current_;
      return n;
    }
    default:
      --current_;
      fail(std::string("unexpected token ") + token_type_name(token.type) +
           (token.value.empty() ? "" : " '" + token.value + "'"));
  }
}

}  // namespace

Program parse(const std::vector<Token>& tokens) { return Parser(tokens).run(); }

}  // namespace rpu::jinja
