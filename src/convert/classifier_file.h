// The gateway's task classifier (gateway/task_classifier.h) made from S3's clustering, so the
// gateway can send a call to the specialist of its cluster: the TF-IDF vocabulary and idf of the
// clustered signatures, and per cluster the mean of its members' TF-IDF vectors, sparsified to
// its largest weights. Centroids are computed in TF-IDF space even when the clustering used
// embeddings (the gateway cannot embed a call on its request path); the labels are the same.
#pragma once

#include <string>

#include "convert/cluster.h"
#include "gateway/task_classifier.h"

namespace rpu::convert {

struct ClassifierOptions {
  size_t top_weights = 200;    // weights kept per centroid
  double min_similarity = 0.3;  // below this the gateway's classifier says "none of these tasks"
};

gateway::CentroidClassifier make_task_classifier(const Clustering& clustering, const ClassifierOptions& options = {});

// "clusters.json" -> "clusters.classifier.json" (beside it; ".json" added when absent).
std::string classifier_path_for(const std::string& clusters_path);

// Written to a temporary file and renamed into place (the gateway may be reading it).
void write_classifier_file(const std::string& path, const gateway::CentroidClassifier& classifier);

}  // namespace rpu::convert
