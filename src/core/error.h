// Error handling for rpu: every failure a user can cause (bad file, bad flag, bad JSON)
// is reported as an rpu::Error carrying one clear, human-readable line. Callers at the
// edge (CLI, server) catch it and turn it into an exit code or an HTTP error.
#pragma once

#include <fmt/core.h>

#include <stdexcept>
#include <string>

namespace rpu {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// fail("tensor '{}' has {} dims", name, n) throws rpu::Error with the formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace rpu
