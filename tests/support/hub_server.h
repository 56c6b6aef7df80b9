// A Hugging Face hub inside the test process, for `rpu pull` tests: two httplib servers on free
// loopback ports, the hub (GET /api/models/{repo}/revision/{rev}, HEAD/GET /{repo}/resolve/{rev}/
// {path}) and a "CDN" on another port that the hub redirects LFS files to (as huggingface.co
// redirects to its CDN), which serves Range requests. Faults a test switches on: a token the hub
// requires (401 otherwise), a connection the CDN drops after N bytes of a file, a byte it flips,
// Range headers it ignores (answers 200 with the whole file). Every request is recorded.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace rpu::test {

struct HubFile {
  std::string path;     // in the repository, e.g. "model-Q4_K_M.gguf" or "sub/x.json"
  std::string content;
  bool lfs = true;      // LFS files are redirected to the CDN and listed with their sha256
};

struct HubRequest {
  std::string server;  // "hub" or "cdn"
  std::string method, path, range, authorization;
};

class TestHub {
 public:
  TestHub();
  ~TestHub();
  TestHub(const TestHub&) = delete;
  TestHub& operator=(const TestHub&) = delete;

  std::string endpoint() const;  // http://127.0.0.1:PORT (HF_ENDPOINT)
  // A repository at branch main; its commit hash is derived from the name and a version counter
  // (adding the repository again makes a new commit).
  std::string add_repo(const std::string& repo, std::vector<HubFile> files);
  // Requests for `from` are redirected (307, a relative Location) to `to`, as for a renamed repo.
  void add_rename(const std::string& from, const std::string& to);

  void require_token(const std::string& token);                 // the hub answers 401 without it
  void drop_after(const std::string& path, size_t bytes, int times = 1);  // CDN closes mid-file
  void corrupt(const std::string& path, size_t offset, int times = 1);    // CDN flips a byte
  void ignore_range(bool ignore);                               // CDN answers 200, whole file

  std::vector<HubRequest> requests() const;
  // Requests to `server` whose method is `method` and whose path contains `part`.
  int count(const std::string& server, const std::string& method, const std::string& part = "") const;
  void clear_requests();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace rpu::test
