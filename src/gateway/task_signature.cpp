#include "gateway/task_signature.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "gateway/router.h"

namespace rpu::gateway {
namespace {

bool is_word_byte(unsigned char c) { return std::isalnum(c) != 0 || c == '_' || c >= 0x80; }

// "<EMAIL_1>" -> "<EMAIL>", "<UNSCRUBBED_REMOVED>" stays; length 0 when `text` at `pos` is no
// placeholder (an upper-case name in angle brackets, optionally ending in _N).
size_t placeholder_at(std::string_view text, size_t pos, std::string& out) {
  size_t end = pos + 1;
  while (end < text.size() && (std::isupper(static_cast<unsigned char>(text[end])) || text[end] == '_' ||
                               std::isdigit(static_cast<unsigned char>(text[end])))) {
    ++end;
  }
  if (end >= text.size() || text[end] != '>' || end == pos + 1 ||
      !std::isupper(static_cast<unsigned char>(text[pos + 1]))) {
    return 0;
  }
  std::string_view name = text.substr(pos + 1, end - pos - 1);
  const size_t underscore = name.rfind('_');
  if (underscore != std::string_view::npos && underscore + 1 < name.size() &&
      std::all_of(name.begin() + static_cast<ptrdiff_t>(underscore) + 1, name.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    name = name.substr(0, underscore);
  }
  out.assign(1, '<');  // appended in place (gcc 12 -O3 reports a false -Wstringop-overflow on "literal" + std::string&&)
  out += name;
  out += '>';
  return end + 1 - pos;
}

}  // namespace

std::string task_signature(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools) {
  std::string names;
  if (tools.is_array()) {
    for (const auto& t : tools) {
      if (t.is_object() && t.contains("function") && t["function"].is_object() && t["function"].contains("name") &&
          t["function"]["name"].is_string()) {
        if (!names.empty()) names += ' ';
        names += t["function"]["name"].get_ref<const std::string&>();
      }
    }
  }
  std::string signature = "system: ";  // appended in place (gcc 12 -O3 reports a false -Wstringop-overflow on "literal" + std::string&&)
  signature += system_text(messages);
  signature += " | tools: ";
  signature += names;
  signature += " | user: ";
  signature += last_user_text(messages);
  return signature;
}

std::vector<std::string> signature_tokens(std::string_view text) {
  std::vector<std::string> tokens;
  std::string placeholder;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '<') {
      if (const size_t length = placeholder_at(text, i, placeholder); length > 0) {
        tokens.push_back(placeholder);
        i += length;
        continue;
      }
    }
    if (!is_word_byte(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::string word;
    bool digit = false;
    for (; i < text.size() && is_word_byte(static_cast<unsigned char>(text[i])); ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      digit = digit || std::isdigit(c);
      word += c < 0x80 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c);
    }
    // A lone letter ("today's" -> "s", "a/b/yyyy") says nothing about the task.
    if (digit || word.size() > 1) tokens.push_back(digit ? "<NUM>" : word);
  }
  return tokens;
}

double inverse_document_frequency(double texts, double document_frequency) {
  return std::log((1 + texts) / (1 + document_frequency));
}

TfidfVocabulary::TfidfVocabulary(std::vector<std::string> terms, std::vector<double> idf)
    : terms_(std::move(terms)), idf_(std::move(idf)) {
  if (terms_.size() != idf_.size()) throw std::invalid_argument("TF-IDF vocabulary: terms and idf differ in length");
  index_.reserve(terms_.size());
  for (size_t t = 0; t < terms_.size(); ++t) index_.emplace(terms_[t], static_cast<uint32_t>(t));
}

SparseVector TfidfVocabulary::vector_of_counts(const std::map<std::string, int>& counts) const {
  std::vector<std::pair<uint32_t, float>> entries;
  for (const auto& [term, c] : counts) {
    const auto it = index_.find(term);
    if (it == index_.end() || c <= 0) continue;
    const double w = (1 + std::log(c)) * idf_[it->second];
    if (w <= 0) continue;
    entries.emplace_back(it->second, static_cast<float>(w));
  }
  // Terms in any order (the vocabulary need not be sorted): indexes ascending for the dot products.
  std::sort(entries.begin(), entries.end());
  SparseVector v;
  float squared = 0;
  for (const auto& [i, w] : entries) {
    v.index.push_back(i);
    v.value.push_back(w);
    squared += w * w;
  }
  const float norm = std::sqrt(squared);
  for (float& x : v.value) x /= norm > 0 ? norm : 1.0f;
  return v;
}

SparseVector TfidfVocabulary::vector_of(std::string_view text) const {
  std::map<std::string, int> counts;
  for (auto& t : signature_tokens(text)) ++counts[std::move(t)];
  return vector_of_counts(counts);
}

}  // namespace rpu::gateway
