#include "hub/http.h"

#include <httplib.h>

#include <cctype>
#include <chrono>
#include <memory>

#include "core/error.h"

namespace rpu::hub {
namespace {

constexpr int kMaxRedirects = 10;
constexpr size_t kMaxBody = 16u << 20;  // a listing of a repository with many files is a few MB

void set_timeouts(httplib::Client& client, double seconds) {
  const auto us = static_cast<int64_t>(seconds * 1e6);
  client.set_connection_timeout(static_cast<time_t>(us / 1000000), static_cast<time_t>(us % 1000000));
  client.set_read_timeout(static_cast<time_t>(us / 1000000), static_cast<time_t>(us % 1000000));
  client.set_write_timeout(static_cast<time_t>(us / 1000000), static_cast<time_t>(us % 1000000));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

HttpAnswer answer_of(const httplib::Response& r, const std::string& url) {
  HttpAnswer a;
  a.status = r.status;
  a.url = url;
  for (const auto& [name, value] : r.headers) a.headers.emplace(lower(name), value);
  return a;
}

bool is_redirect(int status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }

// "cannot reach https://host: Connection (refused, or nothing listens there)"
[[noreturn]] void unreachable(const std::string& origin, httplib::Error error, const std::string& what) {
  const std::string detail = error == httplib::Error::Connection ? "cannot connect (refused, timed out or unknown host)"
                             : error == httplib::Error::Read       ? "no answer in time (read timed out)"
                             : error == httplib::Error::SSLConnection ? "TLS handshake failed"
                             : error == httplib::Error::SSLServerVerification ? "its TLS certificate could not be verified"
                                                                              : httplib::to_string(error);
  fail("cannot reach {} for {}: {} (HF_ENDPOINT sets a mirror; HF_HUB_OFFLINE=1 uses only the cache)", origin, what, detail);
}

std::unique_ptr<httplib::Client> client_for(const std::string& origin, double timeout) {
  auto client = std::make_unique<httplib::Client>(origin);
  set_timeouts(*client, timeout);
  client->set_follow_location(false);
  client->set_keep_alive(false);
  return client;
}

}  // namespace

SplitUrl split_url(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") fail("'{}' is not an http:// or https:// URL", url);
  const size_t path_start = url.find('/', scheme_end + 3);
  SplitUrl split;
  split.origin = url.substr(0, path_start);
  split.target = path_start == std::string::npos ? "/" : url.substr(path_start);
  if (split.origin.size() <= scheme_end + 3) fail("'{}' has no host", url);
  for (char c : split.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) fail("'{}' has a space or control character in its path", url);
  }
  return split;
}

std::string resolve_location(const std::string& from, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  const SplitUrl base = split_url(from);
  if (location.rfind("//", 0) == 0) return base.origin.substr(0, base.origin.find("://") + 1) + location;
  if (!location.empty() && location.front() == '/') return base.origin + location;
  // Relative to the current path's folder.
  const std::string path = base.target.substr(0, base.target.find('?'));
  return base.origin + path.substr(0, path.rfind('/') + 1) + location;
}

std::string url_escape(const std::string& text, bool keep_slash) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

HttpAnswer HubHttp::request(const std::string& method, const std::string& start_url, bool head) const {
  const std::string endpoint_origin = split_url(settings_.endpoint).origin;
  std::string url = start_url;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    const SplitUrl split = split_url(url);
    auto client = client_for(split.origin, settings_.metadata_timeout_s);
    httplib::Headers headers = {{"User-Agent", "rpu/0.1.0"}, {"Accept-Encoding", "identity"}};
    if (!settings_.token.empty() && split.origin == endpoint_origin) headers.emplace("Authorization", "Bearer " + settings_.token);
    httplib::Result result = head ? client->Head(split.target, headers) : client->Get(split.target, headers);
    if (!result) unreachable(split.origin, result.error(), method + " " + split.target);
    HttpAnswer answer = answer_of(*result, url);
    if (!head) answer.body = result->body.substr(0, kMaxBody);
    const std::string location = answer.header("location");
    if (!is_redirect(answer.status) || location.empty()) return answer;
    const std::string next = resolve_location(url, location);
    // HEAD follows relative redirects only (huggingface_hub): the CDN's answer is not the hub's.
    const bool relative = location.find("://") == std::string::npos && location.rfind("//", 0) != 0;
    if (head ? !relative : split_url(next).origin != endpoint_origin) return answer;
    url = next;
  }
  fail("{}: more than {} redirects", start_url, kMaxRedirects);
}

HttpAnswer HubHttp::get(const std::string& url) const { return request("GET", url, false); }
HttpAnswer HubHttp::head(const std::string& url) const { return request("HEAD", url, true); }

HubHttp::Transfer HubHttp::download(const std::string& start_url, uint64_t from,
                                    const std::function<bool(const HttpAnswer&)>& on_answer,
                                    const std::function<bool(const char*, size_t)>& on_data) const {
  const std::string endpoint_origin = split_url(settings_.endpoint).origin;
  std::string url = start_url;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    const SplitUrl split = split_url(url);
    auto client = client_for(split.origin, settings_.download_timeout_s);
    httplib::Headers headers = {{"User-Agent", "rpu/0.1.0"}, {"Accept-Encoding", "identity"}};
    if (!settings_.token.empty() && split.origin == endpoint_origin) headers.emplace("Authorization", "Bearer " + settings_.token);
    if (from > 0) headers.emplace("Range", fmt::format("bytes={}-", from));
    Transfer t;
    bool refused = false, receiving = false;
    auto on_response = [&](const httplib::Response& r) {
      t.answer = answer_of(r, url);
      if (is_redirect(r.status) && !t.answer.header("location").empty()) return false;  // next hop
      receiving = t.answer.status == 200 || t.answer.status == 206;
      refused = receiving && !on_answer(t.answer);
      return !refused;
    };
    auto on_body = [&](const char* data, size_t size) {
      if (!receiving) {
        if (t.answer.body.size() < 65536) t.answer.body.append(data, std::min<size_t>(size, 65536));
        return true;
      }
      return on_data(data, size);
    };
    httplib::Result result = client->Get(split.target, headers, on_response, on_body);
    if (t.answer.status == 0) unreachable(split.origin, result.error(), "GET " + split.target);
    if (is_redirect(t.answer.status) && !t.answer.header("location").empty()) {
      url = resolve_location(url, t.answer.header("location"));
      continue;
    }
    t.complete = static_cast<bool>(result) && !refused;
    if (!t.complete) t.broken = refused ? "refused" : httplib::to_string(result.error());
    return t;
  }
  fail("{}: more than {} redirects", start_url, kMaxRedirects);
}

}  // namespace rpu::hub
