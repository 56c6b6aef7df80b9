#include "convert/classifier_file.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "core/error.h"

namespace rpu::convert {

namespace {

// The mean TF-IDF vector of `members`, its `top_weights` largest weights kept.
gateway::ClassifierCentroid part_centroid(const Tfidf& tfidf, const std::vector<size_t>& members, int cluster,
                                          size_t top_weights) {
  std::vector<double> mean(tfidf.terms.size(), 0.0);
  for (size_t i : members) {
    const SparseVector& v = tfidf.vectors[i];
    for (size_t j = 0; j < v.index.size(); ++j) mean[v.index[j]] += v.value[j];
  }
  std::vector<std::pair<double, uint32_t>> kept;  // (-weight, term): largest first, ties by term
  for (size_t t = 0; t < mean.size(); ++t) {
    if (mean[t] > 0) kept.emplace_back(-mean[t] / static_cast<double>(members.size()), static_cast<uint32_t>(t));
  }
  const size_t n = std::min(top_weights, kept.size());
  std::partial_sort(kept.begin(), kept.begin() + static_cast<ptrdiff_t>(n), kept.end());
  kept.resize(n);
  gateway::ClassifierCentroid c;
  c.cluster = cluster;
  for (const auto& [weight, term] : kept) c.weights.emplace_back(term, static_cast<float>(-weight));
  std::sort(c.weights.begin(), c.weights.end());  // by term index: a stable, readable file
  return c;
}

}  // namespace

gateway::CentroidClassifier make_task_classifier(const Clustering& clustering, const ClassifierOptions& options) {
  const Tfidf& tfidf = clustering.tfidf;
  std::vector<gateway::ClassifierCentroid> centroids;
  for (const ClusterSummary& cluster : clustering.clusters) {
    // One centroid per part: a merged cluster is matched against each of its prompts' calls.
    const std::vector<std::vector<size_t>> parts =
        cluster.parts.empty() ? std::vector<std::vector<size_t>>{cluster.members} : cluster.parts;
    for (const std::vector<size_t>& part : parts) {
      if (!part.empty()) centroids.push_back(part_centroid(tfidf, part, cluster.id, options.top_weights));
    }
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
