#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rpu::test {

std::string fixture(const std::string& relative) { return std::string(RPU_FIXTURES_DIR) + "/" + relative; }

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

std::string temp_path(const std::string& name) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("rpu_tests_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return (dir / name).string();
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
