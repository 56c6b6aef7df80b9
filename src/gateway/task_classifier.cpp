#include "gateway/task_classifier.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/json_text.h"
#include "gateway/config.h"

namespace rpu::gateway {

CentroidClassifier::CentroidClassifier(std::vector<std::string> terms, std::vector<double> idf,
                                       std::vector<ClassifierCentroid> centroids, double min_similarity)
    : vocabulary_(std::move(terms), std::move(idf)), centroids_(std::move(centroids)), min_similarity_(min_similarity) {
  postings_.resize(vocabulary_.terms().size());
  for (size_t c = 0; c < centroids_.size(); ++c) {
    double squared = 0;
    for (const auto& [term, weight] : centroids_[c].weights) {
      if (term >= postings_.size()) {
        throw std::invalid_argument("term index " + std::to_string(term) + " out of range (" +
                                    std::to_string(postings_.size()) + " terms)");
      }
      postings_[term].emplace_back(static_cast<uint32_t>(c), weight);
      squared += static_cast<double>(weight) * weight;
    }
    centroid_norms_.push_back(std::sqrt(squared));
  }
}

std::optional<CentroidClassifier::Match> CentroidClassifier::nearest(std::string_view signature) const {
  const SparseVector v = vocabulary_.vector_of(signature);
  if (v.index.empty() || centroids_.empty()) return std::nullopt;
  std::vector<double> dots(centroids_.size(), 0.0);
  for (size_t i = 0; i < v.index.size(); ++i) {
    for (const auto& [c, weight] : postings_[v.index[i]]) dots[c] += static_cast<double>(v.value[i]) * weight;
  }
  Match best{centroids_[0].cluster, -1};
  for (size_t c = 0; c < centroids_.size(); ++c) {
    const double similarity = centroid_norms_[c] > 0 ? dots[c] / centroid_norms_[c] : 0;  // v is unit length
    if (similarity > best.similarity) best = {centroids_[c].cluster, similarity};
  }
  return best;
}

std::optional<int> CentroidClassifier::classify_signature(std::string_view signature) const {
  const auto match = nearest(signature);
  if (!match || match->similarity < min_similarity_) return std::nullopt;
  return match->cluster;
}

std::optional<int> CentroidClassifier::classify(const ChatRequest& request) const {
  return classify_signature(task_signature(request.messages, request.tools));
}

nlohmann::ordered_json CentroidClassifier::to_json() const {
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["terms"] = vocabulary_.terms();
  j["idf"] = vocabulary_.idf();
  j["centroids"] = nlohmann::ordered_json::array();
  for (const ClassifierCentroid& c : centroids_) {
    nlohmann::ordered_json weights = nlohmann::ordered_json::array();
    for (const auto& [term, weight] : c.weights) weights.push_back({term, weight});
    j["centroids"].push_back({{"cluster", c.cluster}, {"weights", std::move(weights)}});
  }
  j["min_similarity"] = min_similarity_;
  return j;
}

namespace {

template <typename T>
T field(const nlohmann::json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) throw ConfigError(where + ": missing '" + key + "'");
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(where + ": '" + key + "' has the wrong type");
  }
}

}  // namespace

CentroidClassifier CentroidClassifier::from_json(const nlohmann::json& j, const std::string& source) {
  if (field<int>(j, "version", source) != 1) throw ConfigError(source + ": classifier file version is not 1");
  auto terms = field<std::vector<std::string>>(j, "terms", source);
  auto idf = field<std::vector<double>>(j, "idf", source);
  if (terms.size() != idf.size()) throw ConfigError(source + ": 'terms' and 'idf' differ in length");
  const auto centroids_json = field<nlohmann::json>(j, "centroids", source);
  if (!centroids_json.is_array()) throw ConfigError(source + ": 'centroids' must be an array");
  std::vector<ClassifierCentroid> centroids;
  for (size_t i = 0; i < centroids_json.size(); ++i) {
    const std::string where = source + ": centroids[" + std::to_string(i) + "]";
    ClassifierCentroid c;
    c.cluster = field<int>(centroids_json[i], "cluster", where);
    c.weights = field<std::vector<std::pair<uint32_t, float>>>(centroids_json[i], "weights", where);
    centroids.push_back(std::move(c));
  }
  const double min_similarity = j.contains("min_similarity") ? field<double>(j, "min_similarity", source) : 0.3;
  try {
    return CentroidClassifier(std::move(terms), std::move(idf), std::move(centroids), min_similarity);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(source + ": " + e.what());
  }
}

CentroidClassifier CentroidClassifier::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the classifier file");
  std::stringstream text;
  text << in.rdbuf();
  // 20,000 terms and a few hundred weights per centroid are a few MB; far more is not ours.
  constexpr size_t kMaxClassifierBytes = 64u << 20;
  if (text.str().size() > kMaxClassifierBytes) throw ConfigError(path + ": larger than 64 MiB; not a classifier file");
  try {
    return from_json(parse_json_text<nlohmann::json>(text.str(), path), path);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw ConfigError(path + ": not a classifier file: " + e.what());
  }
}

}  // namespace rpu::gateway
