#include "hub/download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "core/error.h"
#include "hub/sha256.h"

namespace rpu::hub {
namespace {

// flock() on {cache}/.locks/.../{etag}.lock, as huggingface_hub's filelock does, so that two
// pulls (or a pull and a Python download) never write one blob at once.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot open the lock file {}: {}", path.string(), std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) fail("cannot lock {}: {}", path.string(), std::strerror(errno));
    }
  }
  ~BlobLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

// blobs/{etag}.incomplete, appended to.
class PartFile {
 public:
  explicit PartFile(fs::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create {}: {}", path_.string(), std::strerror(errno));
  }
  ~PartFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  uint64_t size() const {
    struct stat st {};
    return ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }
  void truncate() {
    if (::ftruncate(fd_, 0) != 0) fail("cannot truncate {}: {}", path_.string(), std::strerror(errno));
  }
  // Every byte or false with errno_ set (ENOSPC, EFBIG, EDQUOT, EIO ...).
  bool write(const char* data, size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        errno_ = n < 0 ? errno : ENOSPC;
        return false;
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
  void close_synced() {
    const bool synced = ::fdatasync(fd_) == 0;
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (!synced) fail("cannot write {}: {}", path_.string(), std::strerror(error));
  }
  int error() const { return errno_; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  int fd_ = -1;
  int errno_ = 0;
};

// The digest of the first `size` bytes already in `path` (a download being resumed).
void hash_prefix(const fs::path& path, uint64_t size, Sha256& hash) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot read {}: {}", path.string(), std::strerror(errno));
  std::vector<char> buffer(1 << 20);
  while (size > 0) {
    const ssize_t n = ::read(fd, buffer.data(), std::min<uint64_t>(size, buffer.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail("cannot read {}: {}", path.string(), n < 0 ? std::strerror(errno) : "it got shorter");
    }
    hash.update(buffer.data(), static_cast<size_t>(n));
    size -= static_cast<uint64_t>(n);
  }
  ::close(fd);
}

struct Attempt {
  HttpAnswer answer;
  bool complete = false;
  std::string broken;
  uint64_t received = 0;
};

// One GET from `from` on, appended to `part`. A server that ignores the Range (200) or answers
// a different range starts the file again.
Attempt transfer(const HubHttp& http, const BlobSource& source, PartFile& part, uint64_t from, Sha256& hash,
                 const std::function<void(uint64_t)>& on_progress) {
  Attempt a;
  uint64_t have = from;
  auto on_answer = [&](const HttpAnswer& answer) {
    const bool same_range = answer.status == 206 && answer.header("content-range").rfind(fmt::format("bytes {}-", from), 0) == 0;
    if (from > 0 && !same_range) {  // the whole file (200), or not the range asked for
      if (answer.status == 206) return false;
      part.truncate();
      hash.reset();
      have = 0;
    }
    return true;
  };
  auto on_data = [&](const char* data, size_t size) {
    if (!part.write(data, size)) return false;
    hash.update(data, size);
    have += size;
    a.received += size;
    if (on_progress) on_progress(have);
    return true;
  };
  HubHttp::Transfer t = http.download(source.url, from, on_answer, on_data);
  a.answer = std::move(t.answer);
  a.complete = t.complete;
  a.broken = t.broken;
  return a;
}

[[noreturn]] void fail_write(const BlobSource& source, const PartFile& part) {
  const int e = part.error();
  const bool full = e == ENOSPC || e == EFBIG || e == EDQUOT;
  fail("cannot write {} ({}): {}{}; the {} bytes so far are kept there and the next rpu pull resumes", part.path().string(),
       source.path, std::strerror(e), full ? " (disk full or file size limit)" : "", part.size());
}

}  // namespace

uint64_t fetch_blob(const HubHttp& http, const HubCache& cache, const BlobSource& source,
                    const std::function<void(uint64_t)>& on_progress, const std::function<void(const std::string&)>& note) {
  const BlobLock lock(cache.lock_file(source.etag));
  std::error_code ec;
  if (fs::exists(cache.blob(source.etag), ec)) return 0;  // another pull wrote it meanwhile
  fs::create_directories(cache.blob(source.etag).parent_path(), ec);
  if (ec) fail("cannot create {}: {}", cache.blob(source.etag).parent_path().string(), ec.message());
  PartFile part(cache.incomplete(source.etag));
  Sha256 hash;
  uint64_t received = 0;
  int attempts_left = 1 + std::max(0, http.settings().download_retries);
  bool restarted = false;
  for (;;) {
    uint64_t from = part.size();
    if (source.size_known && from > source.size) {
      part.truncate();
      from = 0;
    }
    hash.reset();
    hash_prefix(part.path(), from, hash);
    if (source.size_known && from == source.size && from > 0) break;  // a whole file left by an earlier pull
    if (from > 0 && note) note(fmt::format("{}: resuming at byte {} of {}", source.path, from, source.size));
    const Attempt a = transfer(http, source, part, from, hash, on_progress);
    received += a.received;
    if (part.error() != 0) fail_write(source, part);
    if ((a.answer.status == 416 || (a.answer.status == 206 && !a.complete && a.received == 0 && a.broken == "refused")) &&
        !restarted) {
      part.truncate();  // the server cannot serve the rest of what we have: start again
      restarted = true;
      continue;
    }
    if (a.answer.status != 200 && a.answer.status != 206) fail_hub_answer(a.answer, source.path, false);
    const uint64_t have = part.size();
    if (a.complete && (!source.size_known || have >= source.size)) break;
    if (--attempts_left > 0) {
      if (note) note(fmt::format("{}: the transfer broke at byte {} ({}); resuming", source.path, have, a.broken));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    fail("the download of {} broke after {} of {} bytes ({}); run rpu pull again to resume", source.path, have,
         source.size_known ? std::to_string(source.size) : "?", a.broken.empty() ? "the connection closed early" : a.broken);
  }
  const uint64_t have = part.size();
  if (source.size_known && have != source.size) {
    fs::remove(part.path(), ec);
    fail("{}: the download has {} bytes but the hub lists {}; it was deleted (run rpu pull again)", source.path, have, source.size);
  }
  const std::string digest = hash.hex();
  if (!source.sha256.empty() && digest != source.sha256) {
    fs::remove(part.path(), ec);
    fail("{}: sha256 mismatch (the hub lists {}, the download has {}); the download was deleted, run rpu pull again",
         source.path, source.sha256, digest);
  }
  part.close_synced();
  fs::rename(part.path(), cache.blob(source.etag), ec);
  if (ec) fail("cannot rename {} to its blob: {}", part.path().string(), ec.message());
  return received;
}

void fail_hub_answer(const HttpAnswer& answer, const std::string& what, bool token_sent) {
  const std::string code = answer.header("x-error-code");
  std::string message = answer.header("x-error-message");
  if (message.empty() && answer.body.size() < 300 && answer.body.find('<') == std::string::npos) message = answer.body;
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  const std::string detail = message.empty() ? "" : " (" + message + ")";
  switch (answer.status) {
    case 401:
      fail("{}: the hub answered 401 Unauthorized{}: the repository is private or gated, or does not exist; {}", what, detail,
           token_sent ? "the token in HF_TOKEN was not accepted for it" : "set HF_TOKEN to a token that can read it");
    case 403:
      fail("{}: the hub answered 403 Forbidden{}: a gated repository needs its terms accepted by the account of HF_TOKEN", what,
           detail);
    case 404:
      if (code == "RevisionNotFound") fail("{}: revision not found on the hub{}", what, detail);
      if (code == "EntryNotFound") fail("{}: file not found in the repository{}", what, detail);
      fail("{}: not found on the hub (404){}: check the name", what, detail);
    case 429:
      fail("{}: the hub is rate limiting requests (429){}; try again later, or set HF_TOKEN", what, detail);
    default:
      fail("{}: the hub answered HTTP {}{}", what, answer.status, detail);
  }
}

}  // namespace rpu::hub
