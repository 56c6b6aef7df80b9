// Flags shared by the generating commands (run, chat, later serve).
#pragma once

#include <CLI/CLI.hpp>

#include "text/sampler.h"

namespace rpu::cli {

void add_sampling_options(CLI::App* cmd, SamplingParams& sampling);
int default_threads();

}  // namespace rpu::cli
