// The usage log in an SQLite file: WAL mode with synchronous=NORMAL, so a committed batch
// survives the process being killed (WAL frames reach the operating system at commit); only a
// power loss or OS crash can lose the last batches. Readers (rpu logs) open the file read-only
// beside the writer.
#include "core/error.h"
#include "gateway/usage_store.h"
#include "storage/sqlite.h"

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

using storage::Database;
using storage::OpenMode;
using storage::Statement;

class SqliteUsageStore final : public UsageStore {
 public:
  // Readers (rpu logs) open the file read-only beside the writer.
  SqliteUsageStore(const std::string& path, StoreAccess access)
      : db_(path, access == StoreAccess::kRead ? OpenMode::kReadOnly : OpenMode::kCreate, "usage log '" + path + "'") {
    if (access == StoreAccess::kRead) return;
    db_.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    db_.exec(kSchema);
    add_missing_columns();
  }
  SqliteUsageStore(const SqliteUsageStore&) = delete;
  SqliteUsageStore& operator=(const SqliteUsageStore&) = delete;

  void write_batch(const std::vector<UsageRecord>& batch) override {
    storage::Transaction transaction(db_, false);
    insert_rows(batch);
    transaction.commit();
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
      r.mean_latency_ms = q.column_real(7);
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
      auto real = [&](int i) { return q.column_is_null(i) ? -1.0 : q.column_real(i); };
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
      insert.real(9, r.latency_ms);
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
    if (!has_kind) db_.exec("ALTER TABLE calls ADD COLUMN kind TEXT NOT NULL DEFAULT 'primary'");
    if (!has_vault) db_.exec("ALTER TABLE calls ADD COLUMN vault TEXT NOT NULL DEFAULT ''");
  }

  Database db_;
};

}  // namespace

std::unique_ptr<UsageStore> open_sqlite_usage_store(const std::string& path, StoreAccess access) {
  return std::make_unique<SqliteUsageStore>(path, access);
}

}  // namespace rpu::gateway
