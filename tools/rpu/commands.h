// Subcommands of the rpu command-line tool. Each registers its flags on the CLI11 app and
// returns the function that runs it (called only when that subcommand was chosen).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace rpu::cli {

using Action = std::function<int()>;

Action add_run_command(CLI::App& app);
Action add_info_command(CLI::App& app);
Action add_chat_command(CLI::App& app);
Action add_tokenize_command(CLI::App& app);
Action add_quantize_command(CLI::App& app);
Action add_convert_hf_command(CLI::App& app);
Action add_synth_command(CLI::App& app);
Action add_bench_command(CLI::App& app);
Action add_perplexity_command(CLI::App& app);
Action add_serve_command(CLI::App& app);
Action add_export_command(CLI::App& app);
Action add_train_command(CLI::App& app);
Action add_finetune_command(CLI::App& app);
Action add_logs_command(CLI::App& app);
Action add_scrub_command(CLI::App& app);
Action add_gateway_command(CLI::App& app);
Action add_convert_command(CLI::App& app);  // its steps: convert_steps.h
Action add_kb_command(CLI::App& app);
Action add_ask_command(CLI::App& app);
Action add_rerank_command(CLI::App& app);
Action add_pull_command(CLI::App& app);

// Accepts a file type name of model/quant_plan.h ("Q4_K_M", ...); shared by quantize and synth.
CLI::Validator quant_type_validator();

}  // namespace rpu::cli
