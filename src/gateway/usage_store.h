// Where the usage log's rows are kept. UsageLog owns the queue and the writer thread; a store
// only turns batches into rows and rows back into summaries, so a new database is one class.
//
// A location names the store: a `postgres://` or `postgresql://` URI (a libpq connection
// string) selects PostgreSQL, anything else is an SQLite file path. Both hold the same `calls`
// table (one row per call, columns as in UsageRecord).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/usage_log.h"

namespace rpu::gateway {

class UsageStore {
 public:
  virtual ~UsageStore() = default;
  // Writes the rows in one transaction: all or none. Throws rpu::Error on failure.
  virtual void write_batch(const std::vector<UsageRecord>& batch) = 0;
  // Deletes rows with time_ms < oldest_time_ms (when > 0) and all but the newest max_rows
  // rows (when > 0). Throws rpu::Error on failure.
  virtual void apply_retention(int64_t oldest_time_ms, int64_t max_rows) = 0;
  // Calls, errors, escalations, tokens and latency by route and model, busiest first.
  virtual std::vector<UsageSummaryRow> summarize() = 0;
  // Every row with id > after_id, oldest first, as written (the export and the conversion loop
  // read them; a PostgreSQL store pages, so a large log is never held in memory at once).
  using RowVisitor = std::function<void(int64_t id, const UsageRecord& row)>;
  virtual void each_row(int64_t after_id, const RowVisitor& row) = 0;
};

// The `calls` table's columns after `id`, in UsageRecord's order: both stores write and read
// them in this order ("time_ms, client_key_id, ..., vault").
extern const std::vector<std::string> kUsageColumns;
std::string usage_columns_sql();

enum class StoreAccess { kWrite, kRead };  // kWrite creates the database and table when missing

// Opens the store a location names; throws rpu::Error naming it (without a password).
std::unique_ptr<UsageStore> open_usage_store(const std::string& location, StoreAccess access);
std::unique_ptr<UsageStore> open_sqlite_usage_store(const std::string& path, StoreAccess access);
std::unique_ptr<UsageStore> open_postgres_usage_store(const std::string& uri, StoreAccess access);

bool is_postgres_location(std::string_view location);
// The location as it may appear in a message or a log: a URI's password is removed.
std::string redact_location(std::string_view location);

}  // namespace rpu::gateway
