#include "hub/settings.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace rpu::hub {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string trim(std::string s) {
  const auto space = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && space(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

bool truthy(std::string value) {
  std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
  value = trim(value);
  return value == "1" || value == "true" || value == "yes" || value == "on";
}

double seconds(const char* name, double fallback) {
  const std::string text = trim(env(name));
  if (text.empty()) return fallback;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(value > 0) || value > 86400) {
    fail("{}='{}' is not a number of seconds (0 < s <= 86400)", name, text);
  }
  return value;
}

std::string hf_home() {
  if (std::string home = env("HF_HOME"); !home.empty()) return home;
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty()) return xdg + "/huggingface";
  const std::string home = env("HOME");
  return home.empty() ? std::string() : home + "/.cache/huggingface";  // empty: nowhere
}

std::string read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return trim(text.str());
}

}  // namespace

HubSettings settings_from_environment() {
  HubSettings s;
  if (std::string endpoint = trim(env("HF_ENDPOINT")); !endpoint.empty()) {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0) {
      fail("HF_ENDPOINT='{}' is not an http:// or https:// URL", endpoint);
    }
    s.endpoint = endpoint;
  }
  s.cache_dir = env("HF_HUB_CACHE");
  if (s.cache_dir.empty()) s.cache_dir = env("HUGGINGFACE_HUB_CACHE");
  if (s.cache_dir.empty()) {
    const std::string home = hf_home();
    if (home.empty()) fail("cannot find the Hugging Face cache: set HF_HOME or HF_HUB_CACHE (HOME is not set)");
    s.cache_dir = home + "/hub";
  }
  s.token = trim(env("HF_TOKEN"));
  if (s.token.empty()) s.token = trim(env("HUGGING_FACE_HUB_TOKEN"));
  if (s.token.empty()) {
    const std::string path = env("HF_TOKEN_PATH");
    const std::string home = hf_home();
    if (!path.empty() || !home.empty()) s.token = read_token_file(path.empty() ? home + "/token" : path);
  }
  s.offline = truthy(env("HF_HUB_OFFLINE"));
  s.metadata_timeout_s = seconds("HF_HUB_ETAG_TIMEOUT", s.metadata_timeout_s);
  s.download_timeout_s = seconds("HF_HUB_DOWNLOAD_TIMEOUT", s.download_timeout_s);
  return s;
}

}  // namespace rpu::hub
