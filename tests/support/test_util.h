// Helpers shared by the tests: fixture paths, temporary files, and running the rpu binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rpu::test {

std::string fixture(const std::string& relative);  // path under ../shared/fixtures
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
std::string temp_path(const std::string& name);  // unique path in a per-process temp dir

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs the rpu binary with the given arguments (each is shell-quoted), capturing output;
// `input` is fed to its standard input.
CommandResult run_rpu(const std::vector<std::string>& args, const std::string& env = "", const std::string& input = "");

}  // namespace rpu::test
