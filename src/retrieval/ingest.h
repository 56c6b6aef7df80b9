// Adding files and folders to a knowledge base: each file is hashed, and skipped when the
// base holds the same content; otherwise read (document.h), chunked by the embedding model's
// tokens (chunker.h), embedded in batches and stored, all in one transaction per file, which
// replaces the file's old chunks. A file that fails (unreadable, binary, invalid UTF-8, a broken
// PDF, ...) is reported with the error naming it and rolled back; the rest of the batch goes on.
// Folders are walked recursively; files of unsupported kinds inside them are skipped (and
// counted), while an unsupported file named directly is an error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "retrieval/document.h"
#include "retrieval/embedder.h"
#include "retrieval/kb_store.h"

namespace rpu::retrieval {

struct IngestProgress {
  std::string path;             // the file being read
  int64_t files_done = 0, files_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;
};

struct IngestOptions {
  ReadOptions read;
  int embed_batch = 16;  // chunks per embedding call
  std::function<void(const IngestProgress&)> progress;  // after each batch and each file
};

struct IngestFileResult {
  std::string path;
  std::string status;  // "added", "updated", "unchanged", "failed"
  std::string error;   // for "failed": names the file and the problem
  int64_t chunks = 0;
  uint64_t bytes = 0;
};

struct IngestReport {
  std::vector<IngestFileResult> files;
  int added = 0, updated = 0, unchanged = 0, failed = 0, skipped_unsupported = 0;
  int64_t chunks = 0;
  uint64_t bytes = 0;  // of the files read (unchanged ones not counted)
  double seconds = 0;
};

// The files `paths` name (folders expanded, sorted), as absolute paths; unsupported files in
// folders are counted in *skipped.
std::vector<std::string> expand_paths(const std::vector<std::string>& paths, int* skipped);

IngestReport ingest(KnowledgeBase& kb, Embedder& embedder, const std::vector<std::string>& paths, const IngestOptions& options);

// The text a chunk is embedded as: its title and heading path give it context.
std::string embedding_text(const ChunkRecord& chunk);

}  // namespace rpu::retrieval
