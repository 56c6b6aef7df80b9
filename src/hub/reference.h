// What `rpu pull ORG/NAME[:QUANT]` names, and which of a repository's files it means: for a GGUF
// repository the one .gguf file of the quant asked for (Q4_K_M when none is asked, as ollama and
// llama.cpp do, else the only one), for a Hugging Face model folder the files a model needs
// (config, tokenizer, chat template, safetensors weights and their index).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rpu::hub {

struct ModelReference {
  std::string repo;   // "org/name"
  std::string quant;  // "" or e.g. "Q4_K_M"
  std::string text() const { return quant.empty() ? repo : repo + ":" + quant; }
};

// "ORG/NAME" or "ORG/NAME:QUANT" (an "hf.co/" or "huggingface.co/" prefix is allowed, as ollama
// writes them); nullopt when the text is not shaped like one.
std::optional<ModelReference> parse_model_reference(std::string_view text);
// The same, or an rpu::Error saying what is wrong with the text.
ModelReference model_reference_or_fail(std::string_view text);

// One file of a repository as the hub lists it (sha256 and lfs only for LFS files).
struct RepoFile {
  std::string path;
  uint64_t size = 0;
  bool lfs = false;
  std::string sha256;   // LFS files: the content's sha256 (hex)
  std::string blob_id;  // the git blob id
};

struct FileSelection {
  std::vector<RepoFile> files;  // to download
  std::string model_path;       // relative to the snapshot: the .gguf file, or "" (the folder itself)
};

// Picks the files `ref` means among `files` (the repository's listing, or a cached snapshot's
// files); an rpu::Error naming the repository when nothing fits (listing the quants there are
// when a quant matches no file or several).
FileSelection select_files(const ModelReference& ref, const std::vector<RepoFile>& files);

// The quant a GGUF file name carries ("Q4_K_M", "IQ3_XXS", "F16"), or "" when it has none.
std::string quant_of(std::string_view file_name);

}  // namespace rpu::hub
