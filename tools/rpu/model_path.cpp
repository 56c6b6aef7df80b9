// Model paths on the command line: a GGUF file, or a Hugging Face model folder converted in
// memory (import/hf_import.h) to the type --type names.
#include <fmt/format.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "import/hf_import.h"
#include "model/quant_plan.h"
#include "options.h"

namespace rpu::cli {

std::unique_ptr<Model> load_model(const std::string& path, const std::string& hf_type, const MemoryOptions& memory) {
  // --no-mmap applies to a GGUF file; a Hugging Face folder is converted into memory anyway.
  const bool read = memory.no_mmap && hf_type.empty() && !hf::is_model_dir(path);
  auto model = Model::from_gguf(read ? GgufFile::parse(MappedFile::open(path, MappedFile::Load::kRead), path) : hf::open_model_path(path, hf_type));
  lock_model_memory(*model, memory);
  return model;
}

void add_hf_type_option(CLI::App* cmd, std::string& hf_type) {
  cmd->add_option("--type", hf_type,
                  "tensor type a Hugging Face folder is converted to on load (default: Q8_0): " + quant_scheme_names())
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            if (find_quant_scheme(name) != nullptr) return "";
            return fmt::format("unknown type '{}' (types: {})", name, quant_scheme_names());
          },
          "TYPE"));
}

}  // namespace rpu::cli
