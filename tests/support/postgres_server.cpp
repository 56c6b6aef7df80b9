#include "postgres_server.h"

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rpu::test {
namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A port nothing listens on. The server only listens on its own socket folder, where the port
// just names the socket file, but a free TCP port keeps that true if TCP is ever turned on.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  if (port == 0) throw std::runtime_error("postgres: no free port");
  return port;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// initdb and postgres refuse root: give the folder to `postgres` and run as that user.
const passwd* postgres_user_if_root() {
  if (::geteuid() != 0) return nullptr;
  const passwd* user = ::getpwnam("postgres");
  if (user == nullptr) throw std::runtime_error("postgres: running as root and there is no 'postgres' user to run as");
  return user;
}

}  // namespace

bool PostgresServer::installed() {
  for (const char* program : {"initdb", "pg_ctl", "postgres"}) {
    if (::access((std::string(kBinDir) + "/" + program).c_str(), X_OK) != 0) return false;
  }
  return true;
}

PostgresServer::PostgresServer(const std::string& settings) {
  char dir_template[] = "/tmp/rpu-pg-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("postgres: cannot create a temporary folder");
  dir_ = dir_template;
  port_ = free_port();
  try {
    if (const passwd* user = postgres_user_if_root()) {
      if (::chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) throw std::runtime_error("postgres: cannot chown " + dir_);
    }
    run("initdb -D " + quote(dir_ + "/data") + " -A trust -U rpu -E UTF8 --no-locale --no-sync");
    const std::string options = "-p " + std::to_string(port_) + " -k " + quote(dir_) + " -c listen_addresses='' " + settings;
    run("pg_ctl -D " + quote(dir_ + "/data") + " -l " + quote(dir_ + "/server.log") + " -o \"" + options + "\" -w start");
    started_ = true;
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

PostgresServer::~PostgresServer() {
  try {
    if (started_) run("pg_ctl -D " + quote(dir_ + "/data") + " -m immediate stop");
  } catch (const std::exception&) {
    // Removing the folder below still takes the socket away; nothing more to do in a destructor.
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void PostgresServer::create_database(const std::string& name) const {
  run("createdb -h " + quote(dir_) + " -p " + std::to_string(port_) + " -U rpu " + quote(name));
}

std::string PostgresServer::uri(const std::string& database) const {
  return "postgresql://rpu@/" + database + "?host=" + dir_ + "&port=" + std::to_string(port_);
}

void PostgresServer::run(const std::string& program_and_args) const {
  const std::string output = dir_ + "/command.out";
  std::string command = "cd " + quote(dir_) + " && ";  // a folder the postgres user may enter
  if (postgres_user_if_root() != nullptr) command += "runuser -u postgres -- ";
  command += std::string(kBinDir) + "/" + program_and_args + " >" + quote(output) + " 2>&1";
  const int status = std::system(command.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("postgres: '" + program_and_args + "' failed: " + read_all(output) + read_all(dir_ + "/server.log"));
  }
}

}  // namespace rpu::test
