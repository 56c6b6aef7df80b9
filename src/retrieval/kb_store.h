// One knowledge base in one SQLite file: the sources it was built from (path, kind, content
// hash), their chunks (text, title, heading path, byte or page offsets), each chunk's
// embedding (float32, L2-normalised, when the base has an embedding model) and a full-text
// index over the chunks (FTS5, BM25-ranked).
//
// Schema (PRAGMA user_version = kKbSchemaVersion; a file written by a newer rpu is refused):
//   meta(key, value)        embed_model, dims, chunk_tokens, overlap_tokens, generation
//   sources(id, path UNIQUE, kind, title, sha256, bytes, chunks, added_ms)
//   chunks(id, source_id, ordinal, title, heading, text, byte_begin, byte_end, page_begin,
//          page_end, n_tokens, embedding BLOB)
//   chunks_fts(text, heading, title)   FTS5, external content = chunks, kept in step by triggers
// `generation` grows with every change, so a vector index built from the chunks (the HNSW
// sidecar file) knows when it is stale.
//
// Writers: one at a time. A writer takes an exclusive lock on the file (flock, beside SQLite's
// own locks) for its whole session and a second one is refused at once with a message saying
// so; readers (search, ask, a server) never wait for it (WAL mode).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/sqlite.h"

namespace rpu::retrieval {

inline constexpr int kKbSchemaVersion = 1;
// From this many chunks on, search_text leaves out words found in half the chunks or more.
inline constexpr int64_t kFtsPruneMinChunks = 1000;

struct KbSettings {
  std::string embed_model;  // model file the chunks were embedded with; empty: BM25 only
  int dims = 0;             // embedding size; 0: no embeddings
  int chunk_tokens = 256;   // chunk size in the embedding model's tokens
  int overlap_tokens = 32;
};

struct SourceRecord {
  int64_t id = 0;
  std::string path{}, kind{}, title{}, sha256{};  // {}: designated initializers may leave any out
  int64_t bytes = 0, chunks = 0, added_ms = 0;
};

struct ChunkRecord {
  int64_t id = 0;
  int64_t source_id = 0;
  std::string source_path;
  int ordinal = 0;
  std::string title, heading, text;
  int64_t byte_begin = 0, byte_end = 0;
  int page_begin = 0, page_end = 0;
  int n_tokens = 0;
};

struct KbStats {
  int64_t sources = 0, chunks = 0, text_bytes = 0, file_bytes = 0, embedded = 0, generation = 0;
  KbSettings settings;
  int schema_version = 0;
};

struct ScoredChunk {
  int64_t chunk_id = 0;
  double score = 0;  // BM25: higher is better (SQLite's bm25() negated); dense: cosine
};

enum class KbAccess { kRead, kWrite };

class KnowledgeBase {
 public:
  // Creates a new, empty base; refuses an existing file.
  static void create(const std::string& path, const KbSettings& settings);
  // Opens an existing base (kWrite: takes the writer lock or throws). Throws rpu::Error naming
  // the file: missing, not a knowledge base, a newer schema, another writer at work.
  KnowledgeBase(const std::string& path, KbAccess access);
  ~KnowledgeBase();
  KnowledgeBase(const KnowledgeBase&) = delete;
  KnowledgeBase& operator=(const KnowledgeBase&) = delete;

  const std::string& path() const { return path_; }
  const KbSettings& settings() const { return settings_; }
  KbStats stats();
  int64_t generation();

  // The stored source at `path` (absolute), if any.
  bool find_source(const std::string& path, SourceRecord* out);
  std::vector<SourceRecord> sources();

  // Replacing a source: begin_source deletes its old chunks and opens a transaction;
  // add_chunk appends (embedding empty or settings().dims floats); end_source commits with
  // the chunk count and what reading found (the title; the hash of the bytes actually read). An exception in between rolls the whole source back.
  void begin_source(const SourceRecord& source);
  void add_chunk(const ChunkRecord& chunk, const std::vector<float>& embedding);
  void end_source(const std::string& title, const std::string& sha256);
  void abort_source();

  // Removes every source whose path is `path` or lies below it (a folder); returns how many.
  int remove_sources(const std::string& path);

  // Full-text search: the query's words ORed (FTS5 syntax in the query is treated as text).
  // In a base of kFtsPruneMinChunks chunks or more, words found in half the chunks or more are
  // left out of the query (the rarest is kept when all are): FTS5's BM25 gives them an IDF of
  // 1e-6 (log((N - n + 0.5) / (n + 0.5)) <= 0 is clamped), so they cannot change the order of
  // the chunks that match another word, but ORing them makes FTS5 score nearly every chunk
  // (seconds on a million chunks). Chunks that matched only such words (score ~0) are no longer
  // returned.
  std::vector<ScoredChunk> search_text(const std::string& query, int k);
  // Every stored embedding, in chunk-id order: ids [n], vectors [n, dims].
  void load_embeddings(std::vector<int64_t>& ids, std::vector<float>& vectors);
  ChunkRecord chunk(int64_t id);

 private:
  void read_settings();
  void bump_generation();
  std::vector<std::string> informative_words(const std::vector<std::string>& words);

  std::string path_;
  KbAccess access_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<storage::Transaction> source_tx_;
  int64_t source_id_ = 0, source_chunks_ = 0;
  int lock_fd_ = -1;
  KbSettings settings_;
  bool vocab_ready_ = false;  // the fts5vocab table over chunks_fts exists on this connection
  int64_t fts_rows_ = 0, fts_rows_generation_ = -1;  // chunks, counted at that generation
};

// The FTS5 query for free text: each word (letters and digits, Unicode-aware) quoted, joined
// with OR; empty when the text has no word.
std::string fts_query_for(const std::string& text);
std::string fts_query_for(const std::vector<std::string>& words);
// The words fts_query_for quotes (at most 64).
std::vector<std::string> fts_query_words(const std::string& text);

}  // namespace rpu::retrieval
