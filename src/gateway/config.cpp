#include "gateway/config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include "decode/calculator.h"
#include "decode/json_schema.h"
#include "gateway/task_classifier.h"
#include "gateway/usage_store.h"
#include "reasoning/pattern.h"
#include "reasoning/verifiers.h"
#include "retrieval/knowledge_spec.h"

namespace rpu::gateway {
namespace {

constexpr size_t kMaxJsonNodes = 100000;
constexpr int kMaxJsonDepth = 64;

// Reads one file's nodes, naming file, line and key in every error.
class Reader {
 public:
  Reader(std::string file, std::string base_dir) : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  [[noreturn]] void error(const YAML::Node& node, const std::string& key, const std::string& what) const {
    std::string where = file_;
    if (node.IsDefined() && node.Mark().line >= 0) where += ":" + std::to_string(node.Mark().line + 1);
    throw ConfigError(where + ": " + key + ": " + what);
  }

  // Unknown keys are mistakes (a misspelt key would otherwise be silently ignored).
  void only_keys(const YAML::Node& map, const std::string& key, std::initializer_list<const char*> allowed) const {
    if (!map.IsMap()) error(map, key, "must be a mapping");
    const std::set<std::string> known(allowed.begin(), allowed.end());
    for (const auto& item : map) {
      const std::string name = item.first.as<std::string>();
      if (!known.count(name)) {
        std::string list;
        for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
        error(item.first, join(key, name), "unknown key (known: " + list + ")");
      }
    }
  }

  static std::string join(const std::string& key, const std::string& child) {
    return key.empty() ? child : key + "." + child;
  }

  std::string text(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) error(node, key, "must be a string");
    return node.as<std::string>();
  }

  double number(const YAML::Node& node, const std::string& key, double lo, double hi) const {
    double value = 0;
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, value)) error(node, key, "must be a number");
    if (value < lo || value > hi) {
      std::ostringstream range;
      range << "must be between " << lo << " and " << hi << " (got " << node.as<std::string>() << ")";
      error(node, key, range.str());
    }
    return value;
  }

  int integer(const YAML::Node& node, const std::string& key, int lo, int hi) const {
    int value = 0;
    if (!node.IsScalar() || !YAML::convert<int>::decode(node, value)) error(node, key, "must be an integer");
    if (value < lo || value > hi) {
      error(node, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " (got " +
                           node.as<std::string>() + ")");
    }
    return value;
  }

  bool boolean(const YAML::Node& node, const std::string& key) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) error(node, key, "must be true or false");
    return value;
  }

  std::vector<std::string> strings(const YAML::Node& node, const std::string& key) const {
    std::vector<std::string> out;
    if (node.IsScalar()) return {node.as<std::string>()};
    if (!node.IsSequence()) error(node, key, "must be a string or a list of strings");
    for (size_t i = 0; i < node.size(); ++i) out.push_back(text(node[i], key + "[" + std::to_string(i) + "]"));
    return out;
  }

  // The YAML value as JSON (for the reasoning and verifier objects, which have JSON parsers).
  // YAML aliases can make a small file expand without bound ("billion laughs"), so the
  // conversion stops after kMaxJsonNodes nodes or kMaxJsonDepth levels.
  nlohmann::json to_json(const YAML::Node& node, const std::string& key) const {
    size_t budget = kMaxJsonNodes;
    return to_json(node, key, budget, 0);
  }

  nlohmann::json to_json(const YAML::Node& node, const std::string& key, size_t& budget, int depth) const {
    if (budget-- == 0 || depth > kMaxJsonDepth) error(node, key, "too large or too deeply nested (YAML aliases?)");
    if (node.IsMap()) {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& item : node) out[item.first.as<std::string>()] = to_json(item.second, key, budget, depth + 1);
      return out;
    }
    if (node.IsSequence()) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(to_json(item, key, budget, depth + 1));
      return out;
    }
    if (!node.IsScalar()) return nullptr;
    const std::string s = node.as<std::string>();
    if (node.Tag() == "!") return s;  // quoted: always a string
    long long i = 0;
    double d = 0;
    bool b = false;
    if (YAML::convert<long long>::decode(node, i)) return i;
    if (YAML::convert<double>::decode(node, d)) return d;
    if (YAML::convert<bool>::decode(node, b)) return b;
    return s;
  }

  std::string path(const YAML::Node& node, const std::string& key) const {
    const std::string p = text(node, key);
    if (p == "builtin" || p.empty() || std::filesystem::path(p).is_absolute()) return p;
    return (std::filesystem::path(base_dir_) / p).lexically_normal().string();
  }

  void check_regex(const YAML::Node& node, const std::string& key, const std::string& pattern) const {
    try {
      reasoning::Pattern compiled(pattern, key);
    } catch (const std::exception& e) {
      error(node, key, e.what());
    }
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_, base_dir_;
};

