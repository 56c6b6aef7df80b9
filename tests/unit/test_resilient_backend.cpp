// ResilientBackend and RemoteBackend's fault handling over real HTTP, against an in-process
// upstream that fails as scripted: retries (counted by the requests the upstream saw),
// Retry-After honoured and capped, the circuit breaker's open / half-open / closed cycle, no
// retry once an event reached the caller, the first-token timeout, a stream broken before its
// first event, and cancellation during a backoff. Timing checks are lower bounds only.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "pipeline/remote_backend.h"
#include "pipeline/resilient_backend.h"
#include "scripted_upstream.h"

namespace rpu {
namespace {

using test::ScriptedUpstream;
using test::UpstreamStep;
using Clock = std::chrono::steady_clock;

std::unique_ptr<RemoteBackend> remote(const ScriptedUpstream& upstream, double first_token_timeout = 0) {
  RemoteBackendOptions o;
  o.base_url = upstream.base_url();
  o.model = std::string(1, 'm');  // (a literal here trips GCC 12's -Wrestrict false positive)
  o.first_byte_timeout_s = 5;
  o.first_token_timeout_s = first_token_timeout;
  return std::make_unique<RemoteBackend>(o);
}

RetryPolicy fast_retries(int attempts = 3) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.base_delay_s = 0.01;
  p.max_delay_s = 0.05;
  return p;
}

ChatRequest question(int n = 1) {
  ChatRequest r;
  r.model = "m";
  r.n = n;
  r.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "hi"}}});
  return r;
}

int metric(const std::string& text, const std::string& series) {
  const size_t at = text.find(series + " ");
  return at == std::string::npos ? -1 : std::stoi(text.substr(at + series.size() + 1));
}

ApiError call_error(Backend& backend, const ChatRequest& request = question()) {
  try {
    run_chat(backend, request);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "the call succeeded";
  return ApiError(0, "none");
}

TEST(RetryPolicy, BackoffDoublesWithinItsCapAndRetryAfterWinsUntilTooLong) {
  RetryPolicy p;  // 0.25 s base, 8 s cap, half of it jitter
  EXPECT_DOUBLE_EQ(p.delay(1, 0, 0.0), 0.125);
  EXPECT_DOUBLE_EQ(p.delay(1, 0, 1.0), 0.25);
  EXPECT_DOUBLE_EQ(p.delay(3, 0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(p.delay(20, 0, 1.0), 8.0);
  EXPECT_DOUBLE_EQ(p.delay(1, 12, 0.5), 12.0);
  EXPECT_LT(p.delay(1, 31, 0.5), 0) << "longer than max_retry_after_s: no retry";
}

TEST(RetryAfter, DeltaSecondsAndHttpDates) {
  const auto now = std::chrono::system_clock::from_time_t(1445412470);  // Wed, 21 Oct 2015 07:27:50 GMT
  EXPECT_EQ(parse_retry_after("120", now), 120.0);
  EXPECT_EQ(parse_retry_after(" 0 ", now), 0.0);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), 10.0);
  EXPECT_EQ(parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now), 10.0);
  EXPECT_EQ(parse_retry_after("Wed Oct 21 07:28:00 2015", now), 10.0);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), 0.0) << "a past date: now";
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("", now));
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndLetsOneTrialThrough) {
  CircuitBreaker b({3, 10});
  const auto t0 = CircuitBreaker::Clock::now();
  b.on_failure(false, t0);
  b.on_failure(false, t0);
  b.on_success(false);  // not consecutive any more
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(b.admit(t0).allowed);
    b.on_failure(false, t0);
  }
  EXPECT_EQ(b.state(t0), CircuitBreaker::State::open);
  EXPECT_FALSE(b.admit(t0 + std::chrono::seconds(9)).allowed);
  EXPECT_NEAR(b.seconds_until_trial(t0 + std::chrono::seconds(4)), 6, 1e-6);
  const auto t1 = t0 + std::chrono::seconds(10);
  EXPECT_EQ(b.state(t1), CircuitBreaker::State::half_open);
  const CircuitBreaker::Permit trial = b.admit(t1);
  EXPECT_TRUE(trial.allowed && trial.trial);
  EXPECT_FALSE(b.admit(t1).allowed) << "one trial at a time";
  b.on_failure(true, t1);  // still down: open for another period
  EXPECT_FALSE(b.admit(t1 + std::chrono::seconds(5)).allowed);
  const auto t2 = t1 + std::chrono::seconds(10);
  const CircuitBreaker::Permit released = b.admit(t2);
  b.on_release(released.trial);  // told nothing: the next call is the trial
  const CircuitBreaker::Permit second = b.admit(t2);
  ASSERT_TRUE(second.trial);
  b.on_success(true);
  EXPECT_EQ(b.state(t2), CircuitBreaker::State::closed);
  EXPECT_EQ(b.consecutive_failures(), 0);
}

