// clusters.json: what S3 (`rpu convert cluster`) found, read by the later steps (select, train,
// deploy, report). Written whole to a temporary file and renamed into place, so a reader never
// sees half a file.
//
// {"version": 1, "log": "calls.db", "teachers": ["teacher"], "calls": 600,
//  "vectors": "tfidf" | "embedding:MODEL", "method": "k-means++ ...", "k": 7, "silhouette": 0.41,
//  "silhouette_by_k": [{"k": 2, "silhouette": 0.12}, ...], "note": "",
//  "clusters": [{"id": 0, "size": 146, "volume": 0.243, "top_terms": ["..."], "examples": ["sig", ...],
//                "call_ids": [3, 9, ...], "teacher_calls": 140, "mean_latency_ms": 612.5,
//                "tokens": {"prompt": 51234, "completion": 9120}}, ...]}
//
// `volume` is the cluster's share of all clustered calls; `mean_latency_ms` is over the calls a
// teacher answered (the upstream latency a specialist would save), null when there are none;
// `tokens` are the totals of all the cluster's calls (for cost). Clusters are by id, largest
// first; `examples` are the three signatures nearest the centroid.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/cluster.h"
#include "convert/logged_call.h"

namespace rpu::convert {

struct ClusterRecord {
  int id = 0;
  int64_t size = 0;
  double volume = 0;
  std::vector<std::string> top_terms;
  std::vector<std::string> examples;
  std::vector<int64_t> call_ids;  // log row ids, ascending
  int64_t teacher_calls = 0;
  double mean_latency_ms = -1;  // -1: no teacher-answered call
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

struct ClustersFile {
  int version = 1;
  std::string log;
  std::vector<std::string> teachers;
  int64_t calls = 0;
  std::string vectors, method, note;
  int k = 0;
  double silhouette = 0;
  std::vector<KScore> tried;
  std::vector<ClusterRecord> clusters;
};

// The file's content for `calls` clustered as `clustering` (labels index `calls`).
ClustersFile make_clusters_file(const std::vector<LoggedCall>& calls, const Clustering& clustering,
                                const std::string& log, const std::vector<std::string>& teachers);

nlohmann::ordered_json clusters_to_json(const ClustersFile& file);
// Throws rpu::Error naming `source` and the field when the JSON is not a clusters file.
ClustersFile clusters_from_json(const nlohmann::ordered_json& json, const std::string& source);

void write_clusters_file(const std::string& path, const ClustersFile& file);
ClustersFile read_clusters_file(const std::string& path);

// Call id -> cluster id, for the steps that walk the log again.
std::map<int64_t, int> cluster_of_call(const ClustersFile& file);

}  // namespace rpu::convert