void read_listen(const Reader& r, const YAML::Node& n, GatewayConfig& c) {
  r.only_keys(n, "listen", {"host", "port"});
  if (n["host"]) c.host = r.text(n["host"], "listen.host");
  if (n["port"]) c.port = r.integer(n["port"], "listen.port", 0, 65535);
}

void read_log(const Reader& r, const YAML::Node& n, GatewayConfig& c) {
  r.only_keys(n, "log", {"path", "scrub", "retention_days", "max_rows", "queue", "vault_key_env"});
  if (n["path"]) c.log.path = r.text(n["path"], "log.path");
  if (!c.log.path.empty() && !is_postgres_location(c.log.path)) c.log.path = r.path(n["path"], "log.path");
  if (n["scrub"]) c.log.scrub = r.boolean(n["scrub"], "log.scrub");
  if (n["retention_days"]) c.log.retention_days = r.integer(n["retention_days"], "log.retention_days", 0, 100000);
  if (n["max_rows"]) c.log.max_rows = static_cast<long long>(r.number(n["max_rows"], "log.max_rows", 0, 1e15));
  if (n["queue"]) c.log.queue = static_cast<size_t>(r.integer(n["queue"], "log.queue", 1, 1 << 24));
  if (n["vault_key_env"]) {
    c.log.vault_key_env = r.text(n["vault_key_env"], "log.vault_key_env");
    c.log.vault_key_env_line = n["vault_key_env"].Mark().line + 1;
    if (n["scrub"] && !c.log.scrub) r.error(n["vault_key_env"], "log.vault_key_env", "the vault needs log.scrub: true");
  }
}

void read_remote_details(const Reader& r, const YAML::Node& n, const std::string& key, RemoteConfig& remote) {
  if (n["model"]) remote.model = r.text(n["model"], key + ".model");
  if (n["api_key_env"]) {
    remote.api_key_env = r.text(n["api_key_env"], key + ".api_key_env");
    remote.api_key_env_line = n["api_key_env"].Mark().line + 1;
  }
  if (const YAML::Node t = n["timeouts"]) {
    r.only_keys(t, key + ".timeouts", {"connect", "first_token", "total"});
    if (t["connect"]) remote.timeouts.connect_s = r.number(t["connect"], key + ".timeouts.connect", 0.001, 3600);
    if (t["first_token"]) remote.timeouts.first_token_s = r.number(t["first_token"], key + ".timeouts.first_token", 0.001, 3600);
    if (t["total"]) remote.timeouts.total_s = r.number(t["total"], key + ".timeouts.total", 0.001, 86400);
  }
  if (const YAML::Node t = n["retry"]) {
    r.only_keys(t, key + ".retry", {"attempts", "base_delay", "max_delay", "max_retry_after"});
    if (t["attempts"]) remote.retry.attempts = r.integer(t["attempts"], key + ".retry.attempts", 1, 20);
    if (t["base_delay"]) remote.retry.base_delay_s = r.number(t["base_delay"], key + ".retry.base_delay", 0, 600);
    if (t["max_delay"]) remote.retry.max_delay_s = r.number(t["max_delay"], key + ".retry.max_delay", 0, 3600);
    if (t["max_retry_after"]) {
      remote.retry.max_retry_after_s = r.number(t["max_retry_after"], key + ".retry.max_retry_after", 0, 3600);
    }
  }
  if (const YAML::Node t = n["breaker"]) {
    r.only_keys(t, key + ".breaker", {"failures", "open_seconds"});
    if (t["failures"]) remote.breaker.failures = r.integer(t["failures"], key + ".breaker.failures", 1, 1000);
    if (t["open_seconds"]) remote.breaker.open_s = r.number(t["open_seconds"], key + ".breaker.open_seconds", 0, 86400);
  }
  for (const std::string& url : remote.urls) {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      r.error(n, key, "URL '" + url + "' must start with http:// or https://");
    }
  }
}

