// The tables of `rpu bench --profile`: per operation and per decoder layer, time per token,
// bytes read per token, the rate they were read at and its share of the measured bandwidth.
#pragma once

#include <string>

#include "engine/bench.h"

namespace rpu {

// Markdown: an operation table and a layer table per profiled test. bandwidth_bytes_per_second
// 0 leaves out the share-of-bandwidth column.
std::string format_profile_markdown(const BenchProfile& profile, double bandwidth_bytes_per_second);
// The same numbers as a JSON array text, one object per profiled test.
std::string format_profiles_json(const std::vector<BenchProfile>& profiles, double bandwidth_bytes_per_second);

}  // namespace rpu
