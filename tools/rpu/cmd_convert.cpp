// rpu convert: the conversion loop (issue 13) over the gateway's usage log, one subcommand per
// step (convert_steps.h). This file only gathers them.
#include <memory>

#include "commands.h"
#include "convert_steps.h"

namespace rpu::cli {

Action add_convert_command(CLI::App& app) {
  CLI::App* convert = app.add_subcommand("convert", "turn logged large-model calls into small specialists");
  convert->require_subcommand(1);
  auto steps = std::make_shared<ConvertSteps>();
  add_convert_cluster(*convert, *steps);
  add_convert_select(*convert, *steps);
  add_convert_train(*convert, *steps);
  add_convert_deploy(*convert, *steps);
  add_convert_run(*convert, *steps);
  add_convert_watch(*convert, *steps);
  add_convert_report(*convert, *steps);
  return [steps]() {
    for (const auto& [command, run] : *steps) {
      if (command->parsed()) return run();
    }
    return 2;  // unreachable: CLI11 requires one step
  };
}

}  // namespace rpu::cli
