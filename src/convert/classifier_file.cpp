#include "convert/classifier_file.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "core/error.h"

namespace rpu::convert {

gateway::CentroidClassifier make_task_classifier(const Clustering& clustering, const ClassifierOptions& options) {
  const Tfidf& tfidf = clustering.tfidf;
  std::vector<gateway::ClassifierCentroid> centroids;
  for (const ClusterSummary& cluster : clustering.clusters) {
    if (cluster.members.empty()) continue;
    std::vector<double> mean(tfidf.terms.size(), 0.0);
    for (size_t i : cluster.members) {
      const SparseVector& v = tfidf.vectors[i];
      for (size_t j = 0; j < v.index.size(); ++j) mean[v.index[j]] += v.value[j];
    }
    std::vector<std::pair<double, uint32_t>> kept;  // (-weight, term): largest first, ties by term
    for (size_t t = 0; t < mean.size(); ++t) {
      if (mean[t] > 0) kept.emplace_back(-mean[t] / static_cast<double>(cluster.members.size()), static_cast<uint32_t>(t));
    }
    const size_t n = std::min(options.top_weights, kept.size());
    std::partial_sort(kept.begin(), kept.begin() + static_cast<ptrdiff_t>(n), kept.end());
    kept.resize(n);
    gateway::ClassifierCentroid c;
    c.cluster = cluster.id;
    for (const auto& [weight, term] : kept) c.weights.emplace_back(term, static_cast<float>(-weight));
    std::sort(c.weights.begin(), c.weights.end());  // by term index: a stable, readable file
    centroids.push_back(std::move(c));
  }
  return gateway::CentroidClassifier(tfidf.terms, tfidf.idf, std::move(centroids), options.min_similarity);
}

std::string classifier_path_for(const std::string& clusters_path) {
  const std::string suffix = ".json";
  const bool json = clusters_path.size() >= suffix.size() &&
                    clusters_path.compare(clusters_path.size() - suffix.size(), suffix.size(), suffix) == 0;
  return (json ? clusters_path.substr(0, clusters_path.size() - suffix.size()) : clusters_path) + ".classifier.json";
}

void write_classifier_file(const std::string& path, const gateway::CentroidClassifier& classifier) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write '{}'", temp);
    out << classifier.to_json().dump() << "\n";
    if (!out.flush()) fail("writing '{}' failed", temp);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) fail("cannot rename '{}' to '{}'", temp, path);
}

}  // namespace rpu::convert