void read_models(const Reader& r, const YAML::Node& n, GatewayConfig& c) {
  if (!n.IsMap()) r.error(n, "models", "must be a mapping of model names");
  for (const auto& item : n) {
    const std::string name = item.first.as<std::string>(), key = "models." + name;
    const YAML::Node m = item.second;
    if (!m.IsMap()) r.error(m, key, "must be a mapping (local: ... or replicas: [...])");
    if (m["replicas"]) {
      r.only_keys(m, key, {"replicas", "model", "api_key_env", "timeouts", "retry", "breaker", "health_interval"});
      RemoteConfig remote;
      remote.name = name;
      remote.is_replica_set = true;
      remote.urls = r.strings(m["replicas"], key + ".replicas");
      if (remote.urls.empty()) r.error(m, key + ".replicas", "needs at least one URL");
      if (!m["model"]) r.error(m, key, "needs `model:` (the name the replicas serve, as in their /v1/models)");
      if (m["health_interval"]) remote.health_interval_s = r.number(m["health_interval"], key + ".health_interval", 0.05, 3600);
      read_remote_details(r, m, key, remote);
      c.remotes.push_back(std::move(remote));
      continue;
    }
    r.only_keys(m, key, {"local", "chat_template", "parallel", "ctx", "threads", "queue"});
    if (!m["local"]) r.error(m, key, "needs `local: builtin | FILE.gguf` or `replicas: [URL, ...]`");
    LocalModelConfig local;
    local.name = name;
    local.file = r.file();
    local.line = m.Mark().line + 1;
    local.path = r.path(m["local"], key + ".local");
    if (local.path != "builtin" && !std::filesystem::is_regular_file(local.path)) {
      r.error(m["local"], key + ".local", "no model file '" + local.path + "'");
    }
    if (m["chat_template"]) local.chat_template = r.path(m["chat_template"], key + ".chat_template");
    if (m["parallel"]) local.parallel = r.integer(m["parallel"], key + ".parallel", 1, 256);
    if (m["ctx"]) local.ctx = r.integer(m["ctx"], key + ".ctx", 16, 1 << 20);
    if (m["threads"]) local.threads = r.integer(m["threads"], key + ".threads", 1, 1024);
    if (m["queue"]) local.queue = r.integer(m["queue"], key + ".queue", 0, 1 << 20);
    c.local_models.push_back(std::move(local));
  }
}

void read_upstreams(const Reader& r, const YAML::Node& n, GatewayConfig& c) {
  if (!n.IsMap()) r.error(n, "upstreams", "must be a mapping of upstream names");
  for (const auto& item : n) {
    const std::string name = item.first.as<std::string>(), key = "upstreams." + name;
    const YAML::Node u = item.second;
    r.only_keys(u, key, {"url", "api_key_env", "model", "timeouts", "retry", "breaker"});
    if (!u["url"]) r.error(u, key, "needs `url:` (an OpenAI-compatible base URL such as https://host/v1)");
    RemoteConfig remote;
    remote.name = name;
    remote.urls = {r.text(u["url"], key + ".url")};
    read_remote_details(r, u, key, remote);
    c.remotes.push_back(std::move(remote));
  }
}

void read_match(const Reader& r, const YAML::Node& n, const std::string& key, MatchConfig& m) {
  r.only_keys(n, key, {"system", "user", "tools", "task"});
  if (n["system"]) {
    m.system_regex = r.text(n["system"], key + ".system");
    r.check_regex(n["system"], key + ".system", m.system_regex);
  }
  if (n["user"]) {
    m.user_regex = r.text(n["user"], key + ".user");
    r.check_regex(n["user"], key + ".user", m.user_regex);
  }
  if (n["tools"]) m.has_tools = r.boolean(n["tools"], key + ".tools");
  if (n["task"]) m.task = r.text(n["task"], key + ".task");
}

