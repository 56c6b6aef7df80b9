#include "retrieval/extractive.h"

#include <unordered_set>

namespace rpu::retrieval {
namespace {

bool is_word_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

// The word with its first letter in the other case ("Large" <-> "large"); the same word when
// it does not start with an ASCII letter.
std::string other_case(std::string word) {
  char& c = word[0];
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  else if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return word;
}

constexpr const char* kSeparator = "[^a-zA-Z0-9\\u0080-\\U0010FFFF]";  // one ASCII non-alphanumeric

}  // namespace

std::vector<std::string> extractive_words(const std::vector<std::string_view>& texts) {
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  const auto add = [&](std::string word) {
    if (seen.insert(word).second) words.push_back(std::move(word));
  };
  for (std::string_view text : texts) {
    size_t i = 0;
    while (i < text.size()) {
      if (!is_word_byte(static_cast<unsigned char>(text[i]))) {
        ++i;
        continue;
      }
      const size_t start = i;
      while (i < text.size() && is_word_byte(static_cast<unsigned char>(text[i]))) ++i;
      std::string word(text.substr(start, i - start));
      std::string other = other_case(word);
      add(std::move(word));
      add(std::move(other));
    }
  }
  return words;
}

std::string extractive_grammar(const std::vector<std::string>& words) {
  // After a word comes a separator or the end, so a word is never the prefix of a made-up
  // longer one. A word's bytes (letters, digits, UTF-8) need no escapes in a GBNF literal.
  std::string g = std::string("sep ::= ") + kSeparator + "\n";
  if (words.empty()) return g + "root ::= sep*\n";
  g += "root ::= sep* (word (sep+ word)*)? sep*\nword ::= ";
  for (size_t i = 0; i < words.size(); ++i) g += (i ? " | \"" : "\"") + words[i] + "\"";
  return g + "\n";
}

}  // namespace rpu::retrieval
