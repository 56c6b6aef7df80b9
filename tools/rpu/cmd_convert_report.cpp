// rpu convert report --work-dir DIR [--replay results.jsonl] -o report.md: what the conversion
// loop moved, as Markdown plus an SVG chart next to it (src/convert/report.h).
#include <fmt/format.h>

#include <memory>

#include "convert/report.h"
#include "convert_steps.h"

namespace rpu::cli {

void add_convert_report(CLI::App& convert, ConvertSteps& steps) {
  auto o = std::make_shared<convert::ReportOptions>();
  CLI::App* cmd = convert.add_subcommand("report", "write the conversion report (Markdown + SVG chart)");
  cmd->add_option("--work-dir", o->work_dir, "a `rpu convert run` work directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--replay", o->replay, "a replay's per-call results (bench/convert/replay.mjs --out)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--price", o->price_per_1k_tokens, "the teacher's price per 1k tokens, for the cost saved")
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "the Markdown file (the chart: same name, .svg)")->capture_default_str();
  steps.emplace_back(cmd, [o] {
    const convert::Report r = convert::write_report(*o);
    fmt::print("{}", r.markdown);
    fmt::print("\nwrote {}\n", o->out);
    return 0;
  });
}

}  // namespace rpu::cli