CascadeConfig read_cascade(const Reader& r, const YAML::Node& n, const std::string& key) {
  r.only_keys(n, key, {"upstream", "min_confidence", "confidence", "refusal", "verifier"});
  CascadeConfig cascade;
  if (!n["upstream"]) r.error(n, key, "needs `upstream:` (where low-confidence calls go)");
  cascade.upstream = r.text(n["upstream"], key + ".upstream");
  if (n["min_confidence"]) cascade.min_confidence = r.number(n["min_confidence"], key + ".min_confidence", 0, 1);
  if (n["confidence"]) {
    const std::string measure = r.text(n["confidence"], key + ".confidence");
    if (measure == "answer") {
      cascade.confidence = ConfidenceMeasure::kAnswer;
    } else if (measure != "mean_token") {
      r.error(n["confidence"], key + ".confidence", "must be mean_token or answer, not '" + measure + "'");
    }
  }
  if (n["refusal"]) {
    cascade.refusal_regex = r.text(n["refusal"], key + ".refusal");
    r.check_regex(n["refusal"], key + ".refusal", cascade.refusal_regex);
  }
  if (n["verifier"]) {
    cascade.verifier = r.to_json(n["verifier"], key + ".verifier");
    try {
      if (!reasoning::make_verifier(cascade.verifier)) {
        r.error(n["verifier"], key + ".verifier", "model-scored verifiers (logprob, judge) are not available here");
      }
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {
      r.error(n["verifier"], key + ".verifier", e.what());
    }
  }
  return cascade;
}

// A route's answer_schema: a JSON Schema mapping, its properties put in the order of its
// `required` list, checked by building its grammar (a schema the decoder cannot enforce is the
// config's error, not each call's).
nlohmann::ordered_json read_answer_schema(const Reader& r, const YAML::Node& n, const std::string& key) {
  if (!n.IsMap()) r.error(n, key, "must be a mapping (a JSON Schema)");
  const nlohmann::json read = r.to_json(n, key);
  nlohmann::ordered_json schema(read);
  if (read.contains("properties") && read["properties"].is_object() && read.contains("required") &&
      read["required"].is_array()) {
    nlohmann::ordered_json properties = nlohmann::ordered_json::object();
    for (const auto& name : read["required"]) {
      if (name.is_string() && read["properties"].contains(name.get<std::string>())) {
        properties[name.get<std::string>()] = read["properties"][name.get<std::string>()];
      }
    }
    for (const auto& [name, property] : read["properties"].items()) {
      if (!properties.contains(name)) properties[name] = property;
    }
    schema["properties"] = std::move(properties);
  }
  try {
    json_schema_to_grammar(schema);
  } catch (const std::exception& e) {
    r.error(n, key, std::string("is not a schema rpu can enforce: ") + e.what());
  }
  return schema;
}

RouteConfig read_route(const Reader& r, const YAML::Node& n, const std::string& key) {
  r.only_keys(n, key,
              {"name", "aliases", "match", "target", "reasoning", "cascade", "shadow", "fallback", "scrub_input", "knowledge",
               "copy_fields", "force_tool_call", "answer_schema", "calculator", "thinking_tokens"});
  RouteConfig route;
  route.line = n.Mark().line + 1;
  if (!n["name"]) r.error(n, key, "needs `name:`");
  route.name = r.text(n["name"], key + ".name");
  if (!n["target"]) r.error(n, key, "needs `target:` (a name from models: or upstreams:)");
  route.target = r.text(n["target"], key + ".target");
  if (n["aliases"]) route.aliases = r.strings(n["aliases"], key + ".aliases");
  if (n["match"]) read_match(r, n["match"], key + ".match", route.match);
  if (n["reasoning"]) {
    if (!n["reasoning"].IsMap()) r.error(n["reasoning"], key + ".reasoning", "must be a mapping ({strategy: ...})");
    route.reasoning = r.to_json(n["reasoning"], key + ".reasoning");
  }
  if (n["cascade"]) route.cascade = read_cascade(r, n["cascade"], key + ".cascade");
  if (const YAML::Node s = n["shadow"]) {
    r.only_keys(s, key + ".shadow", {"share", "target"});
    ShadowConfig shadow;
    if (!s["target"]) r.error(s, key + ".shadow", "needs `target:`");
    shadow.target = r.text(s["target"], key + ".shadow.target");
    shadow.share = s["share"] ? r.number(s["share"], key + ".shadow.share", 0, 1) : 1.0;
    route.shadow = shadow;
  }
  if (n["fallback"]) route.fallback = r.text(n["fallback"], key + ".fallback");
  if (n["scrub_input"]) route.scrub_input = r.boolean(n["scrub_input"], key + ".scrub_input");
  if (n["force_tool_call"]) route.force_tool_call = r.boolean(n["force_tool_call"], key + ".force_tool_call");
  if (const YAML::Node c = n["calculator"]; c && c.IsMap()) {  // {decimals: N}
    r.only_keys(c, key + ".calculator", {"decimals"});
    if (!c["decimals"]) r.error(c, key + ".calculator", "needs 'decimals' (or write true)");
    route.calculator = true;
    route.calculator_decimals = r.integer(c["decimals"], key + ".calculator.decimals", 0, kMaxCalculatorDecimals);
  } else if (c) {
    route.calculator = r.boolean(c, key + ".calculator");
  }
  if (n["thinking_tokens"]) route.thinking_tokens = r.integer(n["thinking_tokens"], key + ".thinking_tokens", 0, 4096);
  if (n["answer_schema"]) route.answer_schema = read_answer_schema(r, n["answer_schema"], key + ".answer_schema");
  if (n["copy_fields"]) {
    try {
      route.copy_fields = parse_copy_fields(nlohmann::ordered_json(r.to_json(n["copy_fields"], key + ".copy_fields")));
    } catch (const std::runtime_error& e) {
      r.error(n["copy_fields"], key + ".copy_fields", e.what());
    }
  }
  if (n["knowledge"]) {
    if (!n["knowledge"].IsMap()) r.error(n["knowledge"], key + ".knowledge", "must be a mapping ({kb: NAME, k: 5})");
    route.knowledge = r.to_json(n["knowledge"], key + ".knowledge");
    try {
      retrieval::knowledge_spec_parse(route.knowledge);
    } catch (const ApiError& e) {
      r.error(n["knowledge"], key + ".knowledge", e.what());
    }
  }
  return route;
}

ClassifierConfig read_classifier(const Reader& r, const YAML::Node& n) {
  r.only_keys(n, "classifier", {"file", "min_similarity", "routes"});
  ClassifierConfig c;
  if (!n["file"]) r.error(n, "classifier", "needs `file:` (written by `rpu convert cluster`)");
  c.file = r.path(n["file"], "classifier.file");
  if (n["min_similarity"]) c.min_similarity = r.number(n["min_similarity"], "classifier.min_similarity", 0, 1);
  if (const YAML::Node routes = n["routes"]; routes && !routes.IsNull()) {
    if (!routes.IsMap()) r.error(routes, "classifier.routes", "must be a mapping of cluster ids to route names");
    for (const auto& item : routes) {
      const std::string key = "classifier.routes." + item.first.as<std::string>();
      const int cluster = r.integer(item.first, key, 0, 1 << 20);
      c.routes[cluster] = r.text(item.second, key);
    }
  }
  try {
    auto loaded = std::make_shared<CentroidClassifier>(CentroidClassifier::load(c.file));
    if (c.min_similarity) loaded->set_min_similarity(*c.min_similarity);
    c.classifier = std::move(loaded);
  } catch (const std::exception& e) {
    r.error(n["file"], "classifier.file", e.what());
  }
  return c;
}

// Every cluster the classifier maps must go to a route of `route_names`.
void check_classifier_routes(const Reader& r, const YAML::Node& root, const ClassifierConfig& c,
                             const std::set<std::string>& route_names) {
  if (c.routes.empty()) return;  // then `routes:` is a mapping (read_classifier checked)
  for (const auto& item : root["classifier"]["routes"]) {
    const std::string cluster = item.first.as<std::string>();
    const std::string route = c.routes.at(std::stoi(cluster));
    if (!route_names.count(route)) r.error(item.second, "classifier.routes." + cluster, "no route is named '" + route + "'");
  }
}

void read_keys(const Reader& r, const YAML::Node& n, GatewayConfig& c) {
  if (!n.IsSequence()) r.error(n, "keys", "must be a list of {id, sha256}");
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string key = "keys[" + std::to_string(i) + "]";
    const YAML::Node k = n[i];
    r.only_keys(k, key, {"id", "sha256", "requests_per_minute", "burst"});
    ClientKeyConfig client;
    if (!k["id"] || !k["sha256"]) r.error(k, key, "needs `id:` and `sha256:` (from `rpu gateway hash-key`)");
    client.id = r.text(k["id"], key + ".id");
    client.sha256 = r.text(k["sha256"], key + ".sha256");
    const bool hex = client.sha256.size() == 64 &&
                     client.sha256.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex) r.error(k["sha256"], key + ".sha256", "must be 64 lowercase hex digits (the SHA-256 of the key)");
    if (k["requests_per_minute"]) {
      client.requests_per_minute = r.number(k["requests_per_minute"], key + ".requests_per_minute", 0, 1e9);
    }
    if (k["burst"]) client.burst = r.number(k["burst"], key + ".burst", 0, 1e9);
    c.keys.push_back(std::move(client));
  }
}

