// rpu convert run LOG: the whole conversion loop (src/convert/run.h): cluster the logged calls,
// evaluate the base model and candidates per cluster, train where none reaches the target,
// deploy what does into the gateway's routes file. Resumable: re-run with the same --work-dir.
#include <fmt/format.h>

#include <memory>

#include "convert/routing_table.h"
#include "convert/run.h"
#include "convert/strategies.h"
#include "convert_steps.h"
#include "core/error.h"
#include "gateway/config.h"
#include "options.h"
#include "tokenizer/vocab_trainer.h"

namespace rpu::cli {
namespace {

int run_run(convert::RunOptions o, const std::string& base) {
  if (!base.empty()) o.base_name = base;
  o.load_base = [base]() { return base.empty() ? load_builtin_model() : Model::load(base); };
  convert::RunSummary s;
  try {
    // Specialists learn from the log as it is stored: scrubbed when the gateway scrubs it, so
    // they are then served scrubbed calls too (route scrub_input).
    if (!o.gateway_config.empty()) {
      const gateway::GatewayConfig gc = gateway::load_gateway_config(o.gateway_config);
      o.scrub_input = !gc.log.path.empty() && gc.log.scrub;
    }
    s = convert::run_conversion(o, [](const std::string& line) { fmt::print(stderr, "rpu: {}\n", line); });
  } catch (const gateway::ConfigError& e) {
    fail("not deployed, the gateway would refuse the routes file: {}", e.what());
  } catch (const convert::RoutingTableError& e) {
    fail("{}", e.what());
  }
  for (const auto& line : s.lines) fmt::print("{}\n", line);
  fmt::print("{} clusters: {} deployed, {} skipped; {} steps already done in {}\n", s.clusters, s.deployed, s.skipped,
             s.resumed_steps, o.work_dir);
  return 0;
}

// Options from --config that the command line did not give, set as if they had been typed
// (CLI11 2.1's own config files do not reach subcommands).
void apply_config(CLI::App& cmd, const std::string& path) {
  for (const auto& [key, values] : convert::read_run_config(path)) {
    CLI::Option* option = cmd.get_option_no_throw("--" + key);
    if (option == nullptr || key == "config") fail("{}: unknown option '{}'", path, key);
    if (option->count() > 0) continue;  // the command line wins
    option->add_result(values);
    try {
      option->run_callback();
    } catch (const CLI::Error& e) {
      fail("{}: {}: {}", path, key, e.what());
    }
  }
}

// S5's options: how long, how far and from what each specialist (and the generalist) trains.
void add_training_options(CLI::App& cmd, convert::RunOptions& o) {
  cmd.add_option("--train-minutes", o.train_minutes, "training budget per cluster (0: never train)")
      ->check(CLI::Range(0.0, 1e6))->capture_default_str();
  cmd.add_option("--train-steps", o.train_steps, "optimizer steps per cluster at most")->capture_default_str();
  cmd.add_option("--from", o.from, "what to train: builtin (LoRA), full, scratch:xs|s|m")->capture_default_str();
  cmd.add_option("--vocab", o.vocab_size, "scratch: pieces of a vocabulary fitted to the training text (0: the base's)")
      ->check(CLI::Range(0, 0) | CLI::Range(259, kMaxFittedVocab))->capture_default_str();
  cmd.add_option("--generalist-minutes", o.generalist_minutes,
                  "train one model on every eligible cluster's calls first, a candidate in each (0 without --generalist-steps: none)")
      ->check(CLI::Range(0.0, 1e6))->capture_default_str();
  cmd.add_option("--generalist-steps", o.generalist_steps,
                  "train the generalist this many optimizer steps (the minutes, when given, a cap only): "
                  "the same model on a loaded machine as on a quiet one")
      ->check(CLI::Range(0, 10000000))->capture_default_str();
  cmd.add_option("--generalist-from", o.generalist_from, "what the generalist is: scratch:xs|s|m, builtin, full")
      ->capture_default_str();
  cmd.add_option("--generalist-max-answer-chars", o.generalist_max_answer_chars,
                  "clusters whose median teacher answer is longer are left out of the generalist")
      ->check(CLI::Range(1, 1 << 30))->capture_default_str();
}

// Augmentation, the candidates and strategies S4 evaluates, and how S6 calibrates and deploys.
void add_evaluation_options(CLI::App& cmd, convert::RunOptions& o) {
  cmd.add_option("--augment", o.augment,
                  "variants of each trainable call answered by the teacher (--gateway-config's --teacher-upstream) "
                  "and trained on; 0: none")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd.add_option("--held-out-variants", o.held_out_variants,
                  "variants of each held-out call answered by the teacher, evaluated and calibrated on beside the "
                  "held-out calls (never trained on); 0: none")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd.add_option("--augment-parallel", o.augment_parallel, "augmentation: teacher calls in flight")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd.add_option("--candidate", o.candidates, "a GGUF evaluated besides the base model (repeatable)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--strategy", o.strategies,
                  "S4 evaluates each candidate with only these strategies (greedy, sc5, bon5; repeatable; default: "
                  "every one that fits the cluster; greedy is always evaluated)")
      ->delimiter(',')
      ->check(CLI::IsMember(convert::strategy_names()));
  cmd.add_flag("--deploy-by-cascade", o.deploy_by_cascade,
                "also deploy a specialist below the target when escalating its least confident calls brings the route to it");
  cmd.add_option("--calibration-margin", o.calibration_margin,
                  "calibrate thresholds on the kept held-out calls' accuracy at its Wilson lower bound at this z "
                  "(0: at its mean)")
      ->check(CLI::Range(0.0, 4.0))
      ->capture_default_str();
  cmd.add_option("--min-local-share", o.min_local_share, "--deploy-by-cascade: share of calls the route must keep local")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd.add_flag("!--no-learned-constraints", o.learned_constraints,
                "do not hold specialists to what a cluster's teacher always does (copy JSON values from the call, "
                "call a tool on a user's turn)");
  cmd.add_option("--shadow", o.shadow_share, "share of a deployed route's calls also sent to the teacher")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
}

}  // namespace

void add_convert_run(CLI::App& convert, ConvertSteps& steps) {
  auto o = std::make_shared<convert::RunOptions>();
  auto base = std::make_shared<std::string>();
  CLI::App* cmd = convert.add_subcommand("run", "the whole loop: cluster, evaluate, train, deploy (resumable)");
  cmd->add_option("log", o->log, "the gateway's usage log (SQLite file, postgres://...) or a JSONL file of calls")
      ->required()
      ->check(log_location());
  cmd->add_option("--teacher", o->teachers, "target name whose answers are the teacher's (repeatable; default: every answer)")
      ->allow_extra_args(false);
  cmd->add_option("--teacher-upstream", o->teacher_upstream, "the cascade's upstream in the gateway config (default: the first --teacher, else teacher)");
  cmd->add_option("--routes-file", o->routes_file, "the gateway's routes file to deploy into (none: evaluate and train only)");
  cmd->add_option("--gateway-config", o->gateway_config, "check every deploy against this gateway config first")
      ->check(CLI::ExistingFile);
  cmd->add_option("--work-dir", o->work_dir, "where each step's result is kept (re-runs resume from it)");
  cmd->add_option("--target", o->target, "share of the teacher's score a specialist must reach")->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--min-calls", o->min_calls, "smaller clusters are skipped")->capture_default_str();
  cmd->add_option("--min-teacher-calls", o->min_teacher_calls, "clusters with fewer teacher answers are skipped")
      ->capture_default_str();
  add_training_options(*cmd, *o);
  cmd->add_option("--base", *base, "a GGUF base model instead of the built-in one")->check(CLI::ExistingFile);
  add_evaluation_options(*cmd, *o);
  cmd->add_option("--k", o->k, "clusters (0: chosen by silhouette)")->capture_default_str();
  cmd->add_option("--held-out", o->split.held_out_fraction, "share of each cluster held out for evaluation")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--min-held-out", o->split.min_held_out,
                  "at least about this many of a cluster's calls held out (its share rises, to at most half)")
      ->check(CLI::Range(0, 1000000))->capture_default_str();
  cmd->add_option("--max-tokens", o->max_tokens, "longest answer per evaluated call")->capture_default_str();
  cmd->add_option("--parallel", o->parallel, "calls decoded together")->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "worker threads")->check(CLI::Range(1, 1024))->capture_default_str();
  auto config = std::make_shared<std::string>();
  cmd->add_option("--config", *config, "YAML of these options by long name (min-calls: 20, candidate: [a.gguf]); flags win")
      ->check(CLI::ExistingFile);
  steps.emplace_back(cmd, [o, base, config, cmd] {
    if (!config->empty()) apply_config(*cmd, *config);
    if (o->work_dir.empty()) fail("rpu convert run needs --work-dir (a flag or work-dir: in --config)");
    return run_run(*o, *base);
  });
}

}  // namespace rpu::cli
