// Scrubs and logs calls off the request path. A call's raw record (messages and answer as
// the client and the model wrote them, personal data included) is moved into a bounded
// queue; one worker thread scrubs it (scrub.h: one ScrubSession per call, so the request and
// the answer share placeholders) and hands it to the UsageLog, whose own writer thread
// writes it. Raw values live only in this process's memory: nothing is written before it is
// scrubbed. A full queue drops the record (counted, /metrics), so neither scrubbing nor the
// disk can slow a call down.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "gateway/scrub.h"
#include "gateway/usage_log.h"
#include "gateway/vault.h"

namespace rpu::gateway {

class CallLogger {
 public:
  // `scrubber` null: records are logged as they are (log.scrub: false in the config).
  // `vault` (optional): each record's placeholders are sealed into its `vault` column.
  CallLogger(UsageLog& log, const Scrubber* scrubber, size_t queue_capacity = 65536, const Vault* vault = nullptr);
  ~CallLogger();  // scrubs and hands over what is queued, then stops
  CallLogger(const CallLogger&) = delete;
  CallLogger& operator=(const CallLogger&) = delete;

  // request_json / response_json / error hold raw text here. False when the queue is full.
  bool submit(UsageRecord raw);
  // Blocks until everything submitted so far is in the usage log's queue, then flushes it.
  void flush();

  struct Stats {
    uint64_t submitted = 0, dropped = 0;
    uint64_t queued = 0;  // waiting to be scrubbed now
  };
  Stats stats() const;
  const UsageLog& log() const { return log_; }

 private:
  void run();
  void scrub(UsageRecord& record) const;

  UsageLog& log_;
  const Scrubber* scrubber_;
  const Vault* vault_;
  size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<UsageRecord> queue_;
  Stats stats_;
  bool busy_ = false, stopping_ = false;
  std::thread worker_;
};

// A scrubbed copy of a record (exposed for tests): the request's messages, the response's
// messages and the error are scrubbed with one session; a text that is not JSON is scrubbed
// as text. A text the scrubber cannot finish (budget) is replaced by "<UNSCRUBBED_REMOVED>".
// With a vault, the session's placeholder -> value map is sealed into record.vault.
UsageRecord scrub_record(const Scrubber& scrubber, UsageRecord record, const Vault* vault = nullptr);

}  // namespace rpu::gateway
