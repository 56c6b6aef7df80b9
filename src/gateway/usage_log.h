// The gateway's usage log (S1 of the conversion loop): one row per call, written off the
// request path to an SQLite file or, so that several gateways share one log, to PostgreSQL
// (usage_store.h: a `postgres://` location).
//
// - submit() only moves the record into a bounded in-memory queue; a writer thread drains it
//   every `flush_interval` (or sooner when a batch is full) and writes the batch in one
//   transaction. A full queue drops the record and counts it (`dropped`), so a slow disk or
//   database never slows a call; /metrics reports the count. A batch the store refuses (the
//   database went away) is counted in `write_errors`; the next batch tries again (PostgreSQL
//   reconnects).
// - SQLite runs in WAL mode with synchronous=NORMAL: a committed batch survives the process
//   being killed (kill -9), because WAL frames reach the operating system at commit; only a
//   power loss or OS crash can lose the last batches. On kill -9 the records still in the queue
//   are lost: at most one flush interval (100 ms by default) of calls. PostgreSQL keeps a
//   committed batch as its server is configured to.
// - Retention: rows older than `retention_days` and, beyond `max_rows`, the oldest rows are
//   deleted after writes (0 = keep).
// Records are expected to be scrubbed of personal data before they are submitted.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>


namespace rpu::gateway {

class UsageStore;

struct UsageRecord {
  int64_t time_ms = 0;           // Unix time of the call's start, milliseconds
  std::string client_key_id;     // a short id of the client's key, never the key
  std::string route, model;      // the route that served the call and the model that answered
  std::string request_json;      // {"messages": [...], "tools": [...]} as sent (scrubbed)
  std::string response_json;     // the assistant message(s) returned, or empty
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double latency_ms = 0, first_token_ms = -1;  // -1: no token was streamed
  double confidence = -1;                       // -1: none reported
  bool escalated = false;                       // answered by the upstream after the local model
  std::string error;                            // empty when the call succeeded
  std::string kind = "primary";                 // "primary": the client got this answer; "shadow": compared only
  std::string vault;                            // the call's placeholders sealed by the vault (vault.h), or empty
};

struct UsageLogOptions {
  // Where rows go: an SQLite file, or a `postgres://` / `postgresql://` URI (a libpq connection
  // string). The file or table is created with the schema when missing.
  std::string path;
  size_t queue_capacity = 65536;
  std::chrono::milliseconds flush_interval{100};
  size_t batch_rows = 4096;  // most rows per transaction
  int64_t retention_days = 0;
  int64_t max_rows = 0;
};

struct UsageLogStats {
  uint64_t written = 0, dropped = 0, queued = 0, write_errors = 0;
};

class UsageLog {
 public:
  // Opens (or creates) the database and its schema; throws rpu::Error naming the location
  // (without a password). The writer thread starts at once unless `start_writer` is false
  // (then at start()).
  explicit UsageLog(UsageLogOptions options, bool start_writer = true);
  ~UsageLog();  // writes what is queued, then closes
  UsageLog(const UsageLog&) = delete;
  UsageLog& operator=(const UsageLog&) = delete;

  void start();
  // Queues a record; false (and counted as dropped) when the queue is full.
  bool submit(UsageRecord record);
  // Blocks until everything submitted so far is written.
  void flush();
  UsageLogStats stats() const;

 private:
  void run();
  bool write(const std::vector<UsageRecord>& batch);

  UsageLogOptions options_;
  std::unique_ptr<UsageStore> store_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, written_;
  std::deque<UsageRecord> queue_;
  UsageLogStats stats_;
  uint64_t submitted_ = 0;
  bool stopping_ = false;
  std::thread writer_;
};

// A logged call read back: the request's messages and tools, and the first choice's
// assistant message (the gateway logs the choices as an array of assistant messages; older
// rows hold one message). Nullopt for a row that is not such a call (unparsable, or too deeply
// nested: the JSON goes through core/json_text.h like every JSON file rpu reads).
struct LoggedExchange {
  nlohmann::ordered_json messages, tools, answer;  // tools: null when the call had none
  int max_tokens = 0;                              // the request's max_tokens; 0: none logged
};
std::optional<LoggedExchange> read_exchange(const std::string& request_json, const std::string& response_json);

// Reading a log (rpu logs): `location` is a file or a postgres:// URI, as in UsageLogOptions.
struct UsageSummaryRow {
  std::string route, model;
  int64_t calls = 0, errors = 0, escalated = 0, prompt_tokens = 0, completion_tokens = 0;
  double mean_latency_ms = 0;
};
std::vector<UsageSummaryRow> summarize_usage(const std::string& location);
// Each successful call the client got (kind "primary") as one line of OpenAI's fine-tuning
// chat format: {"messages": [...request messages..., {assistant reply}], "tools": [...]}.
// With `reveal_with`, the placeholders of calls that have a vault entry are put back to the
// original values (throws VaultError when the key does not open them). Returns the lines written.
class Vault;
int64_t export_openai_jsonl(const std::string& location, std::ostream& out, const Vault* reveal_with = nullptr);

}  // namespace rpu::gateway
