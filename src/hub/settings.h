// Where the Hugging Face hub is and where its files go, read from the environment variables
// huggingface_hub reads (so Python tools and rpu share one cache and one token):
//   HF_ENDPOINT        the hub or a mirror (default https://huggingface.co)
//   HF_TOKEN           an access token, sent as "Authorization: Bearer" to the endpoint's host
//                      (else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH or $HF_HOME/token)
//   HF_HUB_CACHE       the cache folder (else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub; HF_HOME
//                      defaults to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface)
//   HF_HUB_OFFLINE     1/true/yes/on: no network at all, the cache or an error
//   HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT  seconds (default 10) for metadata and downloads
#pragma once

#include <string>

namespace rpu::hub {

struct HubSettings {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::string token;                                 // empty: anonymous
  std::string cache_dir;                             // the hub cache: models--org--name/ live here
  bool offline = false;
  double metadata_timeout_s = 10;
  double download_timeout_s = 10;
  int download_retries = 3;  // a transfer that broke is resumed (Range) this many times
};

// The settings from the environment; a malformed value (a timeout that is not a number, an
// endpoint that is not http(s)://) is an rpu::Error naming the variable.
HubSettings settings_from_environment();

}  // namespace rpu::hub
