// rpu scrub [FILE]: replaces personal data in a text (or, with --messages, in an OpenAI
// messages JSON array) with typed placeholders, as the gateway does before logging
// (src/gateway/scrub.h). Reads FILE, or standard input when FILE is absent or "-".
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "commands.h"
#include "core/error.h"
#include "core/json_text.h"
#include "gateway/scrub.h"

namespace rpu::cli {
namespace {

struct ScrubOptions {
  std::string path;
  bool messages = false;
  bool types = false;
};

std::string read_input(const std::string& path) {
  if (path.empty() || path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int scrub(const ScrubOptions& o) {
  const std::string input = read_input(o.path);
  const gateway::Scrubber scrubber;
  gateway::ScrubSession session(scrubber);
  if (o.messages) {
    auto messages = parse_json_text(input, o.path.empty() ? "stdin" : o.path);
    if (!messages.is_array()) fail("{}: --messages expects a JSON array of messages", o.path.empty() ? "stdin" : o.path);
    session.scrub_messages(messages);
    fmt::print("{}\n", messages.dump(2));
  } else {
    fmt::print("{}", session.scrub(input));
  }
  if (o.types) {
    for (size_t t = 0; t < gateway::kPiiTypeCount; ++t) {
      if (session.counts()[t] == 0) continue;
      fmt::print(stderr, "{} {}\n", gateway::pii_type_name(static_cast<gateway::PiiType>(t)), session.counts()[t]);
    }
  }
  return 0;
}

}  // namespace

Action add_scrub_command(CLI::App& app) {
  auto o = std::make_shared<ScrubOptions>();
  CLI::App* cmd = app.add_subcommand("scrub", "replace personal data in a text with typed placeholders");
  cmd->add_option("file", o->path, "text file to scrub (default: standard input)");
  cmd->add_flag("--messages", o->messages, "the input is an OpenAI messages JSON array");
  cmd->add_flag("--types", o->types, "print the number of distinct values per type to stderr");
  return [o] { return scrub(*o); };
}

}  // namespace rpu::cli
