#include "hub/reference.h"

#include <algorithm>
#include <regex>
#include <set>

#include "core/error.h"

namespace rpu::hub {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && upper(s.substr(s.size() - tail.size())) == upper(tail);
}

std::string base_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// huggingface_hub's rule for a repository id's parts: letters, digits, '-', '_', '.', at most 96,
// not starting or ending with '-' or '.', no "--" or "..".
std::string name_problem(std::string_view part) {
  if (part.empty()) return "is empty";
  if (part.size() > 96) return "is longer than 96 characters";
  for (char c : part) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return fmt::format("has the character '{}' (allowed: letters, digits, '-', '_', '.')", c);
    }
  }
  if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.') {
    return "starts or ends with '-' or '.'";
  }
  if (part.find("--") != std::string_view::npos || part.find("..") != std::string_view::npos) return "has '--' or '..'";
  return {};
}

std::string reference_problem(std::string_view text, ModelReference& ref) {
  for (std::string_view prefix : {"https://huggingface.co/", "huggingface.co/", "hf.co/"}) {
    if (text.substr(0, prefix.size()) == prefix) text.remove_prefix(prefix.size());
  }
  if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    ref.quant = std::string(text.substr(colon + 1));
    text = text.substr(0, colon);
    if (ref.quant.empty() || ref.quant.size() > 32 ||
        !std::all_of(ref.quant.begin(), ref.quant.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; })) {
      return fmt::format("the quant '{}' is not a quant name such as Q4_K_M", ref.quant);
    }
  }
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos) {
    return "a model on the hub is named ORG/NAME[:QUANT]";
  }
  for (std::string_view part : {text.substr(0, slash), text.substr(slash + 1)}) {
    if (std::string problem = name_problem(part); !problem.empty()) return fmt::format("'{}' {}", part, problem);
  }
  ref.repo = std::string(text);
  return {};
}

std::string quant_list(const std::vector<const RepoFile*>& ggufs) {
  std::set<std::string> quants;
  for (const RepoFile* f : ggufs) quants.insert(quant_of(base_name(f->path)).empty() ? f->path : quant_of(base_name(f->path)));
  std::string list;
  for (const std::string& q : quants) list += (list.empty() ? "" : ", ") + q;
  return list;
}

std::optional<FileSelection> select_gguf(const ModelReference& ref, const std::vector<RepoFile>& files) {
  std::vector<const RepoFile*> ggufs;
  for (const RepoFile& f : files) {
    // Projector files of vision models are not language models on their own.
    if (ends_with(f.path, ".gguf") && upper(base_name(f.path)).rfind("MMPROJ", 0) != 0) ggufs.push_back(&f);
  }
  if (ggufs.empty()) return std::nullopt;
  const std::string wanted = upper(ref.quant.empty() ? "Q4_K_M" : ref.quant);
  std::vector<const RepoFile*> matches;
  for (const RepoFile* f : ggufs) {
    if (upper(quant_of(base_name(f->path))) == wanted) matches.push_back(f);
  }
  if (matches.empty()) {  // a name the quant parser does not know: the quant anywhere in it
    for (const RepoFile* f : ggufs) {
      if (upper(base_name(f->path)).find(wanted) != std::string::npos) matches.push_back(f);
    }
  }
  if (matches.empty() && ref.quant.empty() && ggufs.size() == 1) matches = ggufs;
  if (matches.size() == 1) return FileSelection{{*matches[0]}, matches[0]->path};
  if (matches.empty() && ref.quant.empty()) {
    fail("{} has {} GGUF files and none is Q4_K_M: name one as {}:QUANT (quants: {})", ref.repo, ggufs.size(), ref.repo,
         quant_list(ggufs));
  }
  if (matches.empty()) fail("{} has no GGUF file of quant {} (quants: {})", ref.repo, ref.quant, quant_list(ggufs));
  std::string names;
  for (const RepoFile* f : matches) names += (names.empty() ? "" : ", ") + f->path;
  fail("{}: {} GGUF files match quant {} ({}); split GGUF files are not supported", ref.repo, matches.size(), wanted, names);
}

// A Hugging Face model folder: the files a model needs, at the top level of the repository.
bool wanted_in_folder(const std::string& path) {
  static const std::set<std::string> kNames = {"config.json",           "generation_config.json", "tokenizer.json",
                                               "tokenizer_config.json", "chat_template.jinja",    "special_tokens_map.json"};
  if (path.find('/') != std::string::npos) return false;
  return kNames.count(path) > 0 || ends_with(path, ".safetensors") || ends_with(path, ".safetensors.index.json");
}

}  // namespace

std::string quant_of(std::string_view file_name) {
  static const std::regex kQuant("^(I?Q[0-9](_[A-Z0-9]+)*|F16|F32|BF16|MXFP4(_[A-Z0-9]+)*)$");
  std::string stem = upper(file_name);
  if (ends_with(stem, ".GGUF")) stem.resize(stem.size() - 5);
  std::string found;
  size_t start = 0;
  while (start <= stem.size()) {
    size_t end = stem.find_first_of("-.", start);
    if (end == std::string::npos) end = stem.size();
    const std::string token = stem.substr(start, end - start);
    if (std::regex_match(token, kQuant)) found = token;  // the last one: "llama-3-8b-q8_0" has none before
    start = end + 1;
  }
  return found;
}

std::optional<ModelReference> parse_model_reference(std::string_view text) {
  ModelReference ref;
  if (!reference_problem(text, ref).empty()) return std::nullopt;
  return ref;
}

ModelReference model_reference_or_fail(std::string_view text) {
  ModelReference ref;
  if (std::string problem = reference_problem(text, ref); !problem.empty()) fail("'{}': {}", text, problem);
  return ref;
}

FileSelection select_files(const ModelReference& ref, const std::vector<RepoFile>& files) {
  if (auto gguf = select_gguf(ref, files)) return *gguf;
  if (!ref.quant.empty()) fail("{} has no GGUF files, so it has no quant {} (pull {} for its model folder)", ref.repo, ref.quant, ref.repo);
  FileSelection selection;
  bool config = false, weights = false;
  for (const RepoFile& f : files) {
    if (!wanted_in_folder(f.path)) continue;
    selection.files.push_back(f);
    config = config || f.path == "config.json";
    weights = weights || ends_with(f.path, ".safetensors");
  }
  if (!config || !weights) {
    fail("{} has no usable model files: neither a .gguf file nor config.json with .safetensors weights ({} files{})", ref.repo,
         files.size(), weights ? ", no config.json" : config ? ", no .safetensors" : "");
  }
  return selection;
}

}  // namespace rpu::hub
