// The usage log in PostgreSQL (libpqxx), so several gateways share one log. The `calls` table
// has the SQLite file's columns with PostgreSQL types; a batch goes in with COPY in one
// transaction. The connection is made at open (a failure there is an error naming the location
// without its password); a batch that fails later drops a broken connection, and the next
// batch connects again.
#include <fmt/format.h>

#include <pqxx/pqxx>

#include <cstdlib>
#include <tuple>

#include "core/error.h"
#include "gateway/usage_store.h"
#include "core/text.h"
#include "tokenizer/unicode.h"

namespace rpu::gateway {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS calls (
  id bigserial PRIMARY KEY,
  time_ms bigint NOT NULL,
  client_key_id text NOT NULL,
  route text NOT NULL,
  model text NOT NULL,
  request text NOT NULL,
  response text NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  latency_ms double precision NOT NULL,
  first_token_ms double precision,
  confidence double precision,
  escalated boolean NOT NULL,
  error text NOT NULL,
  kind text NOT NULL DEFAULT 'primary',
  vault text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS calls_time ON calls(time_ms);
)sql";

// A log created before a column existed gets it on the next start.
constexpr const char* kAddMissingColumns = R"sql(
ALTER TABLE calls ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'primary';
ALTER TABLE calls ADD COLUMN IF NOT EXISTS vault text NOT NULL DEFAULT '';
)sql";

// Gateways starting together would race in CREATE TABLE IF NOT EXISTS (PostgreSQL can then
// fail on its catalog's unique index), so schema creation holds this transaction-level lock.
constexpr int64_t kSchemaLockKey = 0x7270755f6c6f67;  // "rpu_log"

// libpq waits for the operating system's TCP timeout (minutes) on an unreachable host; the
// writer would stall that long per batch, so a connect timeout is added unless one is set.
std::string with_defaults(const std::string& uri) {
  std::string out = uri;
  const char* separator = uri.find('?') == std::string::npos ? "?" : "&";
  if (uri.ends_with('?') || uri.ends_with('&')) separator = "";
  if (uri.find("connect_timeout=") == std::string::npos && std::getenv("PGCONNECT_TIMEOUT") == nullptr) {
    out += separator;
    out += "connect_timeout=5";
    separator = "&";
  }
  if (uri.find("application_name=") == std::string::npos) {
    out += separator;
    out += "fallback_application_name=rpu";
  }
  return out;
}


// PostgreSQL text must be valid UTF-8 without NUL bytes, while SQLite stores any bytes; one
// such field would fail its whole batch, so the bad bytes become U+FFFD instead.
std::string postgres_text(const std::string& s) {
  if (s.find('\0') == std::string::npos && unicode::is_valid_utf8(s)) return s;
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    size_t length = 1;
    const char32_t cp = unicode::decode(s, i, length);
    unicode::append_utf8(out, cp == unicode::kInvalid || cp == 0 ? U'\uFFFD' : cp);
    i += length;
  }
  return out;
}

// UsageRecord's -1 means "none": NULL in the table, as in SQLite. Doubles are written in their
// shortest exact form, so a value reads back unchanged.
std::string real(double v) { return fmt::format("{}", v); }

class PostgresUsageStore final : public UsageStore {
 public:
  PostgresUsageStore(const std::string& uri, StoreAccess access)
      : conninfo_(with_defaults(uri)), name_(redact_location(uri)) {
    connection();
    if (access == StoreAccess::kWrite) guarded("cannot create the table", [&] { create_schema(); });
  }

  void write_batch(const std::vector<UsageRecord>& batch) override {
    guarded("cannot write", [&] {
      pqxx::work tx(connection());
      pqxx::stream_to copy(tx, "calls", kUsageColumns);
      for (const UsageRecord& r : batch) write_row(copy, r);
      copy.complete();
      tx.commit();
    });
  }

  void apply_retention(int64_t oldest_time_ms, int64_t max_rows) override {
    if (oldest_time_ms <= 0 && max_rows <= 0) return;
    guarded("cannot apply retention", [&] {
      pqxx::work tx(connection());
      if (oldest_time_ms > 0) tx.exec_params("DELETE FROM calls WHERE time_ms < $1", oldest_time_ms);
      // Ids come from one sequence shared by every gateway, so the newest max_rows ids are the
      // newest rows (a failed batch's unused ids make it keep a few fewer).
      if (max_rows > 0) tx.exec_params("DELETE FROM calls WHERE id <= (SELECT MAX(id) FROM calls) - $1", max_rows);
      tx.commit();
    });
  }

  std::vector<UsageSummaryRow> summarize() override {
    std::vector<UsageSummaryRow> rows;
    guarded("cannot read", [&] {
      pqxx::read_transaction tx(connection());
      const pqxx::result result = tx.exec(
          "SELECT route, model, COUNT(*), COUNT(*) FILTER (WHERE error <> ''), COUNT(*) FILTER (WHERE escalated), "
          "SUM(prompt_tokens)::bigint, SUM(completion_tokens)::bigint, AVG(latency_ms) "
          "FROM calls GROUP BY route, model ORDER BY COUNT(*) DESC, route, model");
      for (const pqxx::row& row : result) rows.push_back(summary_row(row));
    });
    return rows;
  }