// Names the routes of one file use: the names and aliases seen so far (of this file and any
// read before it), and the targets defined (`where` says where, for the message).
struct KnownNames {
  std::set<std::string> targets, routes, aliases, knowledge_bases;
  std::string where = "under models: or upstreams:";
};

// Each route's references exist, and its name and aliases are new; then the default route.
void check_routes(const Reader& r, const YAML::Node& root, const std::vector<RouteConfig>& routes,
                  const std::string& default_route, KnownNames& known) {
  const YAML::Node nodes = root["routes"];
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteConfig& route = routes[i];
    const std::string key = "routes[" + std::to_string(i) + "]";
    const YAML::Node node = nodes[i];
    auto defined = [&](const std::string& name, const YAML::Node& at, const std::string& field) {
      if (!name.empty() && !known.targets.count(name)) {
        r.error(at, key + "." + field, "'" + name + "' is not defined " + known.where);
      }
    };
    defined(route.target, node["target"], "target");
    defined(route.fallback, node["fallback"], "fallback");
    if (route.cascade) defined(route.cascade->upstream, node["cascade"]["upstream"], "cascade.upstream");
    if (route.shadow) defined(route.shadow->target, node["shadow"]["target"], "shadow.target");
    if (route.knowledge.is_object() && !known.knowledge_bases.count(route.knowledge["kb"].get<std::string>())) {
      r.error(node["knowledge"], key + ".knowledge.kb",
              "'" + route.knowledge["kb"].get<std::string>() + "' is not defined under knowledge_bases:");
    }
    if (!known.routes.insert(route.name).second) r.error(node, key + ".name", "route '" + route.name + "' is defined twice");
    for (const std::string& alias : route.aliases) {
      if (!known.aliases.insert(alias).second) r.error(node, key + ".aliases", "alias '" + alias + "' belongs to two routes");
    }
  }
  if (!default_route.empty() && !known.routes.count(default_route)) {
    r.error(root["default_route"], "default_route", "no route is named '" + default_route + "'");
  }
}

