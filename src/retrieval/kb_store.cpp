#include "retrieval/kb_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace rpu::retrieval {
namespace {

namespace fs = std::filesystem;
using storage::Database;
using storage::OpenMode;
using storage::Statement;

constexpr const char* kSchema = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  title TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  chunks INTEGER NOT NULL DEFAULT 0,
  added_ms INTEGER NOT NULL
);
CREATE TABLE chunks (
  id INTEGER PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  title TEXT NOT NULL,
  heading TEXT NOT NULL,
  text TEXT NOT NULL,
  byte_begin INTEGER NOT NULL,
  byte_end INTEGER NOT NULL,
  page_begin INTEGER NOT NULL,
  page_end INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL,
  embedding BLOB
);
CREATE INDEX chunks_source ON chunks(source_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading, title, content='chunks', content_rowid='id',
  tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, text, heading, title) VALUES (new.id, new.text, new.heading, new.title);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text, heading, title) VALUES ('delete', old.id, old.text, old.heading, old.title);
END;
)sql";

std::string label_for(const std::string& path) { return "knowledge base '" + path + "'"; }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void set_meta(Database& db, const std::string& key, const std::string& value) {
  Statement(db, "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
      .text(1, key)
      .text(2, value)
      .run();
}

std::string get_meta(Database& db, const std::string& key) {
  Statement q(db, "SELECT value FROM meta WHERE key = ?1");
  q.text(1, key);
  return q.step() ? q.column_text(0) : std::string();
}

int meta_int(Database& db, const std::string& key) {
  const std::string v = get_meta(db, key);
  try {
    return v.empty() ? 0 : std::stoi(v);
  } catch (const std::exception&) {
    fail("{}: meta value '{}' is not a number: '{}'", db.label(), key, v);
  }
}

bool word_byte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

}  // namespace

std::vector<std::string> fts_query_words(const std::string& text) {
  constexpr size_t kMaxWords = 64;  // a pasted document as a query stays a bounded query
  std::vector<std::string> words;
  for (size_t i = 0; i < text.size() && words.size() < kMaxWords;) {
    if (!word_byte(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && word_byte(static_cast<unsigned char>(text[j]))) ++j;
    words.push_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

std::string fts_query_for(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "\"" : " OR \"") + w + "\"";
  return out;
}

std::string fts_query_for(const std::string& text) { return fts_query_for(fts_query_words(text)); }

void KnowledgeBase::create(const std::string& path, const KbSettings& settings) {
  if (fs::exists(path)) fail("{}: already exists (rpu kb add adds to it)", label_for(path));
  if (settings.chunk_tokens < 16 || settings.chunk_tokens > 8192) {
    fail("{}: chunk size must be 16 to 8192 tokens, got {}", label_for(path), settings.chunk_tokens);
  }
  if (settings.overlap_tokens < 0 || settings.overlap_tokens >= settings.chunk_tokens / 2) {
    fail("{}: overlap must be 0 to half the chunk size ({}), got {}", label_for(path), settings.chunk_tokens / 2,
         settings.overlap_tokens);
  }
  try {
    Database db(path, OpenMode::kCreate, label_for(path));
    db.exec("PRAGMA journal_mode=WAL;");
    storage::Transaction tx(db);
    db.exec(kSchema);
    set_meta(db, "embed_model", settings.embed_model);
    set_meta(db, "dims", std::to_string(settings.dims));
    set_meta(db, "chunk_tokens", std::to_string(settings.chunk_tokens));
    set_meta(db, "overlap_tokens", std::to_string(settings.overlap_tokens));
    set_meta(db, "generation", "0");
    db.exec(("PRAGMA user_version = " + std::to_string(kKbSchemaVersion)).c_str());
    tx.commit();
  } catch (...) {
    std::error_code ignored;
    fs::remove(path, ignored);
    throw;
  }
}

KnowledgeBase::KnowledgeBase(const std::string& path, KbAccess access) : path_(path), access_(access) {
  if (!fs::exists(path)) fail("{}: no such file (create it with: rpu kb create {})", label_for(path), path);
  if (access == KbAccess::kWrite) {
    lock_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (lock_fd_ < 0) fail("{}: cannot open: {}", label_for(path), std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd_);
      fail("{}: another writer (rpu kb add/rm) is changing it; try again when it has finished", label_for(path));
    }
  }
  try {
    db_ = std::make_unique<Database>(path, access == KbAccess::kWrite ? OpenMode::kReadWrite : OpenMode::kReadOnly,
                                     label_for(path));
    Statement version(*db_, "PRAGMA user_version");
    version.step();
    const int v = static_cast<int>(version.column_int(0));
    if (v > kKbSchemaVersion) {
      fail("{}: written by a newer rpu (schema version {}; this rpu reads up to {})", label_for(path), v, kKbSchemaVersion);
    }
    if (v < 1) fail("{}: not a knowledge base (no schema version)", label_for(path));
    db_->exec("PRAGMA foreign_keys = ON;");
    read_settings();
  } catch (...) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw;
  }
}

