// The gateway's YAML configuration: what a valid file turns into, and that every mistake
// names the file, the line and the key.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "gateway/config.h"

namespace rpu::gateway {
namespace {

const char* kValid = R"(listen: {host: 0.0.0.0, port: 9000}
log: {path: calls.db, scrub: true, retention_days: 7, max_rows: 1000, queue: 10}
models:
  arith: {local: builtin, parallel: 2, queue: 8}
  pool:
    replicas: [http://10.0.0.1:8080/v1, http://10.0.0.2:8080/v1]
    model: rpu-arith
upstreams:
  big:
    url: https://example.com/v1
    api_key_env: TEST_GATEWAY_KEY
    model: gpt-4o
    timeouts: {connect: 2, first_token: 10, total: 100}
    retry: {attempts: 4, base_delay: 0.1}
    breaker: {failures: 3, open_seconds: 5}
routes:
  - name: arithmetic
    aliases: [gpt-4o-mini, arith]
    match: {system: "(?i)arithmetic", tools: false, task: math}
    target: arith
    reasoning: {strategy: self_consistency, n: 4}
    cascade: {upstream: big, min_confidence: 0.7, confidence: answer, refusal: "I can only help", verifier: {type: arithmetic}}
    shadow: {share: 0.25, target: big}
  - name: general
    target: big
    fallback: pool
default_route: general
keys:
  - {id: team-a, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, requests_per_minute: 60, burst: 2}
)";

std::string error_of(const std::string& yaml) {
  try {
    parse_gateway_config(yaml, "gw.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(GatewayConfig, ReadsEveryField) {
  const GatewayConfig c = parse_gateway_config(kValid, "gw.yaml", "/etc/rpu");
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.log.path, "/etc/rpu/calls.db");  // relative to the config file
  EXPECT_EQ(c.log.retention_days, 7);
  EXPECT_EQ(c.log.max_rows, 1000);
  EXPECT_EQ(c.log.queue, 10u);
  ASSERT_EQ(c.local_models.size(), 1u);
  EXPECT_EQ(c.local_models[0].path, "builtin");
  EXPECT_EQ(c.local_models[0].parallel, 2);
  ASSERT_EQ(c.remotes.size(), 2u);
  const RemoteConfig& pool = c.remotes[0].name == "pool" ? c.remotes[0] : c.remotes[1];
  const RemoteConfig& big = c.remotes[0].name == "big" ? c.remotes[0] : c.remotes[1];
  EXPECT_TRUE(pool.is_replica_set);
  EXPECT_EQ(pool.urls.size(), 2u);
  EXPECT_EQ(big.api_key_env, "TEST_GATEWAY_KEY");
  EXPECT_DOUBLE_EQ(big.timeouts.first_token_s, 10);
  EXPECT_EQ(big.retry.attempts, 4);
  EXPECT_EQ(big.breaker.failures, 3);
  ASSERT_EQ(c.routes.size(), 2u);
  const RouteConfig& r = c.routes[0];
  EXPECT_EQ(r.aliases, (std::vector<std::string>{"gpt-4o-mini", "arith"}));
  EXPECT_EQ(r.match.system_regex, "(?i)arithmetic");
  EXPECT_EQ(r.match.has_tools, false);
  EXPECT_EQ(r.match.task, "math");
  EXPECT_EQ(r.reasoning["strategy"], "self_consistency");
  EXPECT_EQ(r.reasoning["n"], 4);
  ASSERT_TRUE(r.cascade.has_value());
  EXPECT_DOUBLE_EQ(r.cascade->min_confidence, 0.7);
  EXPECT_EQ(r.cascade->confidence, ConfidenceMeasure::kAnswer);
  EXPECT_EQ(r.cascade->verifier["type"], "arithmetic");
  ASSERT_TRUE(r.shadow.has_value());
  EXPECT_DOUBLE_EQ(r.shadow->share, 0.25);
  EXPECT_EQ(c.routes[1].fallback, "pool");
  EXPECT_EQ(c.default_route, "general");
  ASSERT_EQ(c.keys.size(), 1u);
  EXPECT_EQ(c.keys[0].id, "team-a");
  EXPECT_DOUBLE_EQ(c.keys[0].burst, 2);
}

TEST(GatewayConfig, TheExampleInTheRepositoryIsValid) {
  const GatewayConfig c = load_gateway_config(std::string(RPU_SOURCE_DIR) + "/examples/gateway.yaml");
  EXPECT_FALSE(c.routes.empty());
}

TEST(GatewayConfig, MistakesNameFileLineAndKey) {
  struct Case {
    std::string yaml, expected;
  };
  const std::vector<Case> cases = {
      {"routes:\n  - name: a\n    target: x\n", "gw.yaml:3: routes[0].target: 'x' is not defined"},
      {"models:\n  m: {local: builtin}\nroutes:\n  - name: a\n    target: m\n    colour: red\n",
       "gw.yaml:6: routes[0].colour: unknown key"},
      {"models:\n  m: {local: builtin}\nroutes:\n  - name: a\n    target: m\n    match: {user: \"(unclosed\"}\n",
       "routes[0].match.user"},
      {"models:\n  m: {local: builtin}\nroutes:\n  - name: a\n    target: m\n    cascade: {upstream: m, min_confidence: 2}\n",
       "routes[0].cascade.min_confidence: must be between 0 and 1"},
      {"models:\n  m: {local: builtin}\nroutes:\n  - name: a\n    target: m\n    cascade: {upstream: m, confidence: max}\n",
       "routes[0].cascade.confidence: must be mean_token or answer, not 'max'"},
      {"models:\n  m: {local: /no/such/model.gguf}\nroutes: [{name: a, target: m}]\n",
       "gw.yaml:2: models.m.local: no model file '/no/such/model.gguf'"},
      {"upstreams:\n  u: {url: ftp://x}\nroutes: [{name: a, target: u}]\n", "upstreams.u: URL 'ftp://x' must start with http"},
      {"models:\n  m: {local: builtin}\nroutes: [{name: a, target: m}]\ndefault_route: b\n",
       "gw.yaml:4: default_route: no route is named 'b'"},
      {"models:\n  m: {local: builtin}\nroutes: [{name: a, target: m, aliases: [x]}, {name: b, target: m, aliases: [x]}]\n",
       "alias 'x' belongs to two routes"},
      {"models:\n  m: {local: builtin}\nroutes: [{name: a, target: m}]\nkeys: [{id: k, sha256: abc}]\n",
       "gw.yaml:4: keys[0].sha256: must be 64 lowercase hex digits"},
      {"listen: {port: 70000}\n", "gw.yaml:1: listen.port: must be between 0 and 65535"},
      {"routes: [\n  {name: a\n", "gw.yaml:"},
      {"models:\n  m: {local: builtin}\n", "routes: at least one route is needed"},
      {"models:\n  m: {local: builtin}\nroutes: [{name: a, target: m, cascade: {upstream: m, verifier: {type: nope}}}]\n",
       "routes[0].cascade.verifier"},
      {"models:\n  m: {local: builtin}\nroutes: [{name: a, target: m, scrub_input: maybe}]\n",
       "gw.yaml:3: routes[0].scrub_input"},
  };
  for (const Case& c : cases) {
    const std::string error = error_of(c.yaml);
    EXPECT_NE(error.find(c.expected), std::string::npos) << "config:\n" << c.yaml << "\nerror: " << error;
  }
}

// knowledge_reranker: names a model or upstream that reranks the knowledge bases' searches.
TEST(GatewayConfig, KnowledgeRerankerNamesATargetAndNeedsKnowledgeBases) {
  const std::string base = "models:\n  m: {local: builtin}\nupstreams:\n  u: {url: http://127.0.0.1:1/v1}\n"
                           "routes: [{name: a, target: m}]\n";
  const GatewayConfig c = parse_gateway_config(base + "knowledge_bases: {docs: docs.kb}\nknowledge_reranker: u\n", "gw.yaml", "/k");
  EXPECT_EQ(c.knowledge_reranker, "u");
  EXPECT_EQ(c.knowledge_bases.at("docs"), "/k/docs.kb");
  EXPECT_EQ(parse_gateway_config(base, "gw.yaml").knowledge_reranker, "");
  EXPECT_NE(error_of(base + "knowledge_bases: {docs: docs.kb}\nknowledge_reranker: nope\n")
                .find("gw.yaml:7: knowledge_reranker: 'nope' is not defined under models: or upstreams:"),
            std::string::npos)
      << error_of(base + "knowledge_bases: {docs: docs.kb}\nknowledge_reranker: nope\n");
  EXPECT_NE(error_of(base + "knowledge_reranker: m\n").find("gw.yaml:6: knowledge_reranker: reranks knowledge searches: needs knowledge_bases:"),
            std::string::npos)
      << error_of(base + "knowledge_reranker: m\n");
  EXPECT_NE(error_of(base + "knowledge_bases: {docs: docs.kb}\nknowledge_reranker: [m]\n").find("knowledge_reranker: must be a string"),
            std::string::npos);
}

TEST(GatewayConfig, AMissingFileIsAClearError) {
  try {
    load_gateway_config("/no/such/gateway.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/gateway.yaml: cannot open"), std::string::npos);
  }
}

}  // namespace
}  // namespace rpu::gateway
