// rpu gateway end to end, configuration mistakes: `rpu gateway --config FILE` with an unknown
// key, a bad regex, a route target that does not exist, an api_key_env variable that is not
// set, a value out of range or invalid YAML exits non-zero before serving, with a message
// naming the file, the line and the key.
#include <gtest/gtest.h>

#include <cstdio>

#include <filesystem>

#include <string>

#include "gateway_util.h"
#include "test_util.h"

namespace rpu {
namespace {

// A valid configuration; each case replaces one line of it.
const std::string kValid = R"(models:
  arith: {local: builtin, parallel: 1, threads: 1}
upstreams:
  big:
    url: http://127.0.0.1:9/v1
    model: big
routes:
  - name: arithmetic
    aliases: [arith]
    match:
      user: "\\d"
    target: arith
    cascade:
      upstream: big
      min_confidence: 0.6
      refusal: "I can only help"
  - name: general
    target: big
default_route: general
)";

// The 1-based number of the line holding `needle`.
int line_of(const std::string& text, const std::string& needle) {
  const size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  int line = 1;
  for (size_t i = 0; i < at; ++i) line += text[i] == '\n';
  return line;
}

std::string replaced(const std::string& from, const std::string& to) {
  std::string text = kValid;
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

struct Outcome {
  int exit_code;
  std::string err;
};

// Runs the gateway on a config; `prefix` goes before the command (a valid config would serve
// until `timeout` ends it: exit code 124).
Outcome run_gateway(const std::string& name, const std::string& yaml, const std::string& prefix = "timeout 20") {
  const std::string path = test::write_config(name, yaml);
  const auto r = test::run_rpu({"gateway", "--config", path, "--port", "0"}, prefix);
  return {r.exit_code, r.err};
}

void expect_named(const Outcome& o, const std::string& file, int line, const std::string& key, const std::string& what) {
  EXPECT_NE(o.exit_code, 0) << o.err;
  EXPECT_NE(o.exit_code, 124) << "it started serving: " << o.err;
  const std::string where = test::temp_path(file) + ":" + std::to_string(line) + ": " + key;
  EXPECT_NE(o.err.find(where), std::string::npos) << "expected '" << where << "' in: " << o.err;
  EXPECT_NE(o.err.find(what), std::string::npos) << "expected '" << what << "' in: " << o.err;
}

TEST(GatewayConfigTest, AnUnknownKeyIsNamedWithItsLine) {
  const std::string yaml = replaced("      min_confidence: 0.6", "      min_confidance: 0.6");
  expect_named(run_gateway("unknown-key.yaml", yaml), "unknown-key.yaml", line_of(yaml, "min_confidance"),
               "routes[0].cascade.min_confidance", "unknown key");
  const std::string top = kValid + "listen_port: 8080\n";
  expect_named(run_gateway("unknown-top.yaml", top), "unknown-top.yaml", line_of(top, "listen_port"), "listen_port",
               "unknown key");
}

TEST(GatewayConfigTest, ABadRegexIsNamedWithItsLine) {
  const std::string user = replaced(R"(      user: "\\d")", R"(      user: "([0-9]+")");
  expect_named(run_gateway("bad-user-regex.yaml", user), "bad-user-regex.yaml", line_of(user, "user:"),
               "routes[0].match.user", "");
  const std::string refusal = replaced(R"(      refusal: "I can only help")", R"(      refusal: "I can (only")");
  expect_named(run_gateway("bad-refusal-regex.yaml", refusal), "bad-refusal-regex.yaml", line_of(refusal, "refusal:"),
               "routes[0].cascade.refusal", "");
}

TEST(GatewayConfigTest, ARouteTargetThatDoesNotExistIsNamedWithItsLine) {
  const std::string yaml = replaced("    target: big\n", "    target: bigger\n");
  expect_named(run_gateway("no-target.yaml", yaml), "no-target.yaml", line_of(yaml, "target: bigger"),
               "routes[1].target", "'bigger' is not defined");
  const std::string upstream = replaced("      upstream: big", "      upstream: huge");
  expect_named(run_gateway("no-upstream.yaml", upstream), "no-upstream.yaml", line_of(upstream, "upstream: huge"),
               "routes[0].cascade.upstream", "'huge' is not defined");
  const std::string route = replaced("default_route: general", "default_route: generic");
  expect_named(run_gateway("no-route.yaml", route), "no-route.yaml", line_of(route, "default_route"), "default_route",
               "no route is named 'generic'");
}

TEST(GatewayConfigTest, AnUnsetApiKeyVariableIsNamedWithItsLine) {
  const std::string yaml = replaced("    model: big\n", "    model: big\n    api_key_env: RPU_E2E_SURELY_UNSET_KEY\n");
  const Outcome o = run_gateway("unset-key.yaml", yaml, "env -u RPU_E2E_SURELY_UNSET_KEY timeout 20");
  expect_named(o, "unset-key.yaml", line_of(yaml, "api_key_env"), "upstreams.big.api_key_env",
               "the environment variable RPU_E2E_SURELY_UNSET_KEY is not set");
  // Set, it starts (and `timeout` stops it).
  const Outcome set = run_gateway("set-key.yaml", yaml, "RPU_E2E_SURELY_UNSET_KEY=x timeout 2");
  EXPECT_EQ(set.exit_code, 124) << set.err;
  EXPECT_NE(set.err.find("rpu gateway: 2 routes"), std::string::npos) << set.err;
}

TEST(GatewayConfigTest, AnUnsetVaultKeyVariableIsNamedWithItsLineAndNoLogIsCreated) {
  const std::string db = test::temp_path("unset-vault.db");
  std::remove(db.c_str());
  const std::string yaml = kValid + "log: {path: " + db + ", vault_key_env: RPU_E2E_SURELY_UNSET_VAULT}\n";
  const Outcome o = run_gateway("unset-vault.yaml", yaml, "env -u RPU_E2E_SURELY_UNSET_VAULT timeout 20");
  expect_named(o, "unset-vault.yaml", line_of(yaml, "vault_key_env"), "log.vault_key_env",
               "the vault key variable RPU_E2E_SURELY_UNSET_VAULT is not set");
  EXPECT_FALSE(std::filesystem::exists(db)) << "the usage log was created before the key was checked";
}

TEST(GatewayConfigTest, AValueOutOfRangeIsNamedWithItsLine) {
  const std::string yaml = replaced("      min_confidence: 0.6", "      min_confidence: 1.5");
  expect_named(run_gateway("out-of-range.yaml", yaml), "out-of-range.yaml", line_of(yaml, "min_confidence"),
               "routes[0].cascade.min_confidence", "must be between 0 and 1");
}

TEST(GatewayConfigTest, InvalidYamlIsNamedWithItsLine) {
  const std::string yaml = replaced("    aliases: [arith]", "    aliases: [arith");
  const Outcome o = run_gateway("invalid.yaml", yaml);
  EXPECT_NE(o.exit_code, 0) << o.err;
  EXPECT_NE(o.exit_code, 124) << o.err;
  EXPECT_NE(o.err.find(test::temp_path("invalid.yaml") + ":"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("not valid YAML"), std::string::npos) << o.err;
  const std::string tabs = replaced("  arith: {", "\tarith: {");
  const Outcome t = run_gateway("tabs.yaml", tabs);
  EXPECT_NE(t.exit_code, 0) << t.err;
  EXPECT_NE(t.err.find(test::temp_path("tabs.yaml") + ":" + std::to_string(line_of(tabs, "\tarith"))), std::string::npos)
      << t.err;
}

TEST(GatewayConfigTest, AMissingFileIsNamed) {
  const std::string path = test::temp_path("no-such-gateway.yaml");
  const auto r = test::run_rpu({"gateway", "--config", path}, "timeout 20");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rpu
