// huggingface_hub's cache layout, so that Python tools and rpu share downloaded files:
//   {cache}/models--{org}--{name}/blobs/{etag}                 the content, named by its ETag
//                                                              (an LFS file's sha256, else the git blob id)
//   {cache}/models--{org}--{name}/blobs/{etag}.incomplete      a download in progress (resumed)
//   {cache}/models--{org}--{name}/snapshots/{commit}/{path}    relative symlinks to the blobs
//   {cache}/models--{org}--{name}/refs/{revision}              the commit a revision pointed to
//   {cache}/.locks/models--{org}--{name}/{etag}.lock           flock()ed while a blob is written
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hub/reference.h"
#include "hub/settings.h"

namespace rpu::hub {

namespace fs = std::filesystem;

class HubCache {
 public:
  HubCache(std::string cache_dir, const std::string& repo);

  const fs::path& repo_dir() const { return repo_dir_; }
  fs::path blob(const std::string& etag) const { return repo_dir_ / "blobs" / etag; }
  fs::path incomplete(const std::string& etag) const { return repo_dir_ / "blobs" / (etag + ".incomplete"); }
  fs::path snapshot_dir(const std::string& commit) const { return repo_dir_ / "snapshots" / commit; }
  fs::path lock_file(const std::string& etag) const;

  std::optional<std::string> read_ref(const std::string& revision) const;
  void write_ref(const std::string& revision, const std::string& commit) const;  // atomically
  // Points snapshots/{commit}/{path} at blobs/{etag} with a relative symlink (replaced atomically).
  void link(const std::string& commit, const std::string& path, const std::string& etag) const;
  // The files of a snapshot whose links reach a blob (paths relative to it, '/'-separated).
  std::vector<RepoFile> snapshot_files(const std::string& commit) const;

 private:
  fs::path cache_dir_, repo_dir_;
};

// A commit hash (40 hex digits), as the hub sends in X-Repo-Commit.
bool is_commit_hash(const std::string& text);
// A path of a repository file that stays inside the snapshot (no "..", not absolute, no empty or
// "." parts, no backslashes or control characters).
bool is_safe_repo_path(const std::string& path);

// A pulled model in the cache, never touching the network: the snapshot's .gguf file or the
// snapshot folder of `revision` (default main). nullopt with `why` set when it is not there.
std::optional<std::string> find_cached_model(const HubSettings& settings, const ModelReference& ref,
                                             const std::string& revision = "main", std::string* why = nullptr);

}  // namespace rpu::hub
