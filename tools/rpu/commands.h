// Subcommands of the rpu command-line tool. Each registers its flags on the CLI11 app and
// returns the function that runs it (called only when that subcommand was chosen).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace rpu::cli {

using Action = std::function<int()>;

Action add_run_command(CLI::App& app);
Action add_info_command(CLI::App& app);

}  // namespace rpu::cli