TEST(ResilientBackend, RetriesServerErrorsUntilTheStreamComes) {
  ScriptedUpstream upstream({UpstreamStep::error(500), UpstreamStep::error(502), UpstreamStep::ok()});
  ResilientBackend rb("up", remote(upstream), fast_retries());
  const CallResult result = run_chat(rb, question());
  EXPECT_EQ(result.choices.at(0).text, "Hello");
  EXPECT_EQ(result.choices[0].finish_reason, "stop");
  EXPECT_EQ(upstream.requests(), 3);
  const std::string m = rb.metrics_text();
  EXPECT_EQ(metric(m, "rpu_upstream_attempts_total{upstream=\"up\"}"), 3) << m;
  EXPECT_EQ(metric(m, "rpu_upstream_retries_total{upstream=\"up\"}"), 2);
  EXPECT_EQ(metric(m, "rpu_upstream_requests_total{upstream=\"up\",outcome=\"ok\"}"), 1);
  EXPECT_EQ(rb.breaker().consecutive_failures(), 0) << "the committed stream was a success";

  upstream.set_script({UpstreamStep::error(503)});  // every attempt fails: the last error comes back
  const ApiError e = call_error(rb);
  EXPECT_EQ(e.status, 503);
  EXPECT_EQ(upstream.requests(), 6);
  EXPECT_EQ(metric(rb.metrics_text(), "rpu_upstream_requests_total{upstream=\"up\",outcome=\"error\"}"), 1);
}

// Reranking is one POST: RemoteBackend puts the upstream's best-first results back in
// document order; ResilientBackend retries it by the same rules as a chat call.
TEST(ResilientBackend, RetriesARerankCallAndRemoteBackendReordersTheScores) {
  ScriptedUpstream upstream({UpstreamStep::error(503), UpstreamStep::ok()});
  ResilientBackend rb("up", remote(upstream), fast_retries());
  RerankRequest request;
  request.model = "m";
  request.query = "q";
  request.documents = {"a", "b", "c"};
  const RerankResult result = rb.rerank(request);
  EXPECT_EQ(result.scores, (std::vector<double>{1.0, 1.25, 1.5}));
  EXPECT_EQ(result.prompt_tokens, 9);
  EXPECT_EQ(upstream.requests(), 2);
  EXPECT_EQ(metric(rb.metrics_text(), "rpu_upstream_retries_total{upstream=\"up\"}"), 1);
  upstream.set_script({UpstreamStep::error(400)});
  try {
    rb.rerank(request);
    ADD_FAILURE() << "a 400 must come back";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
  }
  EXPECT_EQ(upstream.requests(), 3) << "a client error is not retried";
  request.documents.clear();
  EXPECT_THROW(rb.rerank(request), ApiError) << "no documents: refused before the upstream";
  EXPECT_EQ(upstream.requests(), 3);
}

TEST(ResilientBackend, WaitsTheRetryAfterAndGivesUpWhenItIsTooLong) {
  ScriptedUpstream upstream({UpstreamStep::error(429, "1"), UpstreamStep::ok()});
  ResilientBackend rb("up", remote(upstream), fast_retries());
  EXPECT_EQ(run_chat(rb, question()).choices.at(0).text, "Hello");
  const auto times = upstream.request_times();
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(std::chrono::duration<double>(times[1] - times[0]).count(), 0.95) << "Retry-After: 1";

  upstream.set_script({UpstreamStep::error(503, "60"), UpstreamStep::ok()});
  const ApiError e = call_error(rb);
  EXPECT_EQ(e.status, 503);
  EXPECT_EQ(e.retry_after_seconds, 60) << "passed on to the caller";
  EXPECT_EQ(upstream.requests(), 3) << "60 s is over max_retry_after_s: no retry";
}