// Names refer to things that exist, and are unique.
void check_references(const Reader& r, const YAML::Node& root, GatewayConfig& c) {
  KnownNames known;
  auto add_target = [&](const std::string& name, const std::string& section) {
    if (!known.targets.insert(name).second) r.error(root[section], section + "." + name, "the name is used twice");
  };
  for (const auto& m : c.local_models) add_target(m.name, "models");
  for (const auto& u : c.remotes) add_target(u.name, u.is_replica_set ? "models" : "upstreams");
  for (const auto& [name, _] : c.knowledge_bases) known.knowledge_bases.insert(name);
  check_routes(r, root, c.routes, c.default_route, known);
  if (!c.knowledge_reranker.empty()) {
    if (!known.targets.count(c.knowledge_reranker)) {
      r.error(root["knowledge_reranker"], "knowledge_reranker",
              "'" + c.knowledge_reranker + "' is not defined under models: or upstreams:");
    }
    if (c.knowledge_bases.empty()) {
      r.error(root["knowledge_reranker"], "knowledge_reranker", "reranks knowledge searches: needs knowledge_bases:");
    }
  }
  if (c.routes.empty()) r.error(root, "routes", "at least one route is needed");
  if (c.classifier) check_classifier_routes(r, root, *c.classifier, known.routes);
}

