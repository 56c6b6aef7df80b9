// rpu convert watch LOG --routes-file F (S6, iterate): scores each deployed specialist route on
// the live calls its shadow share also sent to the teacher (src/convert/shadow_check.h) and
// rolls back (removes from the routes file, atomically) every route whose delivered quality
// fell below the target over at least --min-pairs pairs.
//
//   rpu convert watch LOG --routes-file F [--gateway-config G] [--route R ...] [--target 0.95]
//       [--min-pairs 20] [--since-ms T] [--dry-run]
#include <fmt/format.h>

#include <memory>

#include "convert/cluster_calls.h"
#include "convert/routing_table.h"
#include "convert/shadow_check.h"
#include "convert_steps.h"
#include "core/error.h"
#include "gateway/config.h"
#include "options.h"

namespace rpu::cli {
namespace {

struct WatchOptions {
  std::string log, routes_file, gateway_config;
  std::vector<std::string> routes;
  convert::ShadowCheckOptions check;
  bool dry_run = false;
};

int run_watch(const WatchOptions& o) {
  const std::vector<std::string> routes = o.routes.empty() ? convert::routing_table_routes(o.routes_file) : o.routes;
  if (routes.empty()) {
    fmt::print("no specialist routes in {}\n", o.routes_file);
    return 0;
  }
  const auto rows = convert::load_calls(o.log, {});
  fmt::print("{:<28} {:>6} {:>10} {:>10} {:>10}  verdict\n", "route", "pairs", "unmatched", "score", "upper 95%");
  for (const convert::ShadowScore& s : convert::shadow_scores(rows, routes, o.check)) {
    std::string verdict = s.pairs < o.check.min_pairs ? fmt::format("too few pairs (< {})", o.check.min_pairs)
                          : s.mean_score < o.check.target
                              ? fmt::format("keeps (under {:.2f}, but not beyond chance in {} pairs)", o.check.target, s.pairs)
                              : "keeps";
    if (s.below_target) {
      verdict = fmt::format("below {:.2f}: ", o.check.target);
      if (o.dry_run) {
        verdict += "would roll back (--dry-run)";
      } else {
        try {
          verdict += convert::remove_route(o.routes_file, s.route, o.gateway_config) ? "rolled back" : "not in the routes file";
        } catch (const gateway::ConfigError& e) {
          fail("not rolled back, the gateway would refuse the routes file: {}", e.what());
        }
      }
    }
    fmt::print("{:<28} {:>6} {:>10} {:>10.3f} {:>10.3f}  {}\n", s.route, s.pairs, s.unmatched, s.mean_score, s.upper_bound,
               verdict);
  }
  return 0;
}

}  // namespace

void add_convert_watch(CLI::App& convert, ConvertSteps& steps) {
  auto o = std::make_shared<WatchOptions>();
  CLI::App* cmd = convert.add_subcommand(
      "watch", "S6: score deployed routes on their shadow calls, roll back those below the target");
  cmd->add_option("log", o->log, "the gateway's usage log (SQLite file, postgres://...)")->required()->check(log_location());
  cmd->add_option("--routes-file", o->routes_file, "the gateway's routes file")->required();
  cmd->add_option("--gateway-config", o->gateway_config, "check the rolled-back routes file against this config first")
      ->check(CLI::ExistingFile);
  cmd->add_option("--route", o->routes, "only these routes (default: every route in the routes file)");
  cmd->add_option("--target", o->check.target, "share of the teacher's score a route must keep")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--min-pairs", o->check.min_pairs, "fewer shadow pairs: no verdict")
      ->check(CLI::Range(1, 1 << 30))->capture_default_str();
  cmd->add_option("--since-ms", o->check.since_ms, "only calls from this Unix time (ms) on");
  cmd->add_flag("--dry-run", o->dry_run, "say what would be rolled back, change nothing");
  steps.emplace_back(cmd, [o] { return run_watch(*o); });
}

}  // namespace rpu::cli