TEST(ResilientBackend, ClientErrorsPassThroughAtOnceAndSpareTheBreaker) {
  ScriptedUpstream upstream({UpstreamStep::error(400)});
  ResilientBackend rb("up", remote(upstream), fast_retries(), {1, 30});
  EXPECT_EQ(call_error(rb).status, 400);
  EXPECT_EQ(call_error(rb).status, 400);
  EXPECT_EQ(upstream.requests(), 2);
  EXPECT_EQ(rb.breaker().state(), CircuitBreaker::State::closed);
}

TEST(ResilientBackend, TheBreakerOpensRejectsWithoutCallingHalfOpensAndCloses) {
  ScriptedUpstream upstream({UpstreamStep::error(500)});
  ResilientBackend rb("up", remote(upstream), fast_retries(1), {2, 0.3});
  EXPECT_EQ(call_error(rb).status, 500);
  EXPECT_EQ(call_error(rb).status, 500);
  EXPECT_EQ(rb.breaker().state(), CircuitBreaker::State::open);
  const ApiError rejected = call_error(rb);
  EXPECT_EQ(rejected.status, 503);
  EXPECT_EQ(rejected.code, "upstream_unavailable");
  EXPECT_GT(rejected.retry_after_seconds, 0);
  EXPECT_LE(rejected.retry_after_seconds, 0.3);
  EXPECT_EQ(upstream.requests(), 2) << "an open breaker does not contact the upstream";
  std::string m = rb.metrics_text();
  EXPECT_EQ(metric(m, "rpu_upstream_circuit_open{upstream=\"up\"}"), 1) << m;
  EXPECT_EQ(metric(m, "rpu_upstream_requests_total{upstream=\"up\",outcome=\"rejected_open\"}"), 1);

  // Half-open: the trial fails, so it opens again without a second call getting through.
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_EQ(rb.breaker().state(), CircuitBreaker::State::half_open);
  EXPECT_EQ(call_error(rb).status, 500);
  EXPECT_EQ(call_error(rb).code, "upstream_unavailable");
  EXPECT_EQ(upstream.requests(), 3);

  // Half-open again: the trial streams, and the breaker closes.
  upstream.set_script({UpstreamStep::ok()});
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_EQ(run_chat(rb, question()).choices.at(0).text, "Hello");
  EXPECT_EQ(rb.breaker().state(), CircuitBreaker::State::closed);
  EXPECT_EQ(run_chat(rb, question()).choices.at(0).text, "Hello");
  EXPECT_EQ(upstream.requests(), 5);
  m = rb.metrics_text();
  EXPECT_EQ(metric(m, "rpu_upstream_circuit_open{upstream=\"up\"}"), 0);
  EXPECT_EQ(m.find("# TYPE rpu_upstream_requests_total"), m.rfind("# TYPE rpu_upstream_requests_total"));
}

TEST(ResilientBackend, NeverRetriesOnceAnEventReachedTheCaller) {
  ScriptedUpstream upstream({UpstreamStep::drop_after_first(), UpstreamStep::ok()});
  ResilientBackend rb("up", remote(upstream), fast_retries());
  const CallResult result = run_chat(rb, question());
  EXPECT_EQ(result.choices.at(0).text, "Hel");
  EXPECT_EQ(result.choices[0].finish_reason, "error");
  EXPECT_FALSE(result.choices[0].error.empty());
  EXPECT_EQ(upstream.requests(), 1);
}

