// `rpu pull ORG/NAME[:QUANT]`: lists the repository at a revision (GET /api/models/{repo}/revision/
// {rev}?blobs=true), picks the files the reference means (reference.h), and brings each into the
// huggingface_hub cache (cache.h): HEAD of its resolve URL for the ETag, size and commit, then
// a GET following the redirect to the CDN into blobs/{etag}.incomplete, resumed with a Range
// request when a transfer breaks (here, or in an earlier pull), the sha256 of an LFS file checked
// against the listing before the blob gets its final name. Files already in the snapshot are not
// asked for again. With HF_HUB_OFFLINE set, only the cache is consulted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "hub/reference.h"
#include "hub/settings.h"

namespace rpu::hub {

struct PullProgress {
  size_t file = 0, n_files = 0;  // the file being downloaded (0-based) of those to download
  std::string path;
  uint64_t bytes_done = 0, bytes_total = 0;  // over all files to download
};

struct PullOptions {
  std::string revision = "main";
  std::function<void(const PullProgress&)> progress;   // while downloading
  std::function<void(const std::string&)> note;        // a line for the user (a resumed transfer)
};

struct PullResult {
  std::string commit;
  std::string path;  // the model: the snapshot's .gguf file, or the snapshot folder
  size_t files = 0, downloaded = 0;
  uint64_t downloaded_bytes = 0;
  bool offline = false;  // HF_HUB_OFFLINE: nothing was asked of the network
};

// rpu::Error, one line naming the repository or file, for everything that can go wrong: the hub
// unreachable, 401/403/404, a checksum mismatch (the download is deleted), a full disk (the
// partial download is kept for the next pull to resume; no blob or link is made).
PullResult pull_model(const HubSettings& settings, const ModelReference& ref, const PullOptions& options = {});

}  // namespace rpu::hub
