// A throwaway PostgreSQL 15 server (Debian's postgresql-15) for tests and benchmarks: initdb
// into a temporary folder, pg_ctl start with its Unix socket in that folder and no TCP, stopped
// (immediate) and removed when destroyed. Independent of GoogleTest so the benchmarks use it too.
//
// initdb and postgres refuse to run as root; as root (CI containers) they run as the `postgres`
// user the package creates (runuser), and the folder is given to that user.
#pragma once

#include <string>

namespace rpu::test {

class PostgresServer {
 public:
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
  static bool installed();  // initdb, pg_ctl and postgres are there

  // Starts the server (superuser `rpu`, trust authentication, UTF-8). `settings` are extra
  // server flags, e.g. "-c fsync=off". Throws std::runtime_error with the command's output.
  explicit PostgresServer(const std::string& settings = "");
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  void create_database(const std::string& name) const;
  // postgresql://rpu@/NAME?host=SOCKET_DIR&port=PORT
  std::string uri(const std::string& database) const;
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  // Runs a PostgreSQL program from kBinDir (as `postgres` when root) in the folder; throws
  // with its output when it fails.
  void run(const std::string& program_and_args) const;

  std::string dir_;  // the temporary folder: data/, the socket, logs
  int port_ = 0;
  bool started_ = false;
};

}  // namespace rpu::test
