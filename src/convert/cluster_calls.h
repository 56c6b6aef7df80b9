// Which logged calls a select / train step works on: a LOG plus one of
//   - a clusters file (clusters_file.h, from `rpu convert cluster`) and a cluster id;
//   - explicit call ids (the log's row ids);
//   - route names (calls the gateway routed there).
// LOG is a usage log (SQLite file or postgres:// URL, logged_call.h) or a JSONL file of
// {"id"?, "messages", "tools"?, "answer"?} lines, where a line without "answer" is a chat
// training line whose final assistant message is the teacher's answer (`rpu logs export
// --format openai-jsonl` output); every JSONL call counts as a teacher example.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "convert/logged_call.h"

namespace rpu::convert {

struct CallSelection {
  std::set<int64_t> ids;
  std::vector<std::string> routes;
  std::string cluster_file;
  std::string cluster;  // the cluster's id in cluster_file
};

// The call ids of one cluster in a clusters file. Throws rpu::Error naming the file.
std::set<int64_t> cluster_call_ids(const std::string& path, const std::string& cluster);

// Loads LOG (see above). teachers empty: every call of a usage log counts as a teacher example.
std::vector<LoggedCall> load_calls(const std::string& log, const std::vector<std::string>& teachers);

// The calls of `calls` the selection names (all of them when it names nothing).
std::vector<const LoggedCall*> select_calls(const std::vector<LoggedCall>& calls, const CallSelection& selection);

}  // namespace rpu::convert
