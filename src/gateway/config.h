// The gateway's configuration (`rpu gateway --config gateway.yaml`; a commented example is
// examples/gateway.yaml). Read with yaml-cpp into these plain structs, checked completely
// before anything starts: every mistake is a ConfigError naming the file, the line and the
// key ("gateway.yaml:12: routes[0].cascade.min_confidence: must be between 0 and 1").
//
// Shape:
//   listen:    {host, port, api_key_env}
//   log:       {path (SQLite file or postgres:// URI), scrub, retention_days, max_rows, queue}
//   models:    NAME -> local model {local: builtin | FILE.gguf, parallel, ctx, threads, ...}
//                      or rpu serve replicas {replicas: [URL, ...], model, health_interval}
//   upstreams: NAME -> {url, api_key_env, model, timeouts, retry, breaker}
//   routes:    [{name, aliases, match, target, reasoning, cascade, shadow, fallback}]
//   keys:      [{id, sha256, requests_per_minute, burst}]
//   routes_file: FILE  the conversion loop's routes (see merge_routes_file), reloaded while serving
//   knowledge_bases: NAME -> FILE.kb  the bases the "knowledge" extension and routes' defaults name
//   knowledge_reranker: NAME  a model or upstream (a cross-encoder) that reranks their searches
//   classifier: {file, min_similarity, routes: {"3": ROUTE, ...}}  the loop's task classifier
//              (task_classifier.h): a call no alias or rule claims goes to the route mapped to
//              its cluster, when its similarity reaches min_similarity
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "decode/copy_matcher.h"

