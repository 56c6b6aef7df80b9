// The usage log in an SQLite file: WAL mode with synchronous=NORMAL, so a committed batch
// survives the process being killed (WAL frames reach the operating system at commit); only a
// power loss or OS crash can lose the last batches. Readers (rpu logs) open the file read-only
// beside the writer.
#include <sqlite3.h>

#include "core/error.h"
#include "gateway/usage_store.h"

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
  error TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'primary',
  vault TEXT NOT NULL DEFAULT ''
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
  int64_t column_int(int i) const { return sqlite3_column_int64(stmt_, i); }

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

sqlite3* open_database(const std::string& path, StoreAccess access) {
  sqlite3* db = nullptr;
  const int flags = access == StoreAccess::kRead ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    const std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    fail("usage log '{}': cannot open: {}", path, message);
  }
  sqlite3_busy_timeout(db, 5000);  // readers (rpu logs) and the writer share the file
  return db;
}

class SqliteUsageStore final : public UsageStore {
 public:
  SqliteUsageStore(const std::string& path, StoreAccess access) : db_(open_database(path, access)) {
    if (access == StoreAccess::kRead) return;
    try {
      exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
      exec(db_, kSchema);
      add_missing_columns();
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
  }
  ~SqliteUsageStore() override { sqlite3_close(db_); }
  SqliteUsageStore(const SqliteUsageStore&) = delete;
  SqliteUsageStore& operator=(const SqliteUsageStore&) = delete;

  void write_batch(const std::vector<UsageRecord>& batch) override {
    exec(db_, "BEGIN");
    try {
      insert_rows(batch);
      exec(db_, "COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  void apply_retention(int64_t oldest_time_ms, int64_t max_rows) override {
    if (oldest_time_ms > 0) {
      Statement old(db_, "DELETE FROM calls WHERE time_ms < ?1");
      old.integer(1, oldest_time_ms);
      old.step();
    }
    if (max_rows > 0) {
      // Keep the newest max_rows rows (ids grow with insertion, one writer: no gaps).
      Statement excess(db_, "DELETE FROM calls WHERE id <= (SELECT MAX(id) FROM calls) - ?1");
      excess.integer(1, max_rows);
      excess.step();
    }
  }

  std::vector<UsageSummaryRow> summarize() override {
    Statement q(db_,
                "SELECT route, model, COUNT(*), SUM(error <> ''), SUM(escalated), SUM(prompt_tokens), "
                "SUM(completion_tokens), AVG(latency_ms) FROM calls GROUP BY route, model "
                "ORDER BY COUNT(*) DESC, route, model");
    std::vector<UsageSummaryRow> rows;
    while (q.step()) {
      UsageSummaryRow r;
      r.route = q.column_text(0);
      r.model = q.column_text(1);
      r.calls = q.column_int(2);
      r.errors = q.column_int(3);
      r.escalated = q.column_int(4);
      r.prompt_tokens = q.column_int(5);
      r.completion_tokens = q.column_int(6);
      r.mean_latency_ms = sqlite3_column_double(q.get(), 7);
      rows.push_back(std::move(r));
    }
    return rows;
  }

  void each_row(int64_t after_id, const RowVisitor& visit) override {
    const std::string sql = "SELECT id, " + usage_columns_sql() + " FROM calls WHERE id > ?1 ORDER BY id";
    Statement q(db_, sql.c_str());
    q.integer(1, after_id);
    while (q.step()) {
      UsageRecord r;
      auto real = [&](int i) { return sqlite3_column_type(q.get(), i) == SQLITE_NULL ? -1.0 : sqlite3_column_double(q.get(), i); };
      r.time_ms = q.column_int(1);
      r.client_key_id = q.column_text(2);
      r.route = q.column_text(3);
      r.model = q.column_text(4);
      r.request_json = q.column_text(5);
      r.response_json = q.column_text(6);
      r.prompt_tokens = q.column_int(7);
      r.completion_tokens = q.column_int(8);
      r.latency_ms = real(9);
      r.first_token_ms = real(10);
      r.confidence = real(11);
      r.escalated = q.column_int(12) != 0;
      r.error = q.column_text(13);
      r.kind = q.column_text(14);
      r.vault = q.column_text(15);
      visit(q.column_int(0), r);
    }
  }

 private:
  void insert_rows(const std::vector<UsageRecord>& batch) {
    std::string sql = "INSERT INTO calls (" + usage_columns_sql() + ") VALUES (";
    for (size_t i = 1; i <= kUsageColumns.size(); ++i) sql += (i > 1 ? ", ?" : "?") + std::to_string(i);
    Statement insert(db_, (sql + ")").c_str());
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
      insert.text(14, r.kind);
      insert.text(15, r.vault);
      insert.step();
      insert.reset();
    }
  }

  // A log written before a column existed gets it (with its default) on the next start.
  void add_missing_columns() {
    bool has_kind = false, has_vault = false;
    Statement q(db_, "SELECT name FROM pragma_table_info('calls')");
    while (q.step()) {
      has_kind |= q.column_text(0) == "kind";
      has_vault |= q.column_text(0) == "vault";
    }
    if (!has_kind) exec(db_, "ALTER TABLE calls ADD COLUMN kind TEXT NOT NULL DEFAULT 'primary'");
    if (!has_vault) exec(db_, "ALTER TABLE calls ADD COLUMN vault TEXT NOT NULL DEFAULT ''");
  }

  sqlite3* db_;
};

}  // namespace

std::unique_ptr<UsageStore> open_sqlite_usage_store(const std::string& path, StoreAccess access) {
  return std::make_unique<SqliteUsageStore>(path, access);
}

}  // namespace rpu::gateway
