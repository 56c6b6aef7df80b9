// An interim `rpu convert` parent holding only the select and train steps, until the `cluster`
// branch's tools/rpu/cmd_convert.cpp (which registers every step) is merged: then delete this
// file and its two lines in commands.h / main.cpp.
#include "commands.h"
#include "convert_call_flags.h"

namespace rpu::cli {

Action add_convert_command(CLI::App& app) {
  auto steps = std::make_shared<ConvertSteps>();
  CLI::App* cmd = app.add_subcommand("convert", "the conversion loop: turn logged calls into specialists");
  cmd->require_subcommand(1);
  add_convert_select(*cmd, *steps);
  add_convert_train(*cmd, *steps);
  return [steps]() -> int {
    for (const auto& [sub, run] : *steps) {
      if (sub->parsed()) return run();
    }
    return 2;
  };
}

}  // namespace rpu::cli
