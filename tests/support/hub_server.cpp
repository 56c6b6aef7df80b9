#include "hub_server.h"

#include <httplib.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "hub/sha256.h"

namespace rpu::test {

namespace {

struct Repo {
  std::string commit;
  std::vector<HubFile> files;
  const HubFile* find(const std::string& path) const {
    for (const HubFile& f : files) {
      if (f.path == path) return &f;
    }
    return nullptr;
  }
};

std::string blob_id(const HubFile& f) { return hub::sha256_hex("blob " + f.content).substr(0, 40); }

// An ETag value. (Appended, not "\"" + std::string&&: gcc 12 -O3 reports a false
// -Wstringop-overflow on that.)
std::string quoted(const std::string& text) {
  std::string out = "\"";
  out += text;
  out += '"';
  return out;
}

void error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  if (!code.empty()) res.set_header("X-Error-Code", code);
  res.set_header("X-Error-Message", message);
  res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
}

}  // namespace

struct TestHub::State {
  httplib::Server hub, cdn;
  std::thread hub_thread, cdn_thread;
  int hub_port = 0, cdn_port = 0;
  mutable std::mutex mutex;
  std::map<std::string, Repo> repos;
  std::map<std::string, std::string> renames;
  std::map<std::string, HubFile> blobs;  // sha256 -> file (kept when a repository is replaced)
  std::string token;
  std::map<std::string, std::pair<size_t, int>> drops, corruptions;  // path -> (bytes/offset, times left)
  bool ignore_range = false;
  int versions = 0;
  std::vector<HubRequest> seen;

  void record(const std::string& server, const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(mutex);
    seen.push_back({server, req.method, req.path, req.get_header_value("Range"), req.get_header_value("Authorization")});
  }
  // The repository a request names, or an answer (401, a rename's redirect, 404) and nullptr.
  const Repo* repo_for(const httplib::Request& req, const std::string& repo, const std::string& rest, httplib::Response& res,
                       bool api) {
    if (!token.empty() && req.get_header_value("Authorization") != "Bearer " + token) {
      error(res, 401, "", "Invalid credentials in Authorization header");
      return nullptr;
    }
    if (auto it = renames.find(repo); it != renames.end()) {
      res.status = 307;
      res.set_header("Location", (api ? "/api/models/" + it->second + "/revision/" : "/" + it->second + "/resolve/") + rest);
      return nullptr;
    }
    auto it = repos.find(repo);
    if (it == repos.end()) {
      error(res, 404, "RepoNotFound", "Repository not found");
      return nullptr;
    }
    return &it->second;
  }
};

namespace {

void serve_listing(TestHub::State& s, const httplib::Request& req, httplib::Response& res) {
  s.record("hub", req);
  std::lock_guard<std::mutex> lock(s.mutex);
  const std::string repo = req.matches[1].str() + "/" + req.matches[2].str(), rev = req.matches[3];
  const Repo* r = s.repo_for(req, repo, rev, res, true);
  if (r == nullptr) return;
  if (rev != "main" && rev != r->commit) return error(res, 404, "RevisionNotFound", "Invalid rev id: " + rev);
  nlohmann::json siblings = nlohmann::json::array();
  for (const HubFile& f : r->files) {
    nlohmann::json e = {{"rfilename", f.path}, {"size", f.content.size()}, {"blobId", blob_id(f)}};
    if (f.lfs) e["lfs"] = {{"sha256", hub::sha256_hex(f.content)}, {"size", f.content.size()}, {"pointerSize", 134}};
    siblings.push_back(e);
  }
  res.set_content(nlohmann::json{{"id", repo}, {"sha", r->commit}, {"siblings", siblings}}.dump(), "application/json");
}

void serve_resolve(TestHub::State& s, const httplib::Request& req, httplib::Response& res) {
  s.record("hub", req);
  std::lock_guard<std::mutex> lock(s.mutex);
  const std::string repo = req.matches[1].str() + "/" + req.matches[2].str(), rev = req.matches[3], path = req.matches[4];
  const Repo* r = s.repo_for(req, repo, rev + "/" + path, res, false);
  if (r == nullptr) return;
  if (rev != "main" && rev != r->commit) return error(res, 404, "RevisionNotFound", "Invalid rev id: " + rev);
  const HubFile* f = r->find(path);
  if (f == nullptr) return error(res, 404, "EntryNotFound", "Entry not found");
  res.set_header("X-Repo-Commit", r->commit);
  if (!f->lfs) {
    res.set_header("ETag", quoted(blob_id(*f)));
    res.set_content(f->content, "application/octet-stream");
    return;
  }
  const std::string sha = hub::sha256_hex(f->content);
  res.status = 302;
  res.set_header("ETag", quoted(blob_id(*f)));
  res.set_header("X-Linked-Etag", quoted(sha));
  res.set_header("X-Linked-Size", std::to_string(f->content.size()));
  res.set_header("Location", "http://127.0.0.1:" + std::to_string(s.cdn_port) + "/blobs/" + sha + "?file=" + path);
}

void serve_blob(TestHub::State& s, const httplib::Request& req, httplib::Response& res) {
  s.record("cdn", req);
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.blobs.find(req.matches[1]);
  if (it == s.blobs.end()) return error(res, 404, "", "no such blob");
  std::string content = it->second.content;
  const std::string path = it->second.path;
  // httplib applies a request's Range to a provider's content itself (206, Content-Range, 416),
  // so the provider serves the whole file by absolute offsets; a drop stops it at `limit`.
  if (auto c = s.corruptions.find(path); c != s.corruptions.end() && c->second.second > 0) {
    --c->second.second;
    content[c->second.first] = static_cast<char>(content[c->second.first] ^ 0x5a);
  }
  size_t limit = content.size();
  if (auto d = s.drops.find(path); d != s.drops.end() && d->second.second > 0) {
    --d->second.second;
    limit = d->second.first;
  }
  auto body = std::make_shared<std::string>(std::move(content));
  if (s.ignore_range) {  // a chunked answer, which httplib never cuts to a range: the whole file, 200
    res.set_chunked_content_provider("application/octet-stream", [body, limit](size_t offset, httplib::DataSink& sink) {
      if (offset >= limit) return false;
      const size_t n = std::min({limit - offset, size_t{65536}});
      sink.write(body->data() + offset, n);
      if (offset + n == body->size()) sink.done();
      return true;
    });
    return;
  }
  res.set_content_provider(body->size(), "application/octet-stream",
                           [body, limit](size_t offset, size_t length, httplib::DataSink& sink) {
                             if (offset >= limit) return false;  // closes the connection mid-body
                             const size_t n = std::min({length, limit - offset, size_t{65536}});
                             sink.write(body->data() + offset, n);
                             return true;
                           });
}

}  // namespace

