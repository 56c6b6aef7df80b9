#include "gateway/usage_log.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace rpu::gateway {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  client_key_id TEXT NOT NULL,
  route TEXT NOT NULL,
  model TEXT NOT NULL,
  request TEXT NOT NULL,
  response TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  first_token_ms REAL,
  confidence REAL,
  escalated INTEGER NOT NULL,
  error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_time ON calls(time_ms);
)sql";

// One prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      fail("usage log: cannot prepare a statement: {}", sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  void text(int i, const std::string& s) { sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
  void integer(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void real_or_null(int i, double v) { v < 0 ? sqlite3_bind_null(stmt_, i) : sqlite3_bind_double(stmt_, i, v); }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail("usage log: {}", sqlite3_errmsg(db_));
    return rc == SQLITE_ROW;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string column_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, i))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    fail("usage log: {}", text);
  }
}

sqlite3* open_database(const std::string& path, bool read_only) {
  sqlite3* db = nullptr;
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    const std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    fail("usage log '{}': cannot open: {}", path, message);
  }
  sqlite3_busy_timeout(db, 5000);  // readers (rpu logs) and the writer share the file
  return db;
}

// Closes the database when a reader is done with it.
struct Reader {
  explicit Reader(const std::string& path) : db(open_database(path, true)) {}
  ~Reader() { sqlite3_close(db); }
  sqlite3* db;
};

}  // namespace

UsageLog::UsageLog(UsageLogOptions options, bool start_writer) : options_(std::move(options)) {
  db_ = open_database(options_.path, false);
  try {
    exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    exec(db_, kSchema);
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
  if (start_writer) start();
}

UsageLog::~UsageLog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (!queue_.empty()) {  // never started: write what was queued
    std::vector<UsageRecord> rest(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    try {
      write_batch(rest);
    } catch (const Error&) {
    }
  }
  sqlite3_close(db_);
}

void UsageLog::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!writer_.joinable()) writer_ = std::thread([this] { run(); });
}

bool UsageLog::submit(UsageRecord record) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= options_.queue_capacity) {
      ++stats_.dropped;
      return false;
    }
    queue_.push_back(std::move(record));
    ++submitted_;
  }
  wake_.notify_one();
  return true;
}

void UsageLog::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t target = submitted_;
  wake_.notify_all();
  written_.wait(lock, [&] { return stats_.written + stats_.write_errors >= target || !writer_.joinable(); });
}

UsageLogStats UsageLog::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  UsageLogStats s = stats_;
  s.queued = queue_.size();
  return s;
}

void UsageLog::run() {
  std::vector<UsageRecord> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, options_.flush_interval,
                     [&] { return stopping_ || queue_.size() >= options_.batch_rows; });
      if (queue_.empty() && stopping_) return;
      const size_t n = std::min(queue_.size(), options_.batch_rows);
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    if (batch.empty()) continue;
    bool ok = true;
    try {
      write_batch(batch);
      apply_retention();
    } catch (const Error&) {
      ok = false;  // counted; the gateway keeps serving
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      (ok ? stats_.written : stats_.write_errors) += batch.size();
    }
    written_.notify_all();
    batch.clear();
  }
}

void UsageLog::write_batch(std::vector<UsageRecord>& batch) {
  exec(db_, "BEGIN");
  try {
    Statement insert(db_,
                     "INSERT INTO calls (time_ms, client_key_id, route, model, request, response, prompt_tokens, "
                     "completion_tokens, latency_ms, first_token_ms, confidence, escalated, error) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    for (const UsageRecord& r : batch) {
      insert.integer(1, r.time_ms);
      insert.text(2, r.client_key_id);
      insert.text(3, r.route);
      insert.text(4, r.model);
      insert.text(5, r.request_json);
      insert.text(6, r.response_json);
      insert.integer(7, r.prompt_tokens);
      insert.integer(8, r.completion_tokens);
      sqlite3_bind_double(insert.get(), 9, r.latency_ms);
      insert.real_or_null(10, r.first_token_ms);
      insert.real_or_null(11, r.confidence);
      insert.integer(12, r.escalated ? 1 : 0);
      insert.text(13, r.error);
      insert.step();
      insert.reset();
    }
    exec(db_, "COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void UsageLog::apply_retention() {
  if (options_.retention_days > 0) {
    Statement old(db_, "DELETE FROM calls WHERE time_ms < ?1");
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
    old.integer(1, now_ms - options_.retention_days * 86'400'000);
    old.step();
  }
  if (options_.max_rows > 0) {
    // Keep the newest max_rows rows (ids grow with insertion).
    Statement excess(db_, "DELETE FROM calls WHERE id <= (SELECT MAX(id) FROM calls) - ?1");
    excess.integer(1, options_.max_rows);
    excess.step();
  }
}

std::vector<UsageSummaryRow> summarize_usage(const std::string& path) {
  Reader reader(path);
  Statement q(reader.db,
              "SELECT route, model, COUNT(*), SUM(error <> ''), SUM(escalated), SUM(prompt_tokens), "
              "SUM(completion_tokens), AVG(latency_ms) FROM calls GROUP BY route, model ORDER BY COUNT(*) DESC");
  std::vector<UsageSummaryRow> rows;
  while (q.step()) {
    UsageSummaryRow r;
    r.route = q.column_text(0);
    r.model = q.column_text(1);
    r.calls = sqlite3_column_int64(q.get(), 2);
    r.errors = sqlite3_column_int64(q.get(), 3);
    r.escalated = sqlite3_column_int64(q.get(), 4);
    r.prompt_tokens = sqlite3_column_int64(q.get(), 5);
    r.completion_tokens = sqlite3_column_int64(q.get(), 6);
    r.mean_latency_ms = sqlite3_column_double(q.get(), 7);
    rows.push_back(std::move(r));
  }
  return rows;
}

int64_t export_openai_jsonl(const std::string& path, std::ostream& out) {
  using json = nlohmann::ordered_json;
  Reader reader(path);
  Statement q(reader.db, "SELECT request, response FROM calls WHERE error = '' AND response <> '' ORDER BY id");
  int64_t lines = 0;
  while (q.step()) {
    const json request = json::parse(q.column_text(0), nullptr, false);
    const json response = json::parse(q.column_text(1), nullptr, false);
    if (!request.is_object() || !request.contains("messages") || !request["messages"].is_array() ||
        !response.is_object()) {
      continue;  // a row this version cannot read is skipped, not exported half
    }
    json line = {{"messages", request["messages"]}};
    line["messages"].push_back(response);
    if (request.contains("tools") && request["tools"].is_array() && !request["tools"].empty()) {
      line["tools"] = request["tools"];
    }
    out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    ++lines;
  }
  return lines;
}

}  // namespace rpu::gateway
