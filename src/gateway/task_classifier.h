// The conversion loop's task classifier (issue 13, S6): which learnt task (cluster of
// `rpu convert cluster`) a call belongs to, so the gateway sends it to that task's specialist.
// Nearest centroid by cosine similarity over the TF-IDF of the call's task signature,
// tokenised and weighted by task_signature.h exactly as the clustering did.
//
// The classifier file ({cluster file}.classifier.json, written by `rpu convert cluster`):
//   {"version": 1, "terms": ["term", ...], "idf": [1.2, ...],
//    "centroids": [{"cluster": 3, "weights": [[term_index, weight], ...]}, ...],
//    "min_similarity": 0.3}
// A centroid's weights are the cluster mean's largest ones (sparsified); the similarity divides
// by the norm of what was kept, so a sparsified centroid is still compared as a direction.
// Immutable once built: classify() is thread-safe. Its cost is one pass over the call's
// tokens plus, per known term, the centroids that weigh it (microseconds for typical calls).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/task_signature.h"
#include "pipeline/call.h"

namespace rpu::gateway {

struct ClassifierCentroid {
  int cluster = 0;
  std::vector<std::pair<uint32_t, float>> weights;  // (term index, weight), any order
};

class CentroidClassifier {
 public:
  struct Match {
    int cluster = 0;
    double similarity = 0;  // cosine, in [0, 1] for TF-IDF vectors
  };

  // Throws std::invalid_argument on a term index out of range. A cluster may have several
  // centroids (the parts of a merged cluster, convert/cluster.h): the nearest one names it.
  CentroidClassifier(std::vector<std::string> terms, std::vector<double> idf, std::vector<ClassifierCentroid> centroids,
                     double min_similarity);

  // Throws ConfigError naming `source` and the field.
  static CentroidClassifier from_json(const nlohmann::json& json, const std::string& source);
  static CentroidClassifier load(const std::string& path);
  nlohmann::ordered_json to_json() const;

  // The most similar centroid, whatever the similarity (nullopt: no term of the text is known).
  std::optional<Match> nearest(std::string_view signature) const;
  // The cluster of a call when its best similarity reaches min_similarity.
  std::optional<int> classify(const ChatRequest& request) const;
  std::optional<int> classify_signature(std::string_view signature) const;

  double min_similarity() const { return min_similarity_; }
  void set_min_similarity(double value) { min_similarity_ = value; }
  const TfidfVocabulary& vocabulary() const { return vocabulary_; }
  const std::vector<ClassifierCentroid>& centroids() const { return centroids_; }

 private:
  TfidfVocabulary vocabulary_;
  std::vector<ClassifierCentroid> centroids_;
  std::vector<double> centroid_norms_;
  // Per term: (centroid position, weight) of every centroid that keeps it.
  std::vector<std::vector<std::pair<uint32_t, float>>> postings_;
  double min_similarity_ = 0.3;
};

}  // namespace rpu::gateway
