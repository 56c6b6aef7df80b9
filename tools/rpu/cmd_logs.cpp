// rpu logs: read the gateway's usage log (an SQLite file or a postgres:// URI). `stats`
// summarises calls by route and model;
// `export --format openai-jsonl` writes the successful calls in OpenAI's fine-tuning chat
// format (what the conversion loop and any fine-tuning tool read).
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "options.h"
#include "core/error.h"
#include "gateway/usage_log.h"
#include "gateway/vault.h"
#include "gateway/usage_store.h"

namespace rpu::cli {
namespace {

int print_stats(const std::string& path) {
  const auto rows = gateway::summarize_usage(path);
  fmt::print("{:<20} {:<28} {:>8} {:>7} {:>9} {:>12} {:>12} {:>11}\n", "route", "model", "calls", "errors", "escalated",
             "prompt tok", "output tok", "mean ms");
  int64_t calls = 0;
  for (const auto& r : rows) {
    fmt::print("{:<20} {:<28} {:>8} {:>7} {:>9} {:>12} {:>12} {:>11.1f}\n", r.route, r.model, r.calls, r.errors,
               r.escalated, r.prompt_tokens, r.completion_tokens, r.mean_latency_ms);
    calls += r.calls;
  }
  fmt::print("total: {} calls\n", calls);
  return 0;
}

int export_log(const std::string& path, const std::string& format, const std::string& output,
               const std::string& reveal_env) {
  if (format != "openai-jsonl") fail("unknown export format '{}' (openai-jsonl)", format);
  std::unique_ptr<gateway::Vault> vault;
  if (!reveal_env.empty()) {
    try {
      vault = std::make_unique<gateway::Vault>(gateway::Vault::from_environment(reveal_env));
    } catch (const gateway::VaultError& e) {
      fail("--reveal: {}", e.what());
    }
  }
  int64_t lines = 0;
  try {
    if (output.empty() || output == "-") {
      lines = gateway::export_openai_jsonl(path, std::cout, vault.get());
    } else {
      std::ofstream out(output, std::ios::binary);
      if (!out) fail("cannot write '{}'", output);
      lines = gateway::export_openai_jsonl(path, out, vault.get());
      if (!out) fail("writing '{}' failed", output);
    }
  } catch (const gateway::VaultError& e) {
    fail("--reveal: {}", e.what());
  }
  fmt::print(stderr, "exported {} calls\n", lines);
  return 0;
}


}  // namespace

Action add_logs_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("openai-jsonl");
  auto output = std::make_shared<std::string>();
  auto reveal = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("logs", "read the gateway's usage log (SQLite file or PostgreSQL)");
  cmd->require_subcommand(1);
  CLI::App* stats = cmd->add_subcommand("stats", "calls, errors, escalations, tokens and latency by route and model");
  stats->add_option("log", *path, "usage log (SQLite file or postgres:// URI)")->required()->check(log_location());
  CLI::App* exp = cmd->add_subcommand("export", "successful calls as fine-tuning data");
  exp->add_option("log", *path, "usage log (SQLite file or postgres:// URI)")->required()->check(log_location());
  exp->add_option("--format", *format, "openai-jsonl (OpenAI's fine-tuning chat format)");
  exp->add_option("-o,--output", *output, "output file (default: stdout)");
  exp->add_option("--reveal", *reveal,
                  "put the original values back in place of the placeholders, with the vault key in this "
                  "environment variable (the gateway's log.vault_key_env)");
  return [path, format, output, reveal, stats] {  // not stats: export
    if (stats->parsed()) return print_stats(*path);
    return export_log(*path, *format, *output, *reveal);
  };
}

}  // namespace rpu::cli
