#include "convert/clusters_file.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json_text.h"

namespace rpu::convert {
namespace {

using Json = nlohmann::ordered_json;

ClusterRecord make_record(const std::vector<LoggedCall>& calls, const std::vector<std::string>& signatures,
                          const ClusterSummary& summary) {
  ClusterRecord r;
  r.id = summary.id;
  r.size = static_cast<int64_t>(summary.members.size());
  r.volume = calls.empty() ? 0 : static_cast<double>(r.size) / static_cast<double>(calls.size());
  r.top_terms = summary.top_terms;
  for (size_t i : summary.examples) r.examples.push_back(signatures[i]);
  double latency = 0;
  for (size_t i : summary.members) {
    const LoggedCall& c = calls[i];
    r.call_ids.push_back(c.id);
    r.prompt_tokens += c.prompt_tokens;
    r.completion_tokens += c.completion_tokens;
    if (c.from_teacher) ++r.teacher_calls, latency += c.latency_ms;
  }
  std::sort(r.call_ids.begin(), r.call_ids.end());
  if (r.teacher_calls > 0) r.mean_latency_ms = latency / static_cast<double>(r.teacher_calls);
  return r;
}

// Field `key` of `object`, or an rpu::Error naming where it is missing or of the wrong type.
template <typename T>
T field(const Json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) fail("{}: missing '{}'", where, key);
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: '{}' has the wrong type", where, key);
  }
}

ClusterRecord record_from_json(const Json& j, const std::string& where) {
  ClusterRecord r;
  r.id = field<int>(j, "id", where);
  r.size = field<int64_t>(j, "size", where);
  r.volume = field<double>(j, "volume", where);
  r.top_terms = field<std::vector<std::string>>(j, "top_terms", where);
  r.examples = field<std::vector<std::string>>(j, "examples", where);
  r.call_ids = field<std::vector<int64_t>>(j, "call_ids", where);
  r.teacher_calls = field<int64_t>(j, "teacher_calls", where);
  r.mean_latency_ms = j.contains("mean_latency_ms") && j["mean_latency_ms"].is_number()
                          ? j["mean_latency_ms"].get<double>()
                          : -1;
  const Json tokens = j.value("tokens", Json::object());
  r.prompt_tokens = field<int64_t>(tokens, "prompt", where + ".tokens");
  r.completion_tokens = field<int64_t>(tokens, "completion", where + ".tokens");
  return r;
}

}  // namespace

ClustersFile make_clusters_file(const std::vector<LoggedCall>& calls, const Clustering& clustering,
                                const std::string& log, const std::vector<std::string>& teachers) {
  ClustersFile f;
  f.log = log;
  f.teachers = teachers;
  f.calls = static_cast<int64_t>(calls.size());
  f.vectors = clustering.vectors;
  f.method = clustering.method;
  f.note = clustering.note;
  f.k = clustering.k;
  f.silhouette = clustering.silhouette;
  f.tried = clustering.tried;
  std::vector<std::string> signatures;
  for (const auto& c : calls) signatures.push_back(task_signature(c));
  for (const auto& s : clustering.clusters) f.clusters.push_back(make_record(calls, signatures, s));
  return f;
}

Json clusters_to_json(const ClustersFile& f) {
  Json j;
  j["version"] = f.version;
  j["log"] = f.log;
  j["teachers"] = f.teachers;
  j["calls"] = f.calls;
  j["vectors"] = f.vectors;
  j["method"] = f.method;
  j["k"] = f.k;
  j["silhouette"] = f.silhouette;
  j["silhouette_by_k"] = Json::array();
  for (const auto& t : f.tried) j["silhouette_by_k"].push_back({{"k", t.k}, {"silhouette", t.silhouette}});
  j["note"] = f.note;
  j["clusters"] = Json::array();
  for (const auto& r : f.clusters) {
    j["clusters"].push_back({{"id", r.id},
                             {"size", r.size},
                             {"volume", r.volume},
                             {"top_terms", r.top_terms},
                             {"examples", r.examples},
                             {"call_ids", r.call_ids},
                             {"teacher_calls", r.teacher_calls},
                             {"mean_latency_ms", r.mean_latency_ms >= 0 ? Json(r.mean_latency_ms) : Json(nullptr)},
                             {"tokens", {{"prompt", r.prompt_tokens}, {"completion", r.completion_tokens}}}});
  }
  return j;
}

ClustersFile clusters_from_json(const Json& j, const std::string& source) {
  ClustersFile f;
  f.version = field<int>(j, "version", source);
  if (f.version != 1) fail("{}: clusters file version {} (this rpu reads 1)", source, f.version);
  f.log = field<std::string>(j, "log", source);
  f.teachers = field<std::vector<std::string>>(j, "teachers", source);
  f.calls = field<int64_t>(j, "calls", source);
  f.vectors = field<std::string>(j, "vectors", source);
  f.method = field<std::string>(j, "method", source);
  f.k = field<int>(j, "k", source);
  f.silhouette = field<double>(j, "silhouette", source);
  f.note = j.value("note", "");
  for (const auto& t : j.value("silhouette_by_k", Json::array())) {
    f.tried.push_back({field<int>(t, "k", source + ".silhouette_by_k"),
                       field<double>(t, "silhouette", source + ".silhouette_by_k")});
  }
  const Json clusters = field<Json>(j, "clusters", source);
  if (!clusters.is_array()) fail("{}: 'clusters' must be an array", source);
  for (size_t i = 0; i < clusters.size(); ++i) {
    f.clusters.push_back(record_from_json(clusters[i], source + ".clusters[" + std::to_string(i) + "]"));
  }
  return f;
}

void write_clusters_file(const std::string& path, const ClustersFile& file) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write '{}'", temp);
    out << clusters_to_json(file).dump(2) << "\n";
    if (!out.flush()) fail("writing '{}' failed", temp);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) fail("cannot rename '{}' to '{}'", temp, path);
}

ClustersFile read_clusters_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read '{}'", path);
  std::stringstream text;
  text << in.rdbuf();
  return clusters_from_json(parse_json_text<Json>(text.str(), path), path);
}

std::map<int64_t, int> cluster_of_call(const ClustersFile& file) {
  std::map<int64_t, int> out;
  for (const auto& c : file.clusters) {
    for (int64_t id : c.call_ids) out[id] = c.id;
  }
  return out;
}

}  // namespace rpu::convert
