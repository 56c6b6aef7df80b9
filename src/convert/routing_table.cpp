#include "convert/routing_table.h"

#include <fcntl.h>
#include <unistd.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "gateway/config.h"

namespace rpu::convert {
namespace fs = std::filesystem;
namespace {

bool read_text(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

// The file as YAML: an absent or empty file is an empty mapping.
YAML::Node load_routes(const std::string& routes_file) {
  std::string text;
  if (!read_text(routes_file, text)) {
    if (fs::exists(routes_file)) throw RoutingTableError(routes_file + ": cannot read the routes file");
    return YAML::Node(YAML::NodeType::Map);
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw RoutingTableError(routes_file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  if (root.IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw RoutingTableError(routes_file + ": a routes file is a mapping (models:, routes:)");
  if (root["routes"] && !root["routes"].IsSequence() && !root["routes"].IsNull()) {
    throw RoutingTableError(routes_file + ": routes: must be a list");
  }
  if (root["models"] && !root["models"].IsMap() && !root["models"].IsNull()) {
    throw RoutingTableError(routes_file + ": models: must be a mapping");
  }
  return root;
}

std::string route_name(const YAML::Node& route) {
  return route.IsMap() && route["name"] && route["name"].IsScalar() ? route["name"].as<std::string>() : "";
}

// Every target name a route refers to (target, fallback, cascade upstream, shadow target).
std::set<std::string> referenced_targets(const YAML::Node& route) {
  std::set<std::string> names;
  auto add = [&](const YAML::Node& n) {
    if (n && n.IsScalar()) names.insert(n.as<std::string>());
  };
  if (!route.IsMap()) return names;
  add(route["target"]);
  add(route["fallback"]);
  if (route["cascade"] && route["cascade"].IsMap()) add(route["cascade"]["upstream"]);
  if (route["shadow"] && route["shadow"].IsMap()) add(route["shadow"]["target"]);
  return names;
}

std::string emit(const YAML::Node& routes, const YAML::Node& models, const YAML::Node& old_root) {
  YAML::Node root(YAML::NodeType::Map);
  root["models"] = models;
  root["routes"] = routes;
  if (old_root["default_route"]) root["default_route"] = old_root["default_route"];
  if (old_root["classifier"]) root["classifier"] = old_root["classifier"];
  YAML::Emitter out;
  out << root;
  return "# The gateway's routes file, written by `rpu convert deploy` / `rpu convert rollback`.\n"
         "# Its routes come before the gateway config's; the gateway reloads it when it changes.\n" +
         std::string(out.c_str()) + "\n";
}

// 0.6 as "0.6" (yaml-cpp would write 0.59999999999999998); it still reads back as a number.
std::string shortest(double value) { return fmt::format("{}", value); }

// A JSON value as YAML the gateway's config reader turns back into the same JSON (numbers stay
// numbers, booleans booleans). A string it would read as a number or boolean cannot be written
// plainly: refused rather than changed (no strategy of the table has one).
YAML::Node yaml_of(const nlohmann::ordered_json& j, const std::string& where) {
  if (j.is_object()) {
    YAML::Node node(YAML::NodeType::Map);
    for (const auto& [key, value] : j.items()) node[key] = yaml_of(value, where + "." + key);
    return node;
  }
  if (j.is_array()) {
    YAML::Node node(YAML::NodeType::Sequence);
    for (const auto& value : j) node.push_back(yaml_of(value, where));
    return node;
  }
  if (j.is_boolean()) return YAML::Node(j.get<bool>());
  if (j.is_number_integer()) return YAML::Node(j.get<long long>());
  if (j.is_number()) return YAML::Node(shortest(j.get<double>()));
  if (j.is_string()) {
    const YAML::Node node(j.get<std::string>());
    long long i = 0;
    double d = 0;
    bool b = false;
    if (YAML::convert<long long>::decode(node, i) || YAML::convert<double>::decode(node, d) ||
        YAML::convert<bool>::decode(node, b)) {
      throw RoutingTableError(where + ": the string '" + j.get<std::string>() + "' would read back as a number or boolean");
    }
    return node;
  }
  throw RoutingTableError(where + ": null has no place in a route");
}

YAML::Node specialist_node(const SpecialistRoute& r, const std::string& model) {
  YAML::Node node(YAML::NodeType::Map);
  node["name"] = r.name;
  if (!r.aliases.empty()) node["aliases"] = r.aliases;
  if (!r.match_task.empty()) node["match"]["task"] = r.match_task;
  if (!r.match_system.empty()) node["match"]["system"] = r.match_system;
  node["target"] = model;
  if (r.reasoning.is_object()) node["reasoning"] = yaml_of(r.reasoning, "route '" + r.name + "': reasoning");
  if (!r.teacher.empty()) {
    node["cascade"]["upstream"] = r.teacher;
    node["cascade"]["min_confidence"] = shortest(r.min_confidence);
    if (r.confidence != gateway::ConfidenceMeasure::kMeanToken) {
      node["cascade"]["confidence"] = gateway::confidence_measure_name(r.confidence);
    }
    if (r.shadow_share > 0) {
      node["shadow"]["share"] = shortest(r.shadow_share);
      node["shadow"]["target"] = r.teacher;
    }
  }
  if (r.scrub_input) node["scrub_input"] = true;
  if (r.force_tool_call) node["force_tool_call"] = true;
  if (r.thinking_tokens > 0) node["thinking_tokens"] = r.thinking_tokens;
  if (r.calculator && r.calculator_decimals >= 0) {
    node["calculator"]["decimals"] = r.calculator_decimals;
  } else if (r.calculator) {
    node["calculator"] = true;
  }
  if (r.answer_schema.is_object()) node["answer_schema"] = yaml_of(r.answer_schema, "route '" + r.name + "': answer_schema");
  if (!r.copy_fields.empty()) node["copy_fields"] = yaml_of(copy_fields_json(r.copy_fields), "route '" + r.name + "': copy_fields");
  return node;
}

void check_route(const SpecialistRoute& r) {
  if (r.name.empty()) throw RoutingTableError("a route needs a name");
  if (r.model_path.empty()) throw RoutingTableError("route '" + r.name + "' needs a model file");
  if (r.aliases.empty() && r.match_task.empty() && r.match_system.empty() && r.cluster < 0) {
    throw RoutingTableError("route '" + r.name +
                            "' needs an alias, a match rule (task or system) or a cluster, or no call reaches it");
  }
  if ((r.cluster >= 0) != !r.classifier_file.empty()) {
    throw RoutingTableError("route '" + r.name + "': a cluster and a classifier file go together");
  }
  if (r.min_confidence < 0 || r.min_confidence > 1) throw RoutingTableError("min_confidence must be between 0 and 1");
  if (r.shadow_share < 0 || r.shadow_share > 1) throw RoutingTableError("the shadow share must be between 0 and 1");
  if (r.shadow_share > 0 && r.teacher.empty()) throw RoutingTableError("a shadow share needs a teacher");
  if (!r.reasoning.is_null() && !r.reasoning.is_object()) {
    throw RoutingTableError("route '" + r.name + "': reasoning must be an object ({strategy: ...})");
  }
}

// Throws gateway::ConfigError when the gateway configured by `gateway_config` would refuse `text`.
void check_with_gateway(const std::string& gateway_config, const std::string& routes_file, const std::string& text) {
  if (gateway_config.empty()) return;
  const gateway::GatewayConfig main = gateway::load_gateway_config(gateway_config);
  const std::string dir = fs::path(routes_file).parent_path().string();
  gateway::merge_routes_text(main, text, routes_file, dir.empty() ? "." : dir);
}

// The classifier section without the mappings to route `name` (a null node when none is left,
// or there was none).
YAML::Node classifier_without(const YAML::Node& old, const std::string& name) {
  if (!old || !old.IsMap()) return YAML::Node();
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& item : old) {
    if (item.first.as<std::string>() != "routes") out[item.first] = item.second;
  }
  YAML::Node routes(YAML::NodeType::Map);
  if (old["routes"] && old["routes"].IsMap()) {
    for (const auto& item : old["routes"]) {
      if (!(item.second.IsScalar() && item.second.as<std::string>() == name)) routes[item.first] = item.second;
    }
  }
  if (routes.size() == 0) return YAML::Node();
  out["routes"] = routes;
  return out;
}

// `root` (a copy) with its classifier section as `section` (null: none).
YAML::Node with_classifier(const YAML::Node& root, const YAML::Node& section) {
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& item : root) {
    if (item.first.as<std::string>() != "classifier") out[item.first] = item.second;
  }
  if (section && !section.IsNull()) out["classifier"] = section;
  return out;
}

}  // namespace

std::vector<std::string> routing_table_routes(const std::string& routes_file) {
  std::vector<std::string> names;
  const YAML::Node root = load_routes(routes_file);
  if (root["routes"]) {
    for (const auto& route : root["routes"]) names.push_back(route_name(route));
  }
  return names;
}

std::string routes_with(const std::string& routes_file, const SpecialistRoute& route) {
  check_route(route);
  const YAML::Node root = load_routes(routes_file);
  const std::string model = route.model_name.empty() ? route.name : route.model_name;
  YAML::Node models(YAML::NodeType::Map), routes(YAML::NodeType::Sequence);
  if (root["models"]) {
    for (const auto& item : root["models"]) {
      if (item.first.as<std::string>() != model) models[item.first] = item.second;
    }
  }
  const std::string path = route.model_path == "builtin" ? route.model_path : fs::absolute(route.model_path).string();
  models[model]["local"] = path;
  models[model]["parallel"] = route.parallel;
  routes.push_back(specialist_node(route, model));  // first: the newest specialist is tried first
  if (root["routes"]) {
    for (const auto& r : root["routes"]) {
      if (route_name(r) != route.name) routes.push_back(r);
    }
  }
  // The route's old mappings go; its cluster (if any) maps to it, other clusters keep theirs.
  YAML::Node classifier = classifier_without(root["classifier"], route.name);
  if (route.cluster >= 0) {
    if (!classifier || classifier.IsNull()) classifier = YAML::Node(YAML::NodeType::Map);
    classifier["file"] = fs::absolute(route.classifier_file).string();
    classifier["routes"][std::to_string(route.cluster)] = route.name;
  }
  return emit(routes, models, with_classifier(root, classifier));
}

std::string routes_without(const std::string& routes_file, const std::string& name, bool* found) {
  const YAML::Node root = load_routes(routes_file);
  YAML::Node models(YAML::NodeType::Map), routes(YAML::NodeType::Sequence);
  std::set<std::string> removed_targets, still_used;
  bool was_there = false;
  if (root["routes"]) {
    for (const auto& r : root["routes"]) {
      if (route_name(r) == name) {
        was_there = true;
        removed_targets = referenced_targets(r);
        continue;
      }
      routes.push_back(r);
      for (const std::string& t : referenced_targets(r)) still_used.insert(t);
    }
  }
  if (root["models"]) {
    for (const auto& item : root["models"]) {
      const std::string model = item.first.as<std::string>();
      if (removed_targets.count(model) && !still_used.count(model)) continue;  // the specialist goes with its route
      models[item.first] = item.second;
    }
  }
  if (found != nullptr) *found = was_there;
  YAML::Node kept = with_classifier(root, classifier_without(root["classifier"], name));
  if (root["default_route"] && root["default_route"].as<std::string>() == name) kept.remove("default_route");
  return emit(routes, models, kept);
}

void deploy_route(const std::string& routes_file, const SpecialistRoute& route, const std::string& gateway_config) {
  const std::string text = routes_with(routes_file, route);
  check_with_gateway(gateway_config, routes_file, text);
  write_routes_file(routes_file, text);
}

bool remove_route(const std::string& routes_file, const std::string& name, const std::string& gateway_config) {
  bool found = false;
  const std::string text = routes_without(routes_file, name, &found);
  if (!found) return false;
  check_with_gateway(gateway_config, routes_file, text);
  write_routes_file(routes_file, text);
  return true;
}

bool restore_previous_routes(const std::string& routes_file) {
  std::string previous, current;
  if (!read_text(routes_file + ".prev", previous)) return false;
  const bool had_current = read_text(routes_file, current);
  write_file_atomically(routes_file, previous);
  if (had_current) write_file_atomically(routes_file + ".prev", current);
  return true;
}

void write_routes_file(const std::string& routes_file, const std::string& text) {
  std::string current;
  if (read_text(routes_file, current)) write_file_atomically(routes_file + ".prev", current);
  write_file_atomically(routes_file, text);
}

void write_file_atomically(const std::string& path, const std::string& text) {
  static std::atomic<unsigned> counter{0};
  const fs::path target(path);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  // (fmt rather than "." + std::string&&: gcc 12 -O3 reports a false -Wstringop-overflow on that.)
  const fs::path temp = dir / fmt::format(".{}.tmp.{}.{}", target.filename().string(), ::getpid(), counter++);
  auto fail = [&](const std::string& what) {
    const int error = errno;
    ::unlink(temp.c_str());
    throw RoutingTableError(path + ": " + what + ": " + std::strerror(error));
  };
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create a temporary file in its folder");
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  // Durable before it becomes visible: after a crash the name holds the old or the new text.
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("cannot sync");
  }
  if (::close(fd) != 0) fail("cannot close");
  if (::rename(temp.c_str(), target.c_str()) != 0) fail("cannot rename the temporary file into place");
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);  // the rename itself survives a crash
    ::close(dir_fd);
  }
}

