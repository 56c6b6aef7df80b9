// rpu: small language models as the default engine for real work.
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <string>

#include "commands.h"
#include "pipeline/call.h"
#include "core/error.h"

int main(int argc, char** argv) {
  // A file size limit (ulimit -f) must be a write error naming the file (rpu pull keeps its
  // partial download, the GGUF writers remove theirs), not a SIGXFSZ death leaving half a file.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"rpu: run small language models on your own hardware"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "rpu 0.1.0");
  std::map<CLI::App*, rpu::cli::Action> actions;
  // Each subcommand returns its action; the chosen one runs after parsing.
  auto add = [&](rpu::cli::Action (*register_command)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    rpu::cli::Action action = register_command(app);
    actions[app.get_subcommands({})[before]] = std::move(action);
  };
  add(&rpu::cli::add_run_command);
  add(&rpu::cli::add_info_command);
  add(&rpu::cli::add_chat_command);
  add(&rpu::cli::add_tokenize_command);
  add(&rpu::cli::add_quantize_command);
  add(&rpu::cli::add_convert_hf_command);
  add(&rpu::cli::add_synth_command);
  add(&rpu::cli::add_bench_command);
  add(&rpu::cli::add_perplexity_command);
  add(&rpu::cli::add_rerank_command);
#ifndef RPU_MINIMAL  // the commands over the server, training, gateway, knowledge bases and hub
  add(&rpu::cli::add_serve_command);
  add(&rpu::cli::add_export_command);
  add(&rpu::cli::add_train_command);
  add(&rpu::cli::add_finetune_command);
  add(&rpu::cli::add_logs_command);
  add(&rpu::cli::add_scrub_command);
  add(&rpu::cli::add_gateway_command);
  add(&rpu::cli::add_convert_command);
  add(&rpu::cli::add_kb_command);
  add(&rpu::cli::add_ask_command);
  add(&rpu::cli::add_pull_command);
#endif

  // Name an unknown command plainly rather than as a missing subcommand.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const auto& [sub, action] : actions) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "rpu: error: unknown command '%s' (commands: %s)\n", argv[1], names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "rpu: error: %s (see rpu --help)\n", e.what());
    return 2;
  }
  try {
    for (auto& [sub, action] : actions) {
      if (sub->parsed()) return action();
    }
  } catch (const rpu::Error& e) {
    std::fprintf(stderr, "rpu: error: %s\n", e.what());
    return 1;
  } catch (const rpu::ApiError& e) {  // a request the pipeline refused (same text the server sends)
    std::fprintf(stderr, "rpu: error: %s%s%s\n", e.param.empty() ? "" : e.param.c_str(), e.param.empty() ? "" : ": ",
                 e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rpu: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
