// ReplicaPool over RemoteBackends pointing at in-process scripted upstreams: calls go to the
// replica with the fewest outstanding calls (not merely in turn), a dead or failing replica is
// skipped and the call moved to the next, health checks take replicas down and bring them
// back, and with none healthy the pool answers 503.
#include <gtest/gtest.h>

#include <thread>

#include "pipeline/remote_backend.h"
#include "pipeline/replica_pool.h"
#include "pipeline/resilient_backend.h"
#include "scripted_upstream.h"

namespace rpu {
namespace {

using test::ScriptedUpstream;
using test::UpstreamStep;

Replica replica(const std::string& name, const std::string& base_url, const std::string& health_url) {
  RemoteBackendOptions o;
  o.base_url = base_url;
  o.model = "m";
  o.connect_timeout_s = 1;
  o.first_byte_timeout_s = 5;
  return {name, std::make_unique<RemoteBackend>(o), health_url};
}

Replica replica(const std::string& name, const ScriptedUpstream& upstream) {
  return replica(name, upstream.base_url(), upstream.health_url());
}

ReplicaPoolOptions pool_options(double interval_s) {
  ReplicaPoolOptions o;
  o.model_id = "pool";
  o.health_interval_s = interval_s;
  o.health_timeout_s = 0.5;
  return o;
}

ChatRequest question(const std::string& text = "hi") {
  ChatRequest r;
  r.model = "pool";
  r.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}});
  return r;
}

