#include "convert/split.h"

#include <algorithm>
#include <fstream>
#include <unordered_map>

#include "convert/training_file.h"
#include "core/error.h"
#include "core/json_text.h"

namespace rpu::convert {
namespace {

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// A final avalanche so that nearby seeds give unrelated splits (splitmix64's finaliser).
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::string request_key(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools) {
  nlohmann::ordered_json key{{"messages", messages}, {"tools", tools}};
  return key.dump();
}

uint64_t request_hash(const LoggedCall& call) { return fnv1a(request_key(call.messages, call.tools)); }

SplitOptions cluster_split(const SplitOptions& base, size_t teacher_calls) {
  SplitOptions s = base;
  if (base.min_held_out > 0 && teacher_calls > 0) {
    const double needed = static_cast<double>(base.min_held_out) / static_cast<double>(teacher_calls);
    s.held_out_fraction = std::max(base.held_out_fraction, std::min(0.5, needed));
  }
  return s;
}

SplitOptions cluster_split(const SplitOptions& base, const std::vector<const LoggedCall*>& calls) {
  return cluster_split(base, static_cast<size_t>(std::count_if(calls.begin(), calls.end(),
                                                                [](const LoggedCall* c) { return c->from_teacher; })));
}

bool is_held_out(const LoggedCall& call, const SplitOptions& options) {
  const uint64_t h = mix(request_hash(call) ^ mix(options.seed + 0x9e3779b97f4a7c15ull));
  return static_cast<double>(h % 1000000) < options.held_out_fraction * 1000000.0;
}

Split split_calls(const std::vector<LoggedCall>& calls, const SplitOptions& options) {
  Split split;
  for (const LoggedCall& c : calls) {
    if (!c.from_teacher) continue;
    (is_held_out(c, options) ? split.held_out : split.train).push_back(&c);
  }
  return split;
}

Split split_calls(const std::vector<const LoggedCall*>& calls, const SplitOptions& options) {
  Split split;
  for (const LoggedCall* c : calls) {
    if (!c->from_teacher) continue;
    (is_held_out(*c, options) ? split.held_out : split.train).push_back(c);
  }
  return split;
}

std::vector<std::string> held_out_in_training_file(const std::vector<const LoggedCall*>& held_out,
                                                   const std::string& path) {
  // Compared in the trainer's form: the file holds training_prompt(), not the raw request.
  std::unordered_map<std::string, int64_t> prompts;
  for (const LoggedCall* c : held_out) prompts.emplace(training_prompt(*c).dump(), c->id);
  std::ifstream in(path);
  if (!in) fail("cannot open training file '{}'", path);
  std::vector<std::string> leaks;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto j = parse_json_text<nlohmann::ordered_json>(line, path + ":" + std::to_string(line_no));
    if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) continue;
    nlohmann::ordered_json prompt = j["messages"];
    prompt.erase(prompt.size() - 1);  // the answer
    const auto hit = prompts.find(prompt.dump());
    if (hit != prompts.end()) leaks.push_back("line " + std::to_string(line_no) + ": call " + std::to_string(hit->second));
  }
  return leaks;
}

}  // namespace rpu::convert
