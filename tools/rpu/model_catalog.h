// The models `rpu serve --models DIR` offers: every GGUF model file and Hugging Face model
// folder in DIR (not recursive), and every LoRA adapter GGUF there as "BASE+ADAPTER" for each
// model of the adapter's architecture.
#pragma once

#include <string>
#include <vector>

#include "pipeline/model_library.h"

namespace rpu::cli {

// Sorted by id. Files that are not readable GGUF are skipped with a warning on stderr naming
// them; a folder with no model at all is an error.
std::vector<ModelEntry> scan_model_dir(const std::string& dir);

}  // namespace rpu::cli