// The routes file's names against the main config's: its models must not reuse a main name,
// its routes' names and aliases must be new, and what they refer to must exist in either file.
void check_merged_references(const Reader& r, const YAML::Node& root, const GatewayConfig& main,
                             const GatewayConfig& extra) {
  KnownNames known;
  known.where = "under models: (here or in " + main.file + ")";
  for (const auto& m : main.local_models) known.targets.insert(m.name);
  for (const auto& u : main.remotes) known.targets.insert(u.name);
  for (const auto& [name, _] : main.knowledge_bases) known.knowledge_bases.insert(name);
  auto add_target = [&](const std::string& name) {
    if (!known.targets.insert(name).second) {
      r.error(root["models"][name], "models." + name, "the name is already used (in " + main.file + " or above)");
    }
  };
  for (const auto& m : extra.local_models) add_target(m.name);
  for (const auto& u : extra.remotes) add_target(u.name);
  for (const RouteConfig& route : main.routes) {
    known.routes.insert(route.name);
    known.aliases.insert(route.aliases.begin(), route.aliases.end());
  }
  check_routes(r, root, extra.routes, extra.default_route, known);
  if (extra.classifier) check_classifier_routes(r, root, *extra.classifier, known.routes);
}

// False when the file cannot be opened; a file over 4 MiB is not a configuration.
bool read_config_text(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  constexpr size_t kMaxConfigBytes = 4u << 20;
  if (text.str().size() > kMaxConfigBytes) throw ConfigError(path + ": larger than 4 MiB; not a gateway configuration");
  out = text.str();
  return true;
}

std::vector<RouteConfig> read_routes(const Reader& r, const YAML::Node& routes) {
  std::vector<RouteConfig> out;
  if (!routes || routes.IsNull()) return out;
  if (!routes.IsSequence()) r.error(routes, "routes", "must be a list of routes");
  for (size_t i = 0; i < routes.size(); ++i) out.push_back(read_route(r, routes[i], "routes[" + std::to_string(i) + "]"));
  return out;
}

GatewayConfig read_config(const Reader& r, const YAML::Node& root, const std::string& file_name) {
  r.only_keys(root, "",
              {"listen", "log", "models", "upstreams", "routes", "default_route", "keys", "routes_file", "classifier",
               "knowledge_bases", "knowledge_reranker"});
  GatewayConfig c;
  c.file = file_name;
  if (root["listen"]) read_listen(r, root["listen"], c);
  if (root["log"]) read_log(r, root["log"], c);
  if (root["models"]) read_models(r, root["models"], c);
  if (root["upstreams"]) read_upstreams(r, root["upstreams"], c);
  c.routes = read_routes(r, root["routes"]);
  if (root["default_route"]) c.default_route = r.text(root["default_route"], "default_route");
  if (root["keys"]) read_keys(r, root["keys"], c);
  if (root["routes_file"]) c.routes_file = r.path(root["routes_file"], "routes_file");
  if (root["classifier"]) c.classifier = read_classifier(r, root["classifier"]);
  if (const YAML::Node kbs = root["knowledge_bases"]; kbs && !kbs.IsNull()) {
    if (!kbs.IsMap()) r.error(kbs, "knowledge_bases", "must be a mapping of names to knowledge base files");
    for (const auto& item : kbs) {
      const std::string name = item.first.as<std::string>();
      c.knowledge_bases[name] = r.path(item.second, "knowledge_bases." + name);
    }
  }
  if (root["knowledge_reranker"]) c.knowledge_reranker = r.text(root["knowledge_reranker"], "knowledge_reranker");
  check_references(r, root, c);
  return c;
}