TEST(ResilientBackend, AStreamBrokenBeforeItsFirstEventIsRetried) {
  // Without a first-token wait RemoteBackend returns at the 200: the break arrives as an
  // "error" finish, which the wrapper holds back and retries on its own thread.
  ScriptedUpstream upstream({UpstreamStep::drop_before_first(), UpstreamStep::ok()});
  const CallResult bare = run_chat(*remote(upstream), question());
  EXPECT_EQ(bare.choices.at(0).finish_reason, "error") << "RemoteBackend alone passes the break on";
  upstream.set_script({UpstreamStep::drop_before_first(), UpstreamStep::ok()});
  ResilientBackend rb("up", remote(upstream), fast_retries());
  int events = 0;
  const CallResult result = run_chat(rb, question(2), [&](const ChatEvent&) { ++events; });
  ASSERT_EQ(result.choices.size(), 2u);
  for (const ChoiceResult& c : result.choices) {
    EXPECT_EQ(c.text, "Hello");
    EXPECT_EQ(c.finish_reason, "stop") << c.error;
  }
  EXPECT_EQ(events, 6) << "the broken attempt's finishes never reached the caller";
  EXPECT_EQ(upstream.requests(), 3);

  // With it, the same break is RemoteBackend's 502, retried inside chat().
  upstream.set_script({UpstreamStep::drop_before_first()});
  try {
    run_chat(*remote(upstream, 5), question());
    ADD_FAILURE() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 502);
    EXPECT_EQ(e.code, "upstream_stream_broken");
  }
  upstream.set_script({UpstreamStep::drop_before_first(), UpstreamStep::ok()});
  ResilientBackend waiting("up", remote(upstream, 5), fast_retries());
  EXPECT_EQ(run_chat(waiting, question()).choices.at(0).text, "Hello");
  EXPECT_EQ(upstream.requests(), 6);
}

TEST(ResilientBackend, NoFirstTokenInTimeIsA504ThatIsRetried) {
  ScriptedUpstream upstream({UpstreamStep::ok(3000)});
  int delivered = 0;
  try {
    remote(upstream, 0.2)->chat(question(), [&](const ChatEvent&) { ++delivered; });
    ADD_FAILURE() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 504);
    EXPECT_EQ(e.code, "upstream_timeout");
  }
  EXPECT_EQ(delivered, 0);

  upstream.set_script({UpstreamStep::ok(3000), UpstreamStep::ok()});
  ResilientBackend rb("up", remote(upstream, 0.2), fast_retries());
  EXPECT_EQ(run_chat(rb, question()).choices.at(0).text, "Hello");
  EXPECT_EQ(upstream.requests(), 3);
  EXPECT_EQ(delivered, 0) << "the abandoned call stays silent";
}

TEST(ResilientBackend, CancelEndsABackoffSleep) {
  // Inside chat(): the request's `cancelled` ends the 5 s Retry-After wait.
  ScriptedUpstream upstream({UpstreamStep::error(503, "5")});
  ResilientBackend rb("up", remote(upstream), fast_retries());
  ChatRequest r = question();
  const auto started = Clock::now();
  r.cancelled = [&] { return Clock::now() - started > std::chrono::milliseconds(200); };
  EXPECT_EQ(call_error(rb, r).status, 499);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - started).count(), 4.0) << "did not wait out the 5 s";
  EXPECT_EQ(upstream.requests(), 1);

  // On the retry thread: CallHandle::cancel() ends the backoff after a broken stream.
  upstream.set_script({UpstreamStep::drop_before_first(), UpstreamStep::ok()});
  RetryPolicy slow = fast_retries();
  slow.base_delay_s = slow.max_delay_s = 5;
  slow.jitter = 0;
  auto wrapped = std::make_unique<ResilientBackend>("up", remote(upstream), slow);
  std::atomic<int> events{0};
  auto handle = wrapped->chat(question(), [&](const ChatEvent&) { ++events; });
  ASSERT_TRUE(upstream.wait_for_requests(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the break reaches the wrapper
  handle->cancel();
  const auto cancelled_at = Clock::now();
  wrapped.reset();  // waits for the retry thread, which must end now
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - cancelled_at).count(), 4.0);
  EXPECT_EQ(events.load(), 0);
  EXPECT_EQ(upstream.requests(), 2);
}

}  // namespace
}  // namespace rpu
