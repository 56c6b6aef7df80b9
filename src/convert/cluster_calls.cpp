#include "convert/cluster_calls.h"

#include <algorithm>
#include <fstream>

#include "convert/clusters_file.h"
#include "core/error.h"
#include "core/json_text.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

std::vector<LoggedCall> load_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open '{}'", path);
  std::vector<LoggedCall> calls;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    const json j = parse_json_text<json>(line, where);
    if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array()) fail("{}: expected {{\"messages\": [...]}}", where);
    LoggedCall c;
    c.id = j.contains("id") && j["id"].is_number_integer() ? j["id"].get<int64_t>() : line_no;
    c.messages = j["messages"];
    c.tools = j.contains("tools") ? j["tools"] : json();
    if (j.contains("answer")) {
      c.answer = j["answer"];
    } else {
      if (c.messages.empty() || c.messages.back().value("role", "") != "assistant") {
        fail("{}: no \"answer\" and the last message is not the assistant's", where);
      }
      c.answer = c.messages.back();
      c.messages.erase(c.messages.size() - 1);
    }
    c.route = j.value("route", "");
    c.from_teacher = true;
    calls.push_back(std::move(c));
  }
  return calls;
}

}  // namespace

std::set<int64_t> cluster_call_ids(const std::string& path, const std::string& wanted) {
  const ClustersFile file = read_clusters_file(path);
  for (const ClusterRecord& c : file.clusters) {
    if (std::to_string(c.id) == wanted) return {c.call_ids.begin(), c.call_ids.end()};
  }
  fail("{}: no cluster '{}' (the file has {} clusters)", path, wanted, file.clusters.size());
}

std::vector<LoggedCall> load_calls(const std::string& log, const std::vector<std::string>& teachers) {
  if (log.ends_with(".jsonl")) return load_jsonl(log);
  LoadOptions options;
  options.teachers = teachers;
  std::vector<LoggedCall> calls = load_logged_calls(log, options);
  if (teachers.empty()) {
    for (LoggedCall& c : calls) c.from_teacher = true;
  }
  return calls;
}

std::vector<const LoggedCall*> select_calls(const std::vector<LoggedCall>& calls, const CallSelection& s) {
  std::set<int64_t> ids = s.ids;
  if (!s.cluster_file.empty()) {
    const auto more = cluster_call_ids(s.cluster_file, s.cluster);
    ids.insert(more.begin(), more.end());
  }
  const bool all = ids.empty() && s.routes.empty() && s.cluster_file.empty();
  std::vector<const LoggedCall*> out;
  for (const LoggedCall& c : calls) {
    const bool by_route = std::find(s.routes.begin(), s.routes.end(), c.route) != s.routes.end();
    if (all || ids.contains(c.id) || by_route) out.push_back(&c);
  }
  return out;
}

}  // namespace rpu::convert