TestHub::TestHub() : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.hub.set_keep_alive_max_count(1);
  s.cdn.set_keep_alive_max_count(1);
  s.hub.Get(R"(/api/models/([^/]+)/([^/]+)/revision/(.+))",
            [&s](const httplib::Request& req, httplib::Response& res) { serve_listing(s, req, res); });
  s.hub.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
            [&s](const httplib::Request& req, httplib::Response& res) { serve_resolve(s, req, res); });
  s.cdn.Get(R"(/blobs/([0-9a-f]+))", [&s](const httplib::Request& req, httplib::Response& res) { serve_blob(s, req, res); });
  s.hub_port = s.hub.bind_to_any_port("127.0.0.1");
  s.cdn_port = s.cdn.bind_to_any_port("127.0.0.1");
  if (s.hub_port <= 0 || s.cdn_port <= 0) throw std::runtime_error("test hub: no port");
  s.hub_thread = std::thread([&s] { s.hub.listen_after_bind(); });
  s.cdn_thread = std::thread([&s] { s.cdn.listen_after_bind(); });
}

TestHub::~TestHub() {
  state_->hub.stop();
  state_->cdn.stop();
  state_->hub_thread.join();
  state_->cdn_thread.join();
}

std::string TestHub::endpoint() const { return "http://127.0.0.1:" + std::to_string(state_->hub_port); }

std::string TestHub::add_repo(const std::string& repo, std::vector<HubFile> files) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  Repo& r = state_->repos[repo];
  r.commit = hub::sha256_hex(repo + "@" + std::to_string(++state_->versions)).substr(0, 40);
  r.files = std::move(files);
  for (const HubFile& f : r.files) {
    if (f.lfs) state_->blobs[hub::sha256_hex(f.content)] = f;
  }
  return r.commit;
}

void TestHub::add_rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->renames[from] = to;
}

void TestHub::require_token(const std::string& token) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->token = token;
}

void TestHub::drop_after(const std::string& path, size_t bytes, int times) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->drops[path] = {bytes, times};
}

void TestHub::corrupt(const std::string& path, size_t offset, int times) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->corruptions[path] = {offset, times};
}

void TestHub::ignore_range(bool ignore) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->ignore_range = ignore;
}

std::vector<HubRequest> TestHub::requests() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->seen;
}

int TestHub::count(const std::string& server, const std::string& method, const std::string& part) const {
  int n = 0;
  for (const HubRequest& r : requests()) {
    n += r.server == server && r.method == method && r.path.find(part) != std::string::npos;
  }
  return n;
}

void TestHub::clear_requests() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->seen.clear();
}

}  // namespace rpu::test