RouteCalibration calibrate_measures(std::vector<CalibrationSample> by_mean, std::vector<CalibrationSample> by_answer,
                                    double target_quality, double margin_z) {
  RouteCalibration best{calibrate_threshold(std::move(by_mean), target_quality, 1.0, margin_z),
                        gateway::ConfidenceMeasure::kMeanToken};
  if (by_answer.empty()) return best;
  const Calibration answer = calibrate_threshold(std::move(by_answer), target_quality, 1.0, margin_z);
  if (answer.feasible && (!best.calibration.feasible || answer.local_share > best.calibration.local_share)) {
    best = {answer, gateway::ConfidenceMeasure::kAnswer};
  }
  return best;
}

double wilson_lower_bound(double right, double n, double z) {
  if (n <= 0) return 0;
  const double p = right / n, z2 = z * z;
  const double centre = p + z2 / (2 * n);
  const double spread = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return std::max(0.0, (centre - spread) / (1 + z2 / n));
}

Calibration calibrate_threshold(std::vector<CalibrationSample> samples, double target_quality, double teacher_quality,
                                double margin_z) {
  Calibration best;
  if (samples.empty()) return best;
  // Ascending confidence: threshold samples[i].confidence keeps samples i..n-1 local.
  std::sort(samples.begin(), samples.end(),
            [](const CalibrationSample& a, const CalibrationSample& b) { return a.confidence < b.confidence; });
  // Weighted sums from i to the end: of all samples, and of the correct ones.
  std::vector<double> weight_from(samples.size() + 1, 0), correct_from(samples.size() + 1, 0);
  for (size_t i = samples.size(); i-- > 0;) {
    weight_from[i] = weight_from[i + 1] + samples[i].weight;
    correct_from[i] = correct_from[i + 1] + (samples[i].correct ? samples[i].weight : 0);
  }
  const double n = weight_from[0];
  auto evaluate = [&](size_t first_kept, double threshold) {
    const double kept = weight_from[first_kept];
    Calibration c;
    c.threshold = threshold;
    c.local_share = kept / n;
    const double kept_correct =
        margin_z > 0 ? wilson_lower_bound(correct_from[first_kept], kept, margin_z) * kept : correct_from[first_kept];
    c.expected_quality = (kept_correct + teacher_quality * (n - kept)) / n;
    c.feasible = c.expected_quality >= target_quality - 1e-12;
    return c;
  };
  // A confidence below 0 is escalated at every threshold (errors, answers cut at the limit).
  size_t first = 0;
  while (first < samples.size() && samples[first].confidence < 0) ++first;
  for (size_t i = first; i < samples.size(); ++i) {
    if (i > first && samples[i].confidence == samples[i - 1].confidence) continue;  // same threshold as before
    const Calibration c = evaluate(i, i == first ? 0.0 : std::clamp(samples[i].confidence, 0.0, 1.0));
    if (c.feasible) return c;
  }
  // Escalate everything: a threshold just above the highest confidence (at most 1, where a
  // confidence of exactly 1 would still stay local).
  const double above = std::min(1.0, std::nextafter(std::max(0.0, samples.back().confidence), 2.0));
  size_t first_kept = samples.size();
  while (first_kept > 0 && samples[first_kept - 1].confidence >= above) --first_kept;
  return evaluate(first_kept, above);
}

}  // namespace rpu::convert