// The routes file over the main config: its routes first, its models joined to the main ones.
GatewayConfig merge_routes(const Reader& r, const YAML::Node& root, const GatewayConfig& main) {
  r.only_keys(root, "", {"models", "routes", "default_route", "classifier"});
  GatewayConfig extra;
  if (root["models"] && !root["models"].IsNull()) read_models(r, root["models"], extra);
  extra.routes = read_routes(r, root["routes"]);
  if (root["default_route"]) extra.default_route = r.text(root["default_route"], "default_route");
  if (root["classifier"] && !root["classifier"].IsNull()) extra.classifier = read_classifier(r, root["classifier"]);
  check_merged_references(r, root, main, extra);
  GatewayConfig merged = main;
  merged.local_models.insert(merged.local_models.end(), extra.local_models.begin(), extra.local_models.end());
  merged.remotes.insert(merged.remotes.end(), extra.remotes.begin(), extra.remotes.end());
  merged.routes = extra.routes;
  merged.routes.insert(merged.routes.end(), main.routes.begin(), main.routes.end());
  if (!extra.default_route.empty()) merged.default_route = extra.default_route;
  if (extra.classifier) merged.classifier = extra.classifier;
  return merged;
}

// Parses `text` and runs `read` on its root, turning every yaml-cpp exception (bad syntax, or a
// shape the readers did not foresee, e.g. a mapping used as a key) into a ConfigError with a line.
template <typename Read>
GatewayConfig read_yaml(const std::string& text, const std::string& file_name, Read read) {
  auto where = [&](const YAML::Exception& e) { return file_name + ":" + std::to_string(e.mark.line + 1) + ": "; };
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(where(e) + "not valid YAML: " + e.msg);
  }
  try {
    return read(root);
  } catch (const YAML::Exception& e) {
    throw ConfigError(where(e) + e.msg);
  }
}

std::string folder_of(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

}  // namespace

const char* confidence_measure_name(ConfidenceMeasure m) {
  return m == ConfidenceMeasure::kAnswer ? "answer" : "mean_token";
}

GatewayConfig parse_gateway_config(const std::string& yaml_text, const std::string& file_name,
                                   const std::string& base_dir) {
  const Reader r(file_name, base_dir);
  return read_yaml(yaml_text, file_name, [&](const YAML::Node& root) {
    if (!root.IsMap()) throw ConfigError(file_name + ": the configuration must be a YAML mapping");
    return read_config(r, root, file_name);
  });
}

GatewayConfig load_gateway_config(const std::string& path) {
  std::string text;
  if (!read_config_text(path, text)) throw ConfigError(path + ": cannot open the configuration file");
  return parse_gateway_config(text, path, folder_of(path));
}

GatewayConfig merge_routes_text(const GatewayConfig& main, const std::string& yaml_text, const std::string& file_name,
                                const std::string& base_dir) {
  const Reader r(file_name, base_dir);
  return read_yaml(yaml_text, file_name, [&](const YAML::Node& root) {
    if (root.IsNull()) return main;  // empty: nothing deployed yet
    if (!root.IsMap()) throw ConfigError(file_name + ": the routes file must be a YAML mapping");
    return merge_routes(r, root, main);
  });
}

GatewayConfig merge_routes_file(const GatewayConfig& main) {
  if (main.routes_file.empty()) return main;
  std::string text;
  if (!read_config_text(main.routes_file, text)) {
    if (!std::filesystem::exists(main.routes_file)) return main;  // nothing deployed yet
    throw ConfigError(main.routes_file + ": cannot open the routes file");
  }
  return merge_routes_text(main, text, main.routes_file, folder_of(main.routes_file));
}

}  // namespace rpu::gateway
