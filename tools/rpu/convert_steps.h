// The steps of `rpu convert` (the conversion loop, issue 13). Each step lives in its own file
// (cmd_convert_<step>.cpp): it adds its subcommand to `convert` and appends the subcommand with
// the function that runs it; cmd_convert.cpp runs the one that was parsed.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <utility>
#include <vector>

namespace rpu::cli {

using ConvertSteps = std::vector<std::pair<CLI::App*, std::function<int()>>>;

void add_convert_cluster(CLI::App& convert, ConvertSteps& steps);  // S3: cmd_convert_cluster.cpp
void add_convert_select(CLI::App& convert, ConvertSteps& steps);   // S4: cmd_convert_select.cpp
void add_convert_train(CLI::App& convert, ConvertSteps& steps);    // S5: cmd_convert_train.cpp
void add_convert_deploy(CLI::App& convert, ConvertSteps& steps);   // S6: deploy, rollback (cmd_convert_deploy.cpp)
void add_convert_run(CLI::App& convert, ConvertSteps& steps);      // S3-S6 in one resumable run (cmd_convert_run.cpp)
void add_convert_watch(CLI::App& convert, ConvertSteps& steps);    // S6 iterate: shadow scores, rollback (cmd_convert_watch.cpp)
void add_convert_report(CLI::App& convert, ConvertSteps& steps);   // the report (cmd_convert_report.cpp)

}  // namespace rpu::cli
