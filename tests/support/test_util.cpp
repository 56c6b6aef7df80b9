#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rpu::test {

std::string fixture(const std::string& relative) {
  std::string path = RPU_FIXTURES_DIR;  // appended in place: gcc 12 misreads "a" + b + c at -O3 (-Warray-bounds)
  path += '/';
  path += relative;
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + path);
}

namespace {

// The process's scratch directory, removed when the process exits: ctest runs every test as its
// own process, so one suite run would otherwise leave a thousand directories (with model files
// in them) behind. Nothing forks without exec here, so only the creating process removes it.
struct ScratchDirectory {
  std::filesystem::path path = std::filesystem::temp_directory_path() / "rpu_tests_";
  ScratchDirectory() {
    path += std::to_string(::getpid());
    std::filesystem::create_directories(path);
  }
  ~ScratchDirectory() {
    std::error_code ignored;  // a file still open elsewhere must not turn exit into a crash
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

std::string temp_path(const std::string& name) {
  static const ScratchDirectory dir;
  return (dir.path / name).string();
}

namespace {
std::string shell_quote(const std::string& s) {
  std::string q(1, '\'');
  for (char c : s) {
    if (c == '\'') {
      q.append("'\\''");
    } else {
      q.push_back(c);
    }
  }
  q.push_back('\'');
  return q;
}
}  // namespace

CommandResult run_rpu(const std::vector<std::string>& args, const std::string& env, const std::string& input) {
  static int counter = 0;
  const std::string in_path = temp_path("cmd_in_" + std::to_string(counter));
  write_file(in_path, input);
  const std::string out_path = temp_path("cmd_out_" + std::to_string(counter));
  const std::string err_path = temp_path("cmd_err_" + std::to_string(counter++));
  std::string command = env.empty() ? "" : env + " ";
  command += shell_quote(RPU_BINARY);
  for (const auto& a : args) {
    command.push_back(' ');
    command.append(shell_quote(a));
  }
  command.append(" <").append(shell_quote(in_path)).append(" >").append(shell_quote(out_path)).append(" 2>").append(shell_quote(err_path));
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace rpu::test
