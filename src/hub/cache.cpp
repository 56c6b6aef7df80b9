#include "hub/cache.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace rpu::hub {
namespace {

std::string folder_name(const std::string& repo) {
  std::string name = "models--" + repo;
  const size_t slash = name.find('/');
  if (slash != std::string::npos) name.replace(slash, 1, "--");
  return name;
}

std::string read_small_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

bool is_commit_hash(const std::string& text) {
  return text.size() == 40 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_safe_repo_path(const std::string& path) {
  if (path.empty() || path.size() > 1024 || path.front() == '/') return false;
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

HubCache::HubCache(std::string cache_dir, const std::string& repo)
    : cache_dir_(std::move(cache_dir)), repo_dir_(cache_dir_ / folder_name(repo)) {}

fs::path HubCache::lock_file(const std::string& etag) const {
  return cache_dir_ / ".locks" / repo_dir_.filename() / (etag + ".lock");
}

std::optional<std::string> HubCache::read_ref(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  if (!is_safe_repo_path(revision)) return std::nullopt;
  const std::string commit = read_small_file(repo_dir_ / "refs" / revision);
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

void HubCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit || !is_safe_repo_path(revision)) return;
  const fs::path path = repo_dir_ / "refs" / revision;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const fs::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << commit;
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      fail("cannot write {} (disk full or not writable?)", path.string());
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail("cannot write {}: {}", path.string(), ec.message());
  }
}

void HubCache::link(const std::string& commit, const std::string& path, const std::string& etag) const {
  const fs::path pointer = snapshot_dir(commit) / path;
  std::error_code ec;
  fs::create_directories(pointer.parent_path(), ec);
  if (ec) fail("cannot create {}: {}", pointer.parent_path().string(), ec.message());
  // From snapshots/{commit}/a/b/file back to the repository folder: one ".." per level.
  fs::path target = "..";
  for (size_t depth = std::count(path.begin(), path.end(), '/') + 1; depth > 0; --depth) target /= "..";
  target /= fs::path("blobs") / etag;
  const fs::path tmp = pointer.string() + ".tmp" + std::to_string(::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (!ec) fs::rename(tmp, pointer, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail("cannot link {} to its blob: {}", pointer.string(), ec.message());
  }
}

std::vector<RepoFile> HubCache::snapshot_files(const std::string& commit) const {
  std::vector<RepoFile> files;
  const fs::path dir = snapshot_dir(commit);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code status_ec;
    if (!fs::is_regular_file(it->path(), status_ec)) continue;  // follows the link: a dangling one is skipped
    RepoFile f;
    f.path = it->path().lexically_relative(dir).generic_string();
    f.size = fs::file_size(it->path(), status_ec);
    files.push_back(std::move(f));
  }
  std::sort(files.begin(), files.end(), [](const RepoFile& a, const RepoFile& b) { return a.path < b.path; });
  return files;
}

std::optional<std::string> find_cached_model(const HubSettings& settings, const ModelReference& ref,
                                             const std::string& revision, std::string* why) {
  const HubCache cache(settings.cache_dir, ref.repo);
  auto missing = [&](std::string reason) -> std::optional<std::string> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  std::error_code ec;
  if (!fs::is_directory(cache.repo_dir(), ec)) return missing(fmt::format("{} is not in the cache {}", ref.repo, settings.cache_dir));
  const auto commit = cache.read_ref(revision);
  if (!commit || !fs::is_directory(cache.snapshot_dir(*commit), ec)) {
    return missing(fmt::format("{} has no snapshot of revision '{}' in the cache {}", ref.repo, revision, settings.cache_dir));
  }
  FileSelection selection;
  try {
    selection = select_files(ref, cache.snapshot_files(*commit));
  } catch (const Error& e) {
    return missing(fmt::format("in the cache: {}", e.what()));
  }
  for (const RepoFile& f : selection.files) {
    if (!fs::is_regular_file(cache.snapshot_dir(*commit) / f.path, ec)) {
      return missing(fmt::format("the cached {} lacks {}", ref.repo, f.path));
    }
  }
  const fs::path dir = cache.snapshot_dir(*commit);
  return (selection.model_path.empty() ? dir : dir / selection.model_path).string();
}

}  // namespace rpu::hub
