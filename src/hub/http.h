// The hub's HTTP, as huggingface_hub speaks it: requests to the endpoint carry the token
// ("Authorization: Bearer"); redirects are followed by hand so that the token never goes to
// another host (the CDN a file's download is redirected to), and so that the headers of the
// first answer (X-Repo-Commit, X-Linked-Etag, X-Linked-Size) are kept.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "hub/settings.h"

namespace rpu::hub {

struct HttpAnswer {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // error bodies and JSON; not a download's content
  std::string url;                             // the URL that gave this answer (after redirects)
  std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// "https://host:port" and "/path?query" of an absolute URL; rpu::Error when it is not one.
struct SplitUrl {
  std::string origin, target;
};
SplitUrl split_url(const std::string& url);
// A redirect's Location against the URL that sent it (absolute, "//host/...", or "/path").
std::string resolve_location(const std::string& from, const std::string& location);
// Percent-encodes a path segment ('/' too when `keep_slash` is false).
std::string url_escape(const std::string& text, bool keep_slash);

class HubHttp {
 public:
  explicit HubHttp(HubSettings settings) : settings_(std::move(settings)) {}

  // GET a URL on the endpoint for its body (JSON), following same-host redirects.
  HttpAnswer get(const std::string& url) const;
  // HEAD of a resolve URL: follows only relative (same host) redirects, as huggingface_hub does,
  // so that the answer is the hub's own (its 302 to the CDN carries the file's metadata).
  HttpAnswer head(const std::string& url) const;

  // GET of a file's content from `url`, following every redirect; from byte `from` on (a Range
  // request) when it is not 0. `on_answer` sees the final answer's status and headers and may
  // refuse it (false); `on_data` gets the body. Returns the final answer (its body only when the
  // status is not 200/206) and whether the transfer completed; `broken` says why it did not.
  struct Transfer {
    HttpAnswer answer;
    bool complete = false;
    std::string broken;
  };
  Transfer download(const std::string& url, uint64_t from, const std::function<bool(const HttpAnswer&)>& on_answer,
                    const std::function<bool(const char*, size_t)>& on_data) const;

  const HubSettings& settings() const { return settings_; }

 private:
  HttpAnswer request(const std::string& method, const std::string& url, bool follow_other_hosts) const;

  HubSettings settings_;
};

}  // namespace rpu::hub