// Polls `condition` for up to 3 s.
template <typename Condition>
bool eventually(Condition condition) {
  for (int i = 0; i < 300; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

TEST(ReplicaPool, CallsGoToTheReplicaWithTheFewestOutstanding) {
  ScriptedUpstream a, b;
  std::vector<Replica> replicas;
  replicas.push_back(replica("a", a));
  replicas.push_back(replica("b", b));
  ReplicaPool pool(pool_options(60), std::move(replicas));
  EXPECT_EQ(pool.model_ids(), std::vector<std::string>{"pool"});

  // A slow call holds one replica; two quick calls in a row both go to the other one (turns
  // alone would send the second to the busy replica).
  std::thread slow([&] { EXPECT_EQ(run_chat(pool, question("delay:1000")).choices.at(0).text, "Hello"); });
  ASSERT_TRUE(eventually([&] { return a.requests() + b.requests() == 1; }));
  ScriptedUpstream& busy = a.requests() == 1 ? a : b;
  ScriptedUpstream& idle = a.requests() == 1 ? b : a;
  const size_t busy_index = &busy == &a ? 0 : 1;
  EXPECT_EQ(pool.outstanding(busy_index), 1);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(run_chat(pool, question()).choices.at(0).text, "Hello");
  EXPECT_EQ(busy.requests(), 1);
  EXPECT_EQ(idle.requests(), 2);
  const std::string m = pool.metrics_text();
  EXPECT_NE(m.find("rpu_replica_outstanding{pool=\"pool\",replica=\"" + std::string(busy_index ? "b" : "a") + "\"} 1"),
            std::string::npos)
      << m;
  slow.join();
  EXPECT_EQ(pool.outstanding(0) + pool.outstanding(1), 0);
}

TEST(ReplicaPool, ADeadOrFailingReplicaIsSkipped) {
  ScriptedUpstream live;
  {
    std::vector<Replica> replicas;  // first in turn: a port nobody listens on
    replicas.push_back(replica("dead", "http://127.0.0.1:" + std::to_string(test::closed_port()) + "/v1", ""));
    replicas.push_back(replica("live", live));
    ReplicaPool pool(pool_options(60), std::move(replicas));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(run_chat(pool, question()).choices.at(0).text, "Hello");
    EXPECT_FALSE(pool.healthy(0));
    EXPECT_TRUE(pool.healthy(1));
    EXPECT_EQ(live.requests(), 3);
  }
  // Healthy by its health check, but its calls fail: one failure, then skipped.
  ScriptedUpstream failing({UpstreamStep::error(500)});
  std::vector<Replica> replicas;
  replicas.push_back(replica("failing", failing));
  replicas.push_back(replica("live", live));
  ReplicaPool pool(pool_options(60), std::move(replicas));
  ASSERT_TRUE(pool.healthy(0));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run_chat(pool, question()).choices.at(0).text, "Hello");
  EXPECT_EQ(failing.requests(), 1);
  EXPECT_EQ(live.requests(), 6);
  EXPECT_NE(pool.metrics_text().find("rpu_replica_failures_total{pool=\"pool\",replica=\"failing\"} 1"), std::string::npos);

  // A stream that breaks before its first event moves too.
  failing.set_script({UpstreamStep::drop_before_first()});
  pool.check_health();
  ASSERT_TRUE(pool.healthy(0));
  EXPECT_EQ(run_chat(pool, question()).choices.at(0).text, "Hello");
  EXPECT_EQ(failing.requests(), 2);
  EXPECT_EQ(live.requests(), 7);
  EXPECT_EQ(pool.outstanding(0) + pool.outstanding(1), 0);
}

TEST(ReplicaPool, HealthChecksTakeReplicasDownAndBringThemBack) {
  ScriptedUpstream a, b;
  std::vector<Replica> replicas;
  replicas.push_back(replica("a", a));
  replicas.push_back(replica("b", b));
  ReplicaPool pool(pool_options(0.05), std::move(replicas));
  a.set_healthy(false);
  ASSERT_TRUE(eventually([&] { return !pool.healthy(0); }));
  for (int i = 0; i < 2; ++i) run_chat(pool, question());
  EXPECT_EQ(a.requests(), 0);
  EXPECT_EQ(b.requests(), 2);

  b.set_healthy(false);
  ASSERT_TRUE(eventually([&] { return !pool.healthy(1); }));
  try {
    run_chat(pool, question());
    ADD_FAILURE() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 503);
    EXPECT_NE(std::string(e.what()).find("no healthy replica"), std::string::npos) << e.what();
  }

  a.set_healthy(true);
  ASSERT_TRUE(eventually([&] { return pool.healthy(0); }));
  EXPECT_EQ(run_chat(pool, question()).choices.at(0).text, "Hello");
  EXPECT_EQ(a.requests(), 1);
  EXPECT_NE(pool.metrics_text().find("rpu_replica_healthy{pool=\"pool\",replica=\"a\"} 1"), std::string::npos);
}

TEST(ReplicaPool, NestedBackendsMetricsKeepOneHeaderPerFamily) {
  std::vector<Replica> replicas;
  for (const char* name : {"a", "b"}) {
    Replica r = replica(name, "http://127.0.0.1:" + std::to_string(test::closed_port()) + "/v1", "");
    r.backend = std::make_unique<ResilientBackend>(name, std::move(r.backend));
    replicas.push_back(std::move(r));
  }
  ReplicaPool pool(pool_options(60), std::move(replicas));
  const std::string m = pool.metrics_text();
  for (const std::string family : {"rpu_replica_healthy", "rpu_upstream_requests_total", "rpu_upstream_circuit_open"}) {
    const size_t type = m.find("# TYPE " + family + " ");
    ASSERT_NE(type, std::string::npos) << m;
    EXPECT_EQ(type, m.rfind("# TYPE " + family + " ")) << m;
  }
  // Each family's samples follow its header, the upstreams' side by side.
  const size_t a = m.find("rpu_upstream_circuit_open{upstream=\"a\"} 0\n");
  EXPECT_NE(a, std::string::npos) << m;
  EXPECT_EQ(m.find("rpu_upstream_circuit_open{upstream=\"b\"} 0\n"), m.find('\n', a) + 1) << m;
}

}  // namespace
}  // namespace rpu
