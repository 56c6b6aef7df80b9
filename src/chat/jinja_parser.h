// AST and parser for the jinja subset: a port of @huggingface/jinja's recursive-descent parser,
// so precedence, accepted syntax and rejected syntax match the renderer transformers.js uses.
// Statements: if/elif/else, for (tuple targets, `if` filter, else), set (incl. namespace attribute
// and block form), macro, call, filter, break, continue. Anything else ({% raw %}, {% include %},
// {% with %}, ...) is a parse error naming the statement and its line, as in the reference.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/jinja_lexer.h"

namespace rpu::jinja {

enum class NodeType {
  Program,
  Comment,
  If,              // kids: test; body; alt
  For,             // kids: target (Identifier|TupleLiteral), iterable (maybe Select); body; alt (else)
  Break,
  Continue,
  Set,             // kids: assignee, value (null for the block form); body
  Macro,           // str: name; kids: parameters (Identifier|KeywordArgument); body
  CallStatement,   // kids: Call expression, then caller parameters; body
  FilterStatement, // kids: filter (Identifier|Call); body
  IntegerLiteral,  // number
  FloatLiteral,    // number
  StringLiteral,   // str (also template text)
  Identifier,      // str
  ArrayLiteral,    // kids
  TupleLiteral,    // kids
  ObjectLiteral,   // kids: key0, value0, key1, value1, ...
  Member,          // kids: object, property; flag: computed ([...] rather than .name)
  Call,            // kids: callee, arguments...
  Binary,          // op; str: operator text; kids: left, right
  Unary,           // str: "not", "-" or "+"; kids: operand
  Filter,          // kids: operand, filter (Identifier|Call|other: rejected at run time)
  Test,            // str: test name; flag: negated; kids: operand
  Select,          // kids: value, condition (`a if c` without else)
  Ternary,         // kids: condition, if-true, if-false
  Slice,           // kids: start, stop, step (each may be null)
  KeywordArgument, // str: name; kids: value
  Spread,          // kids: value (*x)
  KeywordSpread,   // kids: value (**x)
};

enum class BinaryOp { And, Or, Eq, Ne, Lt, Gt, Le, Ge, In, NotIn, Add, Sub, Concat, Mul, Div, FloorDiv, Mod, Pow };

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
  NodeType type;
  int line = 0;
  std::string str;
  double number = 0;
  bool flag = false;
  BinaryOp op = BinaryOp::And;
  std::vector<NodePtr> kids;
  std::vector<NodePtr> body;
  std::vector<NodePtr> alt;

  Node(NodeType t, int l) : type(t), line(l) {}
  const Node* kid(std::size_t i) const { return i < kids.size() ? kids[i].get() : nullptr; }
};

struct Program {
  std::vector<NodePtr> body;
};

// Throws JinjaError (with the line) on any syntax the reference parser rejects.
Program parse(const std::vector<Token>& tokens);

}  // namespace rpu::jinja
