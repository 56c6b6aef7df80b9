// A thin RAII layer over SQLite for the stores built on it (the gateway's usage log, the
// knowledge bases): an open database, prepared statements finalized on scope exit, and
// transactions rolled back unless committed. Every error is rpu::Error prefixed with what
// the store is ("usage log", "knowledge base 'docs.kb'"), so messages name the file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace rpu::storage {

enum class OpenMode { kReadOnly, kReadWrite, kCreate };

class Database {
 public:
  // `label` prefixes every error message. busy_timeout_ms: how long a statement waits for
  // another connection's lock before failing.
  Database(const std::string& path, OpenMode mode, std::string label, int busy_timeout_ms = 5000);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& label() const { return label_; }
  void exec(const char* sql);  // one or more statements without results
  int64_t last_insert_id() const;
  int changes() const;
  [[noreturn]] void fail_with(std::string_view what) const;  // "<label>: <what>: <sqlite message>"

 private:
  sqlite3* db_ = nullptr;
  std::string label_;
};

class Statement {
 public:
  Statement(Database& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binding (1-based, as SQLite numbers parameters).
  Statement& text(int i, std::string_view s);
  Statement& integer(int i, int64_t v);
  Statement& real(int i, double v);
  Statement& real_or_null(int i, double v);  // negative: NULL
  Statement& blob(int i, std::span<const uint8_t> bytes);
  Statement& null(int i);

  bool step();  // true: a row is available
  void run() { step(); }
  void reset();  // ready to bind and step again

  std::string column_text(int i) const;
  int64_t column_int(int i) const;
  double column_real(int i) const;
  bool column_is_null(int i) const;
  std::span<const uint8_t> column_blob(int i) const;  // valid until the next step/reset

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN (IMMEDIATE: takes the write lock now, so two writers find out at once) ... COMMIT;
// rolled back when destroyed without commit() (an exception on the way out).
class Transaction {
 public:
  explicit Transaction(Database& db, bool immediate = true);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool open_ = true;
};

}  // namespace rpu::storage
