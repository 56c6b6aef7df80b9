// What a chat call is about, as the conversion loop's clustering (convert/cluster.h) and the
// gateway's task classifier (task_classifier.h) both see it. One implementation for both, so a
// call the loop clustered into task N is vectorised the same way when the gateway classifies it:
//   - signature: "system: <system text> | tools: <tool names> | user: <last user message>";
//   - tokens: lowercase words (letters, digits, '_' so tool names stay whole; lone letters
//     dropped); a scrubber placeholder (<EMAIL_1>) becomes its type (<EMAIL>), a token with a
//     digit <NUM>, so calls of one type that differ in personal data or numbers look alike;
//   - weight (1 + ln tf) * ln((1 + n) / (1 + df)), the vector L2-normalised.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rpu::gateway {

// Sparse (indexes ascending) or dense stored sparsely (every index).
struct SparseVector {
  std::vector<uint32_t> index;
  std::vector<float> value;
};

// The signature of a request's messages and tools (router.h's system_text and last_user_text).
std::string task_signature(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools);

std::vector<std::string> signature_tokens(std::string_view text);

// ln((1 + n) / (1 + df)): a term found in every one of n texts weighs nothing.
double inverse_document_frequency(double texts, double document_frequency);

// A vocabulary with its idf: turns texts into unit TF-IDF vectors.
class TfidfVocabulary {
 public:
  TfidfVocabulary() = default;
  // `terms` distinct; idf[i] belongs to terms[i].
  TfidfVocabulary(std::vector<std::string> terms, std::vector<double> idf);
  // Term counts -> (1 + ln tf) * idf per known term with a positive weight, L2-normalised
  // (all zero when no term is known), indexes ascending.
  SparseVector vector_of_counts(const std::map<std::string, int>& counts) const;
  SparseVector vector_of(std::string_view text) const;
  const std::vector<std::string>& terms() const { return terms_; }
  const std::vector<double>& idf() const { return idf_; }

 private:
  std::vector<std::string> terms_;
  std::vector<double> idf_;
  std::unordered_map<std::string, uint32_t> index_;
};

}  // namespace rpu::gateway