KnowledgeBase::~KnowledgeBase() {
  source_tx_.reset();
  db_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the writer lock
}

void KnowledgeBase::read_settings() {
  settings_.embed_model = get_meta(*db_, "embed_model");
  settings_.dims = meta_int(*db_, "dims");
  settings_.chunk_tokens = meta_int(*db_, "chunk_tokens");
  settings_.overlap_tokens = meta_int(*db_, "overlap_tokens");
  if (settings_.dims < 0 || settings_.dims > 65536 || settings_.chunk_tokens <= 0) {
    fail("{}: corrupt settings (dims {}, chunk_tokens {})", label_for(path_), settings_.dims, settings_.chunk_tokens);
  }
}

int64_t KnowledgeBase::generation() { return meta_int(*db_, "generation"); }

void KnowledgeBase::bump_generation() {
  db_->exec("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'generation'");
}

KbStats KnowledgeBase::stats() {
  KbStats s;
  s.settings = settings_;
  Statement version(*db_, "PRAGMA user_version");
  version.step();
  s.schema_version = static_cast<int>(version.column_int(0));
  Statement q(*db_, "SELECT (SELECT COUNT(*) FROM sources), COUNT(*), COALESCE(SUM(LENGTH(CAST(text AS BLOB))), 0), "
                    "COUNT(embedding) FROM chunks");
  q.step();
  s.sources = q.column_int(0);
  s.chunks = q.column_int(1);
  s.text_bytes = q.column_int(2);
  s.embedded = q.column_int(3);
  s.generation = generation();
  std::error_code ec;
  s.file_bytes = static_cast<int64_t>(fs::file_size(path_, ec));
  if (const auto wal = fs::file_size(path_ + "-wal", ec); !ec) s.file_bytes += static_cast<int64_t>(wal);
  return s;
}

bool KnowledgeBase::find_source(const std::string& path, SourceRecord* out) {
  Statement q(*db_, "SELECT id, path, kind, title, sha256, bytes, chunks, added_ms FROM sources WHERE path = ?1");
  q.text(1, path);
  if (!q.step()) return false;
  *out = {q.column_int(0), q.column_text(1), q.column_text(2), q.column_text(3), q.column_text(4),
          q.column_int(5), q.column_int(6), q.column_int(7)};
  return true;
}

std::vector<SourceRecord> KnowledgeBase::sources() {
  Statement q(*db_, "SELECT id, path, kind, title, sha256, bytes, chunks, added_ms FROM sources ORDER BY path");
  std::vector<SourceRecord> out;
  while (q.step()) {
    out.push_back({q.column_int(0), q.column_text(1), q.column_text(2), q.column_text(3), q.column_text(4),
                   q.column_int(5), q.column_int(6), q.column_int(7)});
  }
  return out;
}

void KnowledgeBase::begin_source(const SourceRecord& source) {
  if (access_ != KbAccess::kWrite) fail("{}: opened read-only", label_for(path_));
  if (source_tx_) fail("{}: a source is already being written", label_for(path_));
  source_tx_ = std::make_unique<storage::Transaction>(*db_);
  Statement(*db_, "DELETE FROM sources WHERE path = ?1").text(1, source.path).run();
  Statement(*db_, "INSERT INTO sources(path, kind, title, sha256, bytes, added_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
      .text(1, source.path)
      .text(2, source.kind)
      .text(3, source.title)
      .text(4, source.sha256)
      .integer(5, source.bytes)
      .integer(6, now_ms())
      .run();
  source_id_ = db_->last_insert_id();
  source_chunks_ = 0;
}

void KnowledgeBase::add_chunk(const ChunkRecord& c, const std::vector<float>& embedding) {
  if (!source_tx_) fail("{}: add_chunk outside begin_source/end_source", label_for(path_));
  if (!embedding.empty() && static_cast<int>(embedding.size()) != settings_.dims) {
    fail("{}: an embedding of {} values for a base of {} dimensions", label_for(path_), embedding.size(), settings_.dims);
  }
  Statement insert(*db_,
                   "INSERT INTO chunks(source_id, ordinal, title, heading, text, byte_begin, byte_end, page_begin, page_end, "
                   "n_tokens, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  insert.integer(1, source_id_).integer(2, c.ordinal).text(3, c.title).text(4, c.heading).text(5, c.text);
  insert.integer(6, c.byte_begin).integer(7, c.byte_end).integer(8, c.page_begin).integer(9, c.page_end).integer(10, c.n_tokens);
  if (embedding.empty()) {
    insert.null(11);
  } else {
    insert.blob(11, {reinterpret_cast<const uint8_t*>(embedding.data()), embedding.size() * sizeof(float)});
  }
  insert.run();
  ++source_chunks_;
}

void KnowledgeBase::end_source(const std::string& title, const std::string& sha256) {
  if (!source_tx_) fail("{}: end_source without begin_source", label_for(path_));
  Statement(*db_, "UPDATE sources SET chunks = ?1, title = ?2, sha256 = ?3 WHERE id = ?4")
      .integer(1, source_chunks_)
      .text(2, title)
      .text(3, sha256)
      .integer(4, source_id_)
      .run();
  bump_generation();
  source_tx_->commit();
  source_tx_.reset();
}

void KnowledgeBase::abort_source() { source_tx_.reset(); }

int KnowledgeBase::remove_sources(const std::string& path) {
  if (access_ != KbAccess::kWrite) fail("{}: opened read-only", label_for(path_));
  storage::Transaction tx(*db_);
  std::string folder = path;
  while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
  // Below the folder: paths starting with "folder/" (substr, not LIKE: '%' and '_' in names).
  Statement del(*db_, "DELETE FROM sources WHERE path = ?1 OR substr(path, 1, ?2) = ?3");
  del.text(1, folder).integer(2, static_cast<int64_t>(folder.size() + 1)).text(3, folder + "/").run();
  const int removed = db_->changes();
  if (removed > 0) bump_generation();
  tx.commit();
  return removed;
}

std::vector<std::string> KnowledgeBase::informative_words(const std::vector<std::string>& words) {
  const int64_t generation = this->generation();
  if (generation != fts_rows_generation_) {
    if (!vocab_ready_) {
      // Per connection (temp schema): writable on a read-only connection too.
      db_->exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.kb_chunks_vocab USING fts5vocab(main, chunks_fts, row)");
      vocab_ready_ = true;
    }
    Statement count(*db_, "SELECT COUNT(*) FROM chunks");
    count.step();
    fts_rows_ = count.column_int(0);
    fts_rows_generation_ = generation;
  }
  if (fts_rows_ < kFtsPruneMinChunks || words.size() < 2) return words;
  Statement df(*db_, "SELECT doc FROM temp.kb_chunks_vocab WHERE term = ?1");
  std::vector<std::string> kept;
  std::string rarest;
  int64_t rarest_docs = INT64_MAX;
  for (const std::string& w : words) {
    std::string term = w;  // as the unicode61 tokenizer folds ASCII; other words are looked up as
    for (char& c : term) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));  // written and, not found, kept
    df.reset();
    df.text(1, term);
    const int64_t docs = df.step() ? df.column_int(0) : 0;
    if (2 * docs < fts_rows_) {
      kept.push_back(w);
    } else if (docs < rarest_docs) {
      rarest_docs = docs;
      rarest = w;
    }
  }
  if (kept.empty()) kept.push_back(rarest);
  return kept;
}