  void each_row(int64_t after_id, const RowVisitor& visit) override {
    guarded("cannot read", [&] {
      pqxx::read_transaction tx(connection());
      int64_t last_id = after_id;
      for (;;) {
        const pqxx::result page = tx.exec_params(
            "SELECT id, " + usage_columns_sql() + " FROM calls WHERE id > $1 ORDER BY id LIMIT 1000", last_id);
        for (const pqxx::row& row : page) {
          last_id = row[0].as<int64_t>();
          auto real = [&](int i) { return row[i].is_null() ? -1.0 : row[i].as<double>(); };
          UsageRecord r;
          r.time_ms = row[1].as<int64_t>();
          r.client_key_id = text(row[2]);
          r.route = text(row[3]);
          r.model = text(row[4]);
          r.request_json = text(row[5]);
          r.response_json = text(row[6]);
          r.prompt_tokens = row[7].as<int64_t>();
          r.completion_tokens = row[8].as<int64_t>();
          r.latency_ms = real(9);
          r.first_token_ms = real(10);
          r.confidence = real(11);
          r.escalated = row[12].as<bool>();
          r.error = text(row[13]);
          r.kind = text(row[14]);
          r.vault = text(row[15]);
          visit(last_id, r);
        }
        if (page.size() < 1000) return;
      }
    });
  }

 private:
  pqxx::connection& connection() {
    if (connection_ && connection_->is_open()) return *connection_;
    connection_.reset();
    try {
      connection_ = std::make_unique<pqxx::connection>(conninfo_);
      connection_->set_client_encoding("UTF8");
    } catch (const std::exception& e) {
      connection_.reset();
      // libpq's messages span lines ("...refused\n\tIs the server running..."); an rpu::Error is one.
      fail("usage log '{}': cannot connect: {}", name_, collapse_whitespace(e.what()));
    }
    return *connection_;
  }

  void create_schema() {
    pqxx::work tx(connection());
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kSchemaLockKey);
    // Only when missing: a role allowed to write rows but not to create indexes still works.
    if (tx.exec("SELECT to_regclass('calls') IS NULL")[0][0].as<bool>()) {
      tx.exec(kSchema);
    } else {
      tx.exec(kAddMissingColumns);
    }
    tx.commit();
  }

  // Runs a database step; its failure becomes an rpu::Error naming the log, and a connection
  // that broke is dropped so that the next call connects again.
  template <typename Step>
  void guarded(const char* what, Step&& step) {
    try {
      step();
    } catch (const Error&) {
      throw;  // already says which log (connection())
    } catch (const std::exception& e) {
      if (connection_ && !connection_->is_open()) connection_.reset();
      if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) connection_.reset();
      fail("usage log '{}': {}: {}", name_, what, collapse_whitespace(e.what()));
    }
  }

  static void write_row(pqxx::stream_to& copy, const UsageRecord& r) {
    const std::string latency = real(r.latency_ms), first_token = real(r.first_token_ms),
                      confidence = real(r.confidence);
    copy << std::make_tuple(r.time_ms, postgres_text(r.client_key_id), postgres_text(r.route), postgres_text(r.model),
                            postgres_text(r.request_json), postgres_text(r.response_json), r.prompt_tokens,
                            r.completion_tokens, latency.c_str(), r.first_token_ms < 0 ? nullptr : first_token.c_str(),
                            r.confidence < 0 ? nullptr : confidence.c_str(), r.escalated, postgres_text(r.error),
                            postgres_text(r.kind), postgres_text(r.vault));
  }

  static std::string text(const pqxx::field& field) { return std::string(field.c_str(), field.size()); }

  static UsageSummaryRow summary_row(const pqxx::row& row) {
    UsageSummaryRow r;
    r.route = text(row[0]);
    r.model = text(row[1]);
    r.calls = row[2].as<int64_t>();
    r.errors = row[3].as<int64_t>();
    r.escalated = row[4].as<int64_t>();
    r.prompt_tokens = row[5].as<int64_t>(0);
    r.completion_tokens = row[6].as<int64_t>(0);
    r.mean_latency_ms = row[7].as<double>(0);
    return r;
  }

  std::string conninfo_;  // the URI as given, plus defaults; holds the password, never shown
  std::string name_;      // the URI without its password, for messages
  std::unique_ptr<pqxx::connection> connection_;
};

}  // namespace

std::unique_ptr<UsageStore> open_postgres_usage_store(const std::string& uri, StoreAccess access) {
  return std::make_unique<PostgresUsageStore>(uri, access);
}

}  // namespace rpu::gateway
