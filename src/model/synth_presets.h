// Synthetic-model presets with the exact shapes, hyper-parameters and tokenizer layout of
// real small models (`rpu synth --like NAME`), so that benchmarks on random weights read and
// compute exactly what the real model would.
#pragma once

#include <string>
#include <string_view>

#include "model/synth.h"

namespace rpu {

struct SynthPreset {
  const char* name;         // e.g. "qwen2.5-0.5b"
  const char* description;  // the real model it copies
  SynthSpec spec;           // matrix types unset: the caller picks the scheme
};

const SynthPreset* find_synth_preset(std::string_view name);  // null if unknown
std::string synth_preset_names();                            // "smollm2-135m, ..." for messages

}  // namespace rpu