std::vector<ScoredChunk> KnowledgeBase::search_text(const std::string& query, int k) {
  const std::vector<std::string> words = fts_query_words(query);
  if (words.empty() || k <= 0) return {};
  const std::string fts = fts_query_for(informative_words(words));
  if (fts.empty() || k <= 0) return {};
  // bm25() weights: text 1, heading 0.5, title 0.5 (headings and titles help, text decides).
  Statement q(*db_, "SELECT rowid, bm25(chunks_fts, 1.0, 0.5, 0.5) AS r FROM chunks_fts WHERE chunks_fts MATCH ?1 "
                    "ORDER BY r LIMIT ?2");
  q.text(1, fts).integer(2, k);
  std::vector<ScoredChunk> out;
  while (q.step()) out.push_back({q.column_int(0), -q.column_real(1)});
  return out;
}

void KnowledgeBase::load_embeddings(std::vector<int64_t>& ids, std::vector<float>& vectors) {
  ids.clear();
  vectors.clear();
  if (settings_.dims == 0) return;
  Statement q(*db_, "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id");
  const size_t row_bytes = static_cast<size_t>(settings_.dims) * sizeof(float);
  while (q.step()) {
    const auto blob = q.column_blob(1);
    if (blob.size() != row_bytes) fail("{}: chunk {} has a {}-byte embedding, expected {}", label_for(path_), q.column_int(0), blob.size(), row_bytes);
    ids.push_back(q.column_int(0));
    const size_t at = vectors.size();
    vectors.resize(at + static_cast<size_t>(settings_.dims));
    std::memcpy(vectors.data() + at, blob.data(), row_bytes);
  }
}

ChunkRecord KnowledgeBase::chunk(int64_t id) {
  Statement q(*db_, "SELECT c.id, c.source_id, s.path, c.ordinal, c.title, c.heading, c.text, c.byte_begin, c.byte_end, "
                    "c.page_begin, c.page_end, c.n_tokens FROM chunks c JOIN sources s ON s.id = c.source_id WHERE c.id = ?1");
  q.integer(1, id);
  if (!q.step()) fail("{}: no chunk {}", label_for(path_), id);
  ChunkRecord c;
  c.id = q.column_int(0);
  c.source_id = q.column_int(1);
  c.source_path = q.column_text(2);
  c.ordinal = static_cast<int>(q.column_int(3));
  c.title = q.column_text(4);
  c.heading = q.column_text(5);
  c.text = q.column_text(6);
  c.byte_begin = q.column_int(7);
  c.byte_end = q.column_int(8);
  c.page_begin = static_cast<int>(q.column_int(9));
  c.page_end = static_cast<int>(q.column_int(10));
  c.n_tokens = static_cast<int>(q.column_int(11));
  return c;
}

}  // namespace rpu::retrieval
