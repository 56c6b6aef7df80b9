// rpu convert deploy / rollback (S6): write one specialist's route into the gateway's routes
// file (src/convert/routing_table.h), or take it out again. The gateway reloads the file within
// a second; every write is atomic and keeps the previous version as FILE.prev.
//
//   rpu convert deploy --routes-file F --name NAME --model FILE.gguf
//       (--match-task T | --match-system REGEX | --alias A ... | --cluster N --classifier FILE)
//       [--teacher NAME --min-confidence X]
//       [--shadow 0.05] [--scrub-input] [--model-name M] [--parallel N] [--config gateway.yaml]
//   rpu convert rollback --routes-file F (--name NAME | --previous) [--config gateway.yaml]
#include <fmt/format.h>

#include <memory>

#include "convert/routing_table.h"
#include "convert_steps.h"
#include "core/error.h"
#include "gateway/config.h"

namespace rpu::cli {
namespace {

struct DeployOptions {
  std::string routes_file, gateway_config;
  convert::SpecialistRoute route;
};

struct RollbackOptions {
  std::string routes_file, gateway_config, name;
  bool previous = false;
};

int run_deploy(const DeployOptions& o) {
  try {
    convert::deploy_route(o.routes_file, o.route, o.gateway_config);
  } catch (const convert::RoutingTableError& e) {
    fail("{}", e.what());
  } catch (const gateway::ConfigError& e) {
    fail("not deployed, the gateway would refuse it: {}", e.what());
  }
  fmt::print("deployed route '{}' (model {}) to {}\n", o.route.name, o.route.model_path, o.routes_file);
  if (o.route.cluster >= 0) fmt::print("the classifier's cluster {} goes to it\n", o.route.cluster);
  return 0;
}

int run_rollback(const RollbackOptions& o) {
  try {
    if (o.previous) {
      if (!convert::restore_previous_routes(o.routes_file)) fail("{}.prev does not exist: nothing to go back to", o.routes_file);
      fmt::print("restored the previous version of {}\n", o.routes_file);
      return 0;
    }
    if (!convert::remove_route(o.routes_file, o.name, o.gateway_config)) {
      fail("{} has no route named '{}'", o.routes_file, o.name);
    }
  } catch (const convert::RoutingTableError& e) {
    fail("{}", e.what());
  } catch (const gateway::ConfigError& e) {
    fail("not rolled back, the gateway would refuse the result: {}", e.what());
  }
  fmt::print("removed route '{}' from {}\n", o.name, o.routes_file);
  return 0;
}

void add_deploy(CLI::App& convert, ConvertSteps& steps) {
  auto o = std::make_shared<DeployOptions>();
  CLI::App* cmd = convert.add_subcommand("deploy", "S6: route calls to a specialist (written into the gateway's routes file)");
  cmd->add_option("--routes-file", o->routes_file, "the gateway's routes file (its config's routes_file:)")->required();
  cmd->add_option("--name", o->route.name, "the route's name")->required();
  cmd->add_option("--model", o->route.model_path, "the specialist: a GGUF file, or builtin")->required();
  cmd->add_option("--model-name", o->route.model_name, "its name under models: (default: the route's name)");
  cmd->add_option("--parallel", o->route.parallel, "sequences the gateway decodes together for it")
      ->check(CLI::Range(1, 256));
  // At least one of these (checked by routing_table.cpp): a route nothing selects is a mistake.
  cmd->add_option("--match-task", o->route.match_task, "calls whose X-Rpu-Task header is this");
  cmd->add_option("--match-system", o->route.match_system, "calls whose system prompt matches this regex");
  cmd->add_option("--alias", o->route.aliases, "calls that ask for this model name (repeatable)");
  auto* cluster = cmd->add_option("--cluster", o->route.cluster,
                                  "calls the task classifier puts in this cluster (of clusters.json)")
                      ->check(CLI::Range(0, 1 << 20));
  auto* classifier = cmd->add_option("--classifier", o->route.classifier_file,
                                     "the task classifier `rpu convert cluster` wrote (clusters.classifier.json)")
                         ->check(CLI::ExistingFile);
  cluster->needs(classifier);
  classifier->needs(cluster);
  cmd->add_option("--teacher", o->route.teacher, "escalate low-confidence calls to this upstream of the gateway config");
  cmd->add_option("--min-confidence", o->route.min_confidence, "below this confidence the teacher answers")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--shadow", o->route.shadow_share, "share of calls also sent to the teacher for comparison")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--scrub-input", o->route.scrub_input,
                "the specialist gets calls scrubbed of personal data as the usage log stores them (trained on a scrubbed log)");
  cmd->add_option("--config", o->gateway_config, "the gateway config: check the result as the gateway will read it");
  steps.emplace_back(cmd, [o] { return run_deploy(*o); });
}

void add_rollback(CLI::App& convert, ConvertSteps& steps) {
  auto o = std::make_shared<RollbackOptions>();
  CLI::App* cmd = convert.add_subcommand("rollback", "S6: take a specialist's route out of the gateway's routes file");
  cmd->add_option("--routes-file", o->routes_file, "the gateway's routes file")->required();
  auto* name = cmd->add_option("--name", o->name, "the route to remove");
  auto* previous = cmd->add_flag("--previous", o->previous, "put back the version before the last write (FILE.prev)");
  name->excludes(previous);
  cmd->add_option("--config", o->gateway_config, "the gateway config: check the result as the gateway will read it");
  steps.emplace_back(cmd, [o, name, previous] {
    if (name->count() == 0 && previous->count() == 0) fail("rpu convert rollback needs --name NAME or --previous");
    return run_rollback(*o);
  });
}

}  // namespace

void add_convert_deploy(CLI::App& convert, ConvertSteps& steps) {
  add_deploy(convert, steps);
  add_rollback(convert, steps);
}

}  // namespace rpu::cli
