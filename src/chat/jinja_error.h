// Errors inside the jinja engine. A JinjaError carries the template line it was raised at (0 until
// the evaluator attaches the line of the innermost node); ChatTemplate turns it into one clear
// rpu::Error line for the user.
#pragma once

#include <string>
#include <utility>

#include "core/error.h"

namespace rpu::jinja {

class JinjaError : public Error {
 public:
  explicit JinjaError(std::string message, int line = 0)
      : Error(line > 0 ? "chat template line " + std::to_string(line) + ": " + message : "chat template: " + message),
        message_(std::move(message)),
        line_(line) {}
  const std::string& message() const { return message_; }
  int line() const { return line_; }

 private:
  std::string message_;
  int line_;
};

// raise_exception(msg) in a template: the template author's own message, passed through verbatim.
class TemplateRaised : public Error {
 public:
  explicit TemplateRaised(const std::string& message) : Error(message) {}
};

[[noreturn]] inline void raise(std::string message, int line = 0) { throw JinjaError(std::move(message), line); }

}  // namespace rpu::jinja
