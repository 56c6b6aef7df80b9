#include "retrieval/ingest.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "retrieval/chunker.h"
#include "retrieval/knowledge_context.h"

namespace rpu::retrieval {
namespace {

namespace fs = std::filesystem;

std::string absolute_path(const fs::path& p) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(fs::absolute(p), ec);
  return (ec ? fs::absolute(p) : a).string();
}

// Chunks of one file on their way to the base: embedded in batches, then stored.
class ChunkSink {
 public:
  ChunkSink(KnowledgeBase& kb, Embedder& embedder, int batch) : kb_(kb), embedder_(embedder), batch_(std::max(1, batch)) {}

  void add(Chunk&& c) {
    ChunkRecord r;
    r.ordinal = c.ordinal;
    r.title = std::move(c.title);
    r.heading = std::move(c.heading_path);
    r.text = std::move(c.text);
    r.byte_begin = static_cast<int64_t>(c.byte_begin);
    r.byte_end = static_cast<int64_t>(c.byte_end);
    r.page_begin = c.page_begin;
    r.page_end = c.page_end;
    r.n_tokens = c.n_tokens;
    pending_.push_back(std::move(r));
    if (static_cast<int>(pending_.size()) >= batch_) flush();
  }

  void flush() {
    if (pending_.empty()) return;
    std::vector<std::vector<float>> vectors(pending_.size());
    if (embedder_.dims() > 0) {
      std::vector<std::string> texts;
      for (const ChunkRecord& r : pending_) texts.push_back(embedding_text(r));
      vectors = embedder_.embed(texts);
    }
    for (size_t i = 0; i < pending_.size(); ++i) kb_.add_chunk(pending_[i], vectors[i]);
    stored_ += static_cast<int64_t>(pending_.size());
    pending_.clear();
  }

  int64_t stored() const { return stored_; }

 private:
  KnowledgeBase& kb_;
  Embedder& embedder_;
  int batch_;
  std::vector<ChunkRecord> pending_;
  int64_t stored_ = 0;
};

}  // namespace

std::string embedding_text(const ChunkRecord& chunk) {
  const std::string head = source_label(chunk.title, chunk.heading);
  return head.empty() ? chunk.text : head + "\n\n" + chunk.text;
}

std::vector<std::string> expand_paths(const std::vector<std::string>& paths, int* skipped) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        if (document_kind(it->path()).empty()) {
          if (skipped) ++*skipped;
          continue;
        }
        found.push_back(absolute_path(it->path()));
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(absolute_path(p));  // missing or unsupported: its error comes when it is read
    }
  }
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

IngestReport ingest(KnowledgeBase& kb, Embedder& embedder, const std::vector<std::string>& paths, const IngestOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  IngestReport report;
  const std::vector<std::string> files = expand_paths(paths, &report.skipped_unsupported);
  IngestProgress progress;
  progress.files_total = static_cast<int64_t>(files.size());
  for (const std::string& f : files) {
    std::error_code ec;
    progress.bytes_total += fs::is_regular_file(f, ec) ? fs::file_size(f, ec) : 0;
  }
  const ChunkOptions chunking{.max_tokens = kb.settings().chunk_tokens, .overlap_tokens = kb.settings().overlap_tokens};
  auto count = [&](std::string_view text) { return embedder.count_tokens(text); };
  for (const std::string& path : files) {
    IngestFileResult result;
    result.path = path;
    progress.path = path;
    const uint64_t bytes_before = progress.bytes_done;
    try {
      if (!fs::is_regular_file(path)) throw DocumentError(path + ": no such file");
      if (document_kind(path).empty()) {
        throw DocumentError(path + ": unsupported file type (supported: .txt, .md, .html, .htm, .pdf, .jsonl)");
      }
      const std::string sha256 = sha256_file(path);
      SourceRecord old;
      const bool known = kb.find_source(path, &old);
      result.bytes = fs::file_size(path);
      if (known && old.sha256 == sha256) {
        result.status = "unchanged";
        result.chunks = old.chunks;
      } else {
        kb.begin_source({.path = path, .kind = document_kind(path), .sha256 = sha256, .bytes = static_cast<int64_t>(result.bytes)});
        ChunkSink sink(kb, embedder, options.embed_batch);
        const DocumentInfo info = chunk_document(path, options.read, chunking, count, [&](Chunk&& c) {
          sink.add(std::move(c));
          if (options.progress && sink.stored() % 64 == 0) options.progress(progress);
        });
        sink.flush();
        kb.end_source(info.title, info.sha256.empty() ? sha256 : info.sha256);
        result.status = known ? "updated" : "added";
        result.chunks = sink.stored();
        report.bytes += result.bytes;
        report.chunks += result.chunks;
      }
    } catch (const std::exception& e) {
      kb.abort_source();
      result.status = "failed";
      result.error = e.what();
    }
    if (result.status == "added") ++report.added;
    if (result.status == "updated") ++report.updated;
    if (result.status == "unchanged") ++report.unchanged;
    if (result.status == "failed") ++report.failed;
    progress.bytes_done = bytes_before + result.bytes;
    ++progress.files_done;
    if (options.progress) options.progress(progress);
    report.files.push_back(std::move(result));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace rpu::retrieval
