#include "hub/pull.h"

#include <algorithm>

#include "core/error.h"
#include "core/json_text.h"
#include "hub/cache.h"
#include "hub/download.h"
#include "hub/http.h"

namespace rpu::hub {
namespace {

struct Listing {
  std::string commit;
  std::vector<RepoFile> files;
};

// GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true: the commit and every file
// with its size and, for LFS files, sha256.
Listing list_repository(const HubHttp& http, const ModelReference& ref, const std::string& revision) {
  const std::string url = fmt::format("{}/api/models/{}/revision/{}?blobs=true", http.settings().endpoint,
                                      url_escape(ref.repo, true), url_escape(revision, false));
  const HttpAnswer answer = http.get(url);
  const std::string what = revision == "main" ? ref.repo : ref.repo + "@" + revision;
  if (answer.status != 200) fail_hub_answer(answer, what, !http.settings().token.empty());
  const auto json = parse_json_text<nlohmann::json>(answer.body, "the hub's listing of " + what);
  Listing listing;
  if (!json.is_object() || !json.contains("sha") || !json["sha"].is_string() || !is_commit_hash(json["sha"].get<std::string>())) {
    fail("the hub's listing of {} has no commit hash (\"sha\"): is HF_ENDPOINT a Hugging Face hub?", what);
  }
  listing.commit = json["sha"].get<std::string>();
  if (!json.contains("siblings") || !json["siblings"].is_array()) fail("the hub's listing of {} has no file list (\"siblings\")", what);
  for (const auto& s : json["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    RepoFile f;
    f.path = s["rfilename"].get<std::string>();
    if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"].get<uint64_t>();
    if (s.contains("blobId") && s["blobId"].is_string()) f.blob_id = s["blobId"].get<std::string>();
    if (s.contains("lfs") && s["lfs"].is_object()) {
      const auto& lfs = s["lfs"];
      f.lfs = true;
      if (lfs.contains("sha256") && lfs["sha256"].is_string()) f.sha256 = lfs["sha256"].get<std::string>();
      if (lfs.contains("size") && lfs["size"].is_number_unsigned()) f.size = lfs["size"].get<uint64_t>();
    }
    listing.files.push_back(std::move(f));
  }
  return listing;
}

// An ETag header as huggingface_hub normalises it: no weak prefix, no quotes.
std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
  etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
  return etag;
}

bool is_safe_blob_name(const std::string& etag) {
  return !etag.empty() && etag.size() <= 128 && etag.front() != '.' && std::all_of(etag.begin(), etag.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

uint64_t parse_size(const std::string& text) {
  if (text.empty() || text.size() > 19 || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return UINT64_MAX;
  }
  return std::stoull(text);
}

// HEAD of the file's resolve URL at the listed commit: where its content is, its ETag and size.
BlobSource locate(const HubHttp& http, const ModelReference& ref, const std::string& commit, const RepoFile& f) {
  const std::string url = fmt::format("{}/{}/resolve/{}/{}", http.settings().endpoint, url_escape(ref.repo, true), commit,
                                      url_escape(f.path, true));
  const HttpAnswer answer = http.head(url);
  const bool redirect = answer.status >= 300 && answer.status < 400 && !answer.header("location").empty();
  if (answer.status != 200 && !redirect) fail_hub_answer(answer, ref.repo + ": " + f.path, !http.settings().token.empty());
  BlobSource source;
  source.path = f.path;
  source.url = redirect ? resolve_location(answer.url, answer.header("location")) : answer.url;
  std::string etag = answer.header("x-linked-etag");
  if (etag.empty()) etag = answer.header("etag");
  source.etag = normalize_etag(etag);
  if (source.etag.empty()) source.etag = f.lfs ? f.sha256 : f.blob_id;
  if (!is_safe_blob_name(source.etag)) fail("{}: {}: the hub gave no usable ETag ('{}')", ref.repo, f.path, source.etag);
  const std::string commit_header = answer.header("x-repo-commit");
  if (!commit_header.empty() && commit_header != commit) {
    fail("{}: {}: the hub answered for commit {} instead of {}", ref.repo, f.path, commit_header, commit);
  }
  uint64_t size = parse_size(answer.header("x-linked-size"));
  if (size == UINT64_MAX && !redirect) size = parse_size(answer.header("content-length"));
  if (size == UINT64_MAX && f.size > 0) size = f.size;
  source.size_known = size != UINT64_MAX;
  source.size = source.size_known ? size : 0;
  if (f.lfs && f.size > 0 && source.size_known && f.size != source.size) {
    fail("{}: {}: the hub lists {} bytes but its download has {}", ref.repo, f.path, f.size, source.size);
  }
  source.sha256 = f.lfs ? f.sha256 : "";
  return source;
}

PullResult pull_offline(const HubSettings& settings, const ModelReference& ref, const PullOptions& options) {
  std::string why;
  const auto path = find_cached_model(settings, ref, options.revision, &why);
  if (!path) fail("HF_HUB_OFFLINE is set and {}", why);
  PullResult result;
  result.offline = true;
  result.path = *path;
  result.commit = HubCache(settings.cache_dir, ref.repo).read_ref(options.revision).value_or("");
  return result;
}

}  // namespace

PullResult pull_model(const HubSettings& settings, const ModelReference& ref, const PullOptions& options) {
  if (settings.offline) return pull_offline(settings, ref, options);
  const HubHttp http(settings);
  const HubCache cache(settings.cache_dir, ref.repo);
  const Listing listing = list_repository(http, ref, options.revision);
  const FileSelection selection = select_files(ref, listing.files);
  std::vector<const RepoFile*> missing;
  PullProgress progress;
  for (const RepoFile& f : selection.files) {
    if (!is_safe_repo_path(f.path)) fail("{}: the hub lists a file with an unsafe path '{}'", ref.repo, f.path);
    std::error_code ec;
    if (fs::is_regular_file(cache.snapshot_dir(listing.commit) / f.path, ec)) continue;  // pulled before
    missing.push_back(&f);
    progress.bytes_total += f.size;
  }
  PullResult result;
  result.commit = listing.commit;
  result.files = selection.files.size();
  progress.n_files = missing.size();
  for (const RepoFile* f : missing) {
    const BlobSource source = locate(http, ref, listing.commit, *f);
    progress.path = f->path;
    const uint64_t before = progress.bytes_done;
    std::error_code ec;
    if (!fs::exists(cache.blob(source.etag), ec)) {
      result.downloaded_bytes += fetch_blob(http, cache, source, [&](uint64_t file_bytes) {
        progress.bytes_done = before + file_bytes;
        if (options.progress) options.progress(progress);
      }, options.note);
      ++result.downloaded;
    }
    cache.link(listing.commit, f->path, source.etag);
    progress.bytes_done = before + f->size;
    ++progress.file;
  }
  cache.write_ref(options.revision, listing.commit);
  const fs::path dir = cache.snapshot_dir(listing.commit);
  result.path = (selection.model_path.empty() ? dir : dir / selection.model_path).string();
  return result;
}

}  // namespace rpu::hub
