// Tokenizer for the jinja subset, a faithful port of @huggingface/jinja's lexer (the renderer
// transformers.js uses) including its preprocessing: the single trailing newline is dropped,
// lstrip_blocks / trim_blocks are applied as regex rewrites of the source, and the
// transformers-specific {% generation %} / {% endgeneration %} tags are erased up front.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rpu::jinja {

enum class TokenType {
  Text,
  NumericLiteral,
  StringLiteral,
  Identifier,
  Equals,
  OpenParen,
  CloseParen,
  OpenStatement,
  CloseStatement,
  OpenExpression,
  CloseExpression,
  OpenSquareBracket,
  CloseSquareBracket,
  OpenCurlyBracket,
  CloseCurlyBracket,
  Comma,
  Dot,
  Colon,
  Pipe,
  AdditiveBinaryOperator,
  MultiplicativeBinaryOperator,
  ExponentiationBinaryOperator,
  ComparisonBinaryOperator,
  UnaryOperator,
  Comment,
};

const char* token_type_name(TokenType type);

struct Token {
  TokenType type;
  std::string value;
  int line;  // 1-based line in the original (unprocessed) template source
};

struct LexOptions {
  // transformers.js always renders chat templates with both enabled.
  bool lstrip_blocks = true;
  bool trim_blocks = true;
};

// Throws JinjaError (with the line) on malformed input.
std::vector<Token> tokenize(std::string_view source, const LexOptions& options = {});

}  // namespace rpu::jinja
