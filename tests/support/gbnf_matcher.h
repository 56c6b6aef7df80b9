// A matcher for the GBNF subset the tool-call grammars and the tests' fake schema converter emit:
// one rule per line (`name ::= expr`), "literals" with \n \t \r \" \\ \xHH escapes, [classes]
// with ranges and ^, rule references, ( ), |, ?, *, +. It decides whether a whole string is in the
// language of `root`; tests use it as an independent reader of the grammar text.
#pragma once

#include <cctype>
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rpu::test {

class GbnfMatcher {
 public:
  explicit GbnfMatcher(const std::string& grammar) {
    std::size_t line_start = 0;
    while (line_start < grammar.size()) {
      std::size_t line_end = grammar.find('\n', line_start);
      if (line_end == std::string::npos) line_end = grammar.size();
      const std::string line = grammar.substr(line_start, line_end - line_start);
      line_start = line_end + 1;
      if (line.empty()) continue;
      const std::size_t arrow = line.find(" ::= ");
      if (arrow == std::string::npos) throw std::runtime_error("not a rule: " + line);
      text_ = line.substr(arrow + 5);
      pos_ = 0;
      auto node = parse_alternatives();
      skip_spaces();
      if (pos_ != text_.size()) throw std::runtime_error("unparsed rest in: " + line);
      if (!rules_.emplace(line.substr(0, arrow), std::move(node)).second)
        throw std::runtime_error("rule defined twice: " + line.substr(0, arrow));
    }
  }

  bool matches(const std::string& input) const {
    input_ = &input;
    return match(*rules_.at("root"), 0).count(input.size()) > 0;
  }

  // Every rule reference resolves (a dangling one would make the real grammar parser fail).
  void check_references() const {
    for (const auto& [name, node] : rules_) check_references(*node, name);
  }

 private:
  struct Node {
    enum Kind { kLiteral, kClass, kRef, kSeq, kAlt, kOpt, kStar, kPlus } kind;
    std::string text;               // literal bytes or rule name
    std::vector<std::pair<unsigned char, unsigned char>> ranges;  // class
    bool negated = false;
    std::vector<std::unique_ptr<Node>> children;
  };
  using NodePtr = std::unique_ptr<Node>;

  void skip_spaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  char escaped() {
    const char c = text_.at(pos_++);
    if (c != '\\') return c;
    const char e = text_.at(pos_++);
    switch (e) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case 'x': {
        const char value = static_cast<char>(std::stoi(text_.substr(pos_, 2), nullptr, 16));
        pos_ += 2;
        return value;
      }
      default: return e;  // \" \\ \] \[
    }
  }
  NodePtr parse_alternatives() {
    auto alt = std::make_unique<Node>(Node{Node::kAlt, {}, {}, false, {}});
    alt->children.push_back(parse_sequence());
    skip_spaces();
    while (pos_ < text_.size() && text_[pos_] == '|') {
      ++pos_;
      alt->children.push_back(parse_sequence());
      skip_spaces();
    }
    return alt;
  }
  NodePtr parse_sequence() {
    auto seq = std::make_unique<Node>(Node{Node::kSeq, {}, {}, false, {}});
    while (true) {
      skip_spaces();
      if (pos_ >= text_.size() || text_[pos_] == '|' || text_[pos_] == ')') return seq;
      NodePtr item = parse_primary();
      if (pos_ < text_.size() && (text_[pos_] == '?' || text_[pos_] == '*' || text_[pos_] == '+')) {
        const char op = text_[pos_++];
        auto wrap = std::make_unique<Node>(
            Node{op == '?' ? Node::kOpt : op == '*' ? Node::kStar : Node::kPlus, {}, {}, false, {}});
        wrap->children.push_back(std::move(item));
        item = std::move(wrap);
      }
      seq->children.push_back(std::move(item));
    }
  }
  NodePtr parse_primary() {
    auto node = std::make_unique<Node>(Node{Node::kLiteral, {}, {}, false, {}});
    const char c = text_.at(pos_);
    if (c == '"') {
      ++pos_;
      while (text_.at(pos_) != '"') node->text += escaped();
      ++pos_;
    } else if (c == '[') {
      node->kind = Node::kClass;
      ++pos_;
      if (text_.at(pos_) == '^') node->negated = true, ++pos_;
      while (text_.at(pos_) != ']') {
        const auto low = static_cast<unsigned char>(escaped());
        auto high = low;
        if (text_.at(pos_) == '-' && text_.at(pos_ + 1) != ']') {
          ++pos_;
          high = static_cast<unsigned char>(escaped());
        }
        node->ranges.emplace_back(low, high);
      }
      ++pos_;
    } else if (c == '(') {
      ++pos_;
      node = parse_alternatives();
      if (text_.at(pos_) != ')') throw std::runtime_error("missing ) in " + text_);
      ++pos_;
    } else {
      node->kind = Node::kRef;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '-'))
        node->text += text_[pos_++];
      if (node->text.empty()) throw std::runtime_error("unexpected character in " + text_);
    }
    return node;
  }

  void check_references(const Node& node, const std::string& rule) const {
    if (node.kind == Node::kRef && !rules_.count(node.text))
      throw std::runtime_error("rule " + rule + " references undefined " + node.text);
    for (const auto& child : node.children) check_references(*child, rule);
  }

  // All positions where `node` can end when started at `at` (handles ambiguity without backtracking).
  std::set<std::size_t> match(const Node& node, std::size_t at) const {
    const std::string& in = *input_;
    std::set<std::size_t> out;
    switch (node.kind) {
      case Node::kLiteral:
        if (in.compare(at, node.text.size(), node.text) == 0) out.insert(at + node.text.size());
        break;
      case Node::kClass:
        if (at < in.size()) {
          const auto c = static_cast<unsigned char>(in[at]);
          bool inside = false;
          for (const auto& [low, high] : node.ranges) inside = inside || (c >= low && c <= high);
          if (inside != node.negated) out.insert(at + 1);
        }
        break;
      case Node::kRef: return match(*rules_.at(node.text), at);
      case Node::kSeq: {
        out.insert(at);
        for (const auto& child : node.children) {
          std::set<std::size_t> next;
          for (std::size_t p : out) next.merge(match(*child, p));
          out = std::move(next);
        }
        break;
      }
      case Node::kAlt:
        for (const auto& child : node.children) out.merge(match(*child, at));
        break;
      case Node::kOpt:
        out = match(*node.children[0], at);
        out.insert(at);
        break;
      case Node::kStar:
      case Node::kPlus: {
        std::set<std::size_t> frontier = match(*node.children[0], at);
        if (node.kind == Node::kStar) out.insert(at);
        while (!frontier.empty()) {
          std::set<std::size_t> next;
          for (std::size_t p : frontier) {
            if (out.insert(p).second) next.merge(match(*node.children[0], p));
          }
          frontier = std::move(next);
        }
        break;
      }
    }
    return out;
  }

  std::map<std::string, NodePtr> rules_;
  std::string text_;
  std::size_t pos_ = 0;
  mutable const std::string* input_ = nullptr;
};

}  // namespace rpu::test