namespace rpu::gateway {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model in this process.
struct LocalModelConfig {
  std::string name;
  std::string path;          // "builtin" or a GGUF file (relative to the config file)
  std::string chat_template; // optional Jinja file
  int parallel = 4, ctx = 0, threads = 0, queue = 64;
  std::string file;          // where it was defined (the main config or the routes file), for messages
  int line = 0;
};

struct TimeoutsConfig {
  double connect_s = 5, first_token_s = 60, total_s = 600;
};
struct RetryConfig {
  int attempts = 3;
  double base_delay_s = 0.25, max_delay_s = 8, max_retry_after_s = 30;
};
struct BreakerConfig {
  int failures = 5;
  double open_s = 30;
};

// An OpenAI-compatible endpoint: a large-model upstream, or (with several URLs) rpu serve
// replicas balanced by least outstanding requests.
struct RemoteConfig {
  std::string name;
  std::vector<std::string> urls;  // base URLs ending in /v1
  std::string api_key_env;        // the key is read from this variable; never logged
  int api_key_env_line = 0;       // where api_key_env was given, for the message when it is unset
  std::string model;              // the upstream's model name; empty: the caller's
  TimeoutsConfig timeouts;
  RetryConfig retry;
  BreakerConfig breaker;
  double health_interval_s = 2;
  bool is_replica_set = false;    // from `models:` (replicas) rather than `upstreams:`
};

// When a route's request goes to it: every given condition must hold.
struct MatchConfig {
  std::string system_regex;       // the system prompt(s), joined
  std::string user_regex;         // the last user message
  std::optional<bool> has_tools;  // tools present (true) or absent (false)
  std::string task;               // the X-Rpu-Task header equals this
  bool empty() const { return system_regex.empty() && user_regex.empty() && !has_tools && task.empty(); }
};

// Escalation from the route's target (the small model) to an upstream.
// What a cascade's min_confidence is a threshold on when the route has no reasoning strategy
// (with one, the strategy's confidence). YAML `confidence: mean_token | answer`.
//   kMeanToken  exp(mean token log-probability): the geometric mean of the chosen tokens'
//               probabilities. Long free text is not penalised for its length.
//   kAnswer     exp(sum of token log-probabilities): the probability of the whole answer. For
//               answers scored by exact match (a tool call, a code): one unsure value token
//               ("party_size": 7 for "twelve people") among 30 sure markup tokens barely moves the
//               mean, but divides the answer's probability (cascade.h).
enum class ConfidenceMeasure { kMeanToken, kAnswer };
const char* confidence_measure_name(ConfidenceMeasure m);

struct CascadeConfig {
  std::string upstream;               // name in `upstreams:` (or `models:`)
  double min_confidence = 0.5;        // below this: escalate
  ConfidenceMeasure confidence = ConfidenceMeasure::kMeanToken;
  std::string refusal_regex;          // the specialist's refusal: escalate
  nlohmann::json verifier;            // reasoning verifier spec (make_verifier); failing: escalate
};

struct ShadowConfig {
  double share = 0;    // fraction of the route's calls also sent to `target`
  std::string target;  // answered in the background, logged, never returned
};

struct RouteConfig {
  std::string name;
  std::vector<std::string> aliases;  // request model names that select this route
  MatchConfig match;
  std::string target;                // the model or upstream that answers
  nlohmann::json reasoning;          // reasoning extension for the target ({"strategy": ...}), or null
  std::optional<CascadeConfig> cascade;
  std::optional<ShadowConfig> shadow;
  std::string fallback;              // when the target's upstream is down: this one answers
  // The target gets the call scrubbed of personal data (as the usage log stores it) and its
  // answer's placeholders are put back (unscrub.h): for specialists trained on the log.
  bool scrub_input = false;
  // The "knowledge" extension calls get when they carry none ({kb: NAME, k: 5, ...}), or null.
  nlohmann::json knowledge;
  // The "copy_fields" the target gets when a call names none (decode/copy_matcher.h): keys
  // whose values the conversion loop saw the teacher always copy from the request.
  std::vector<CopyField> copy_fields;
  // A call that offers tools and ends with the user's turn must be answered with a tool call
  // (tool_choice "required" unless the caller chose otherwise): the conversion loop sets it
  // for a cluster whose teacher always did, so the answer follows the tools' schemas.
  bool force_tool_call = false;
  // The JSON Schema the target's answer must follow when the call asks for no format, grammar
  // or tools (require_answer_schema, gateway_backend.h): the conversion loop sets it for a
  // cluster whose teacher always answered with one JSON form (convert/answer_form.h). Read with
  // its properties in the order of its `required` list (YAML maps keep no order). Null: none.
  nlohmann::ordered_json answer_schema;
  // The target computes the results of the arithmetic steps it writes (the "calculator"
  // extension, decode/calculator.h): the conversion loop sets it for a cluster whose teacher
  // writes its arithmetic out ("27 + 26 = 53"), always right (convert/answer_form.h).
  bool calculator = false;
  int calculator_decimals = -1;  // `calculator: {decimals: N}`: every result with N decimals
  // Tokens the target may spend in its reasoning span (pipeline/think_split.h) on top of a
  // caller's max_tokens: a specialist trained to write its working first (convert/working.h)
  // would otherwise run out of the budget a caller set for the answer alone.
  int thinking_tokens = 0;
  int line = 0;                      // where it was defined, for messages
};

class CentroidClassifier;

// The conversion loop's task classifier and which route serves each of its clusters.
struct ClassifierConfig {
  std::string file;                      // the classifier file (resolved path)
  std::optional<double> min_similarity;  // overrides the file's
  std::map<int, std::string> routes;     // cluster id -> route name
  // Loaded (with min_similarity applied) when the config was read: a file that does not load is
  // a ConfigError like any other mistake, and the table that uses it never reads it again.
  std::shared_ptr<const CentroidClassifier> classifier;
};

struct ClientKeyConfig {
  std::string id;
  std::string sha256;  // hex digest of the key (`rpu gateway hash-key`)
  double requests_per_minute = 0;  // 0: unlimited
  double burst = 0;                // bucket size; 0: a second's worth, at least 1
};

struct LogConfig {
  std::string path;  // empty: no usage log
  bool scrub = true;
  long long retention_days = 0, max_rows = 0;
  size_t queue = 65536;
  std::string vault_key_env;  // when set: placeholders sealed with the key in this variable (vault.h)
  int vault_key_env_line = 0; // where it was given, for the message when the variable is unset
};

struct GatewayConfig {
  std::string file;  // where it was read from
  std::string host = "127.0.0.1";
  int port = 8090;
  LogConfig log;
  std::vector<LocalModelConfig> local_models;
  std::vector<RemoteConfig> remotes;  // upstreams and replica sets
  std::vector<RouteConfig> routes;
  std::string default_route;          // empty: a model name no route claims is a 404
  std::vector<ClientKeyConfig> keys;  // empty: no authentication
  std::string routes_file;            // resolved path; empty: none
  std::optional<ClassifierConfig> classifier;
  std::map<std::string, std::string> knowledge_bases;  // name -> resolved file (knowledge_bases:)
  // A name under models: or upstreams: whose rerank() rescores every knowledge search's first
  // stage (calls' "knowledge" and routes' defaults alike); empty: no reranking.
  std::string knowledge_reranker;
};

// Throws ConfigError. Relative model paths are resolved against the file's folder.
GatewayConfig load_gateway_config(const std::string& path);
GatewayConfig parse_gateway_config(const std::string& yaml_text, const std::string& file_name,
                                   const std::string& base_dir = ".");

// The conversion loop's routes file (`routes_file:`) merged into the main config. It has the
// same `models:` and `routes:` sections and optionally `default_route` and `classifier`
// (which replaces the main one; its routes may be of either file). Its routes come before
// the main ones (specialists take precedence), its models join the main ones, and its
// default_route replaces the main one. A name or alias that clashes with the main config is a
// ConfigError naming the routes file, line and key. A file that is absent or empty adds nothing
// (the loop has not deployed anything yet). Relative paths are resolved against its folder.
GatewayConfig merge_routes_file(const GatewayConfig& main);
GatewayConfig merge_routes_text(const GatewayConfig& main, const std::string& yaml_text, const std::string& file_name,
                                const std::string& base_dir = ".");

}  // namespace rpu::gateway
