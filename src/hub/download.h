// One file of a pull (pull.h): the hub's answers turned into errors, and the transfer of one
// blob into the cache (resumed, checked, renamed only when whole and verified).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "hub/cache.h"
#include "hub/http.h"

namespace rpu::hub {

// An rpu::Error for a hub answer that is not a success: 401 (HF_TOKEN), 403 (gated), 404 (the
// repository, revision or file, from X-Error-Code), 429, 5xx; `what` names what was asked.
[[noreturn]] void fail_hub_answer(const HttpAnswer& answer, const std::string& what, bool token_sent);

struct BlobSource {
  std::string path;        // the file's path in the repository (for messages)
  std::string url;         // where its content comes from (the CDN URL the hub redirected to)
  std::string etag;        // the blob's name in the cache
  uint64_t size = 0;       // 0 with !size_known
  bool size_known = false;
  std::string sha256;      // expected content digest (LFS files), "" when the hub gave none
};

// Writes blobs/{etag} of `cache` from `source`, holding the blob's lock; calls on_bytes with
// the bytes of the file it has so far. Resumes blobs/{etag}.incomplete; retries a broken transfer
// settings().download_retries times.
// Returns the bytes transferred.
uint64_t fetch_blob(const HubHttp& http, const HubCache& cache, const BlobSource& source,
                    const std::function<void(uint64_t)>& on_progress, const std::function<void(const std::string&)>& note);

}  // namespace rpu::hub
