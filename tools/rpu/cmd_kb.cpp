// rpu kb create|add|rm|search|info KB: one knowledge base in one SQLite file (src/retrieval).
//   create KB [--embed MODEL|builtin] [--chunk-tokens N] [--overlap N]
//   add KB PATH...        files and folders; unchanged files skipped; a progress bar on a TTY
//   rm KB PATH...         a file's chunks, or everything below a folder
//   search KB QUERY [-k N] [--mode hybrid|bm25|dense] [--json]
//   info KB [--json]
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kb_models.h"
#include "options.h"
#include "progress.h"
#include "core/error.h"
#include "retrieval/ingest.h"
#include "retrieval/knowledge_context.h"
#include "retrieval/retriever.h"

namespace rpu::cli {
namespace {

using namespace rpu::retrieval;

struct KbOptions {
  std::string kb;
  std::string embed;  // create: the embedding model; search: a replacement for the base's
  int chunk_tokens = 256, overlap = 32;
  std::vector<std::string> paths;
  std::string query;
  int k = 5;
  std::string mode = "hybrid";
  bool json = false;
  std::string rerank;  // search: a cross-encoder that rescores the first stage's best chunks
  int rerank_top = retrieval::kDefaultRerankDepth;
  RuntimeOptions runtime;
};

int create(const KbOptions& o) {
  KbSettings settings;
  settings.chunk_tokens = o.chunk_tokens;
  settings.overlap_tokens = o.overlap;
  if (!o.embed.empty() && o.embed != "none") {
    EmbeddingModels models(o.runtime);
    const auto embedder = models.embedder(o.embed);
    settings.embed_model = embedder->model();
    settings.dims = embedder->dims();
    if (settings.chunk_tokens > embedder->max_tokens() - 16) {
      fail("--chunk-tokens {}: the embedding model reads at most {} tokens", settings.chunk_tokens, embedder->max_tokens());
    }
  }
  KnowledgeBase::create(o.kb, settings);
  std::printf("created %s: %s, chunks of %d tokens with %d overlapping\n", o.kb.c_str(),
              settings.dims ? fmt::format("{}-dimensional embeddings by {}", settings.dims, settings.embed_model).c_str()
                            : "BM25 only (no embedding model)",
              settings.chunk_tokens, settings.overlap_tokens);
  return 0;
}

int add(const KbOptions& o) {
  KnowledgeBase kb(o.kb, KbAccess::kWrite);
  EmbeddingModels models(o.runtime);
  std::unique_ptr<Embedder> embedder = models.for_base(kb.settings());
  if (!embedder) embedder = word_counter();
  check_embedder_matches(kb, *embedder);
  ProgressBar bar("adding", "file");
  IngestOptions options;
  if (::isatty(STDERR_FILENO) == 1) {
    options.progress = [&](const IngestProgress& p) {
      bar.update({static_cast<size_t>(std::min(p.files_done, p.files_total - 1)), static_cast<size_t>(p.files_total),
                  p.bytes_done, p.bytes_total});
    };
  }
  const IngestReport r = ingest(kb, *embedder, o.paths, options);
  bar.finish();
  for (const IngestFileResult& f : r.files) {
    if (f.status == "failed") std::fprintf(stderr, "rpu: error: %s\n", f.error.c_str());
  }
  std::printf("%s: %d added, %d updated, %d unchanged, %d failed (%lld chunks, %s in %.1f s, %.2f MB/s)", o.kb.c_str(),
              r.added, r.updated, r.unchanged, r.failed, static_cast<long long>(r.chunks), format_bytes(static_cast<double>(r.bytes)).c_str(),
              r.seconds, r.seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / r.seconds : 0.0);
  if (r.skipped_unsupported > 0) std::printf("; %d files of unsupported types skipped", r.skipped_unsupported);
  std::printf("\n");
  return r.failed > 0 ? 1 : 0;
}

int remove(const KbOptions& o) {
  KnowledgeBase kb(o.kb, KbAccess::kWrite);
  int removed = 0;
  for (const std::string& p : o.paths) {
    const int n = kb.remove_sources(std::filesystem::absolute(p).lexically_normal().string());
    if (n == 0) std::fprintf(stderr, "rpu: warning: %s: nothing stored from '%s'\n", o.kb.c_str(), p.c_str());
    removed += n;
  }
  std::printf("%s: removed %d sources\n", o.kb.c_str(), removed);
  return 0;
}

int search(const KbOptions& o) {
  auto kb = std::make_unique<KnowledgeBase>(o.kb, KbAccess::kRead);
  EmbeddingModels models(o.runtime);
  const SearchMode mode = search_mode_parse(o.mode);
  std::unique_ptr<Embedder> embedder = mode == SearchMode::kText ? nullptr : models.for_base(kb->settings(), o.embed);
  Retriever retriever(std::move(kb), std::move(embedder));
  retriever.set_reranker(models.reranker(o.rerank));
  const std::vector<SearchHit> hits = retriever.search(o.query, {.k = o.k, .mode = mode, .rerank = o.rerank_top});
  if (o.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (size_t i = 0; i < hits.size(); ++i) {
      auto j = source_json(hits[i], static_cast<int>(i) + 1);
      j["text"] = hits[i].chunk.text;
      j["bm25_rank"] = hits[i].text_rank;
      j["dense_rank"] = hits[i].dense_rank;
      if (hits[i].first_stage_rank > 0) j["first_stage_rank"] = hits[i].first_stage_rank;
      out.push_back(j);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    const ChunkRecord& c = hits[i].chunk;
    std::string where = c.page_begin > 0 ? fmt::format("page {}", c.page_begin) : fmt::format("bytes {}-{}", c.byte_begin, c.byte_end);
    std::printf("[%zu] %.4f  %s (%s)%s%s\n", i + 1, hits[i].score, c.source_path.c_str(), where.c_str(),
                c.heading.empty() ? "" : "  ", c.heading.c_str());
    std::string preview = c.text.substr(0, 240);
    for (char& ch : preview) {
      if (ch == '\n') ch = ' ';
    }
    std::printf("    %s%s\n", preview.c_str(), c.text.size() > 240 ? "..." : "");
  }
  if (hits.empty()) std::printf("no results\n");
  return 0;
}

int info(const KbOptions& o) {
  KnowledgeBase kb(o.kb, KbAccess::kRead);
  const KbStats s = kb.stats();
  if (o.json) {
    nlohmann::ordered_json j = {{"path", o.kb}, {"schema_version", s.schema_version}, {"sources", s.sources},
                                {"chunks", s.chunks}, {"embedded", s.embedded}, {"text_bytes", s.text_bytes},
                                {"file_bytes", s.file_bytes}, {"embed_model", s.settings.embed_model},
                                {"dims", s.settings.dims}, {"chunk_tokens", s.settings.chunk_tokens},
                                {"overlap_tokens", s.settings.overlap_tokens}, {"generation", s.generation}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s (schema %d)\n", o.kb.c_str(), s.schema_version);
  std::printf("  sources: %lld, chunks: %lld (%lld embedded)\n", static_cast<long long>(s.sources),
              static_cast<long long>(s.chunks), static_cast<long long>(s.embedded));
  std::printf("  text: %s, file: %s\n", format_bytes(static_cast<double>(s.text_bytes)).c_str(),
              format_bytes(static_cast<double>(s.file_bytes)).c_str());
  std::printf("  embeddings: %s\n", s.settings.dims ? fmt::format("{} dims by {}", s.settings.dims, s.settings.embed_model).c_str() : "none (BM25 only)");
  std::printf("  chunks of %d tokens, %d overlapping\n", s.settings.chunk_tokens, s.settings.overlap_tokens);
  for (const SourceRecord& src : kb.sources()) {
    std::printf("  %s  %s, %lld chunks, %s\n", src.path.c_str(), src.kind.c_str(), static_cast<long long>(src.chunks),
                format_bytes(static_cast<double>(src.bytes)).c_str());
  }
  return 0;
}

}  // namespace

Action add_kb_command(CLI::App& app) {
  CLI::App* kb = app.add_subcommand("kb", "knowledge bases: documents indexed for retrieval-augmented answers");
  kb->require_subcommand(1);
  auto o = std::make_shared<KbOptions>();
  auto base = [&](CLI::App* cmd) { cmd->add_option("kb", o->kb, "knowledge base file (SQLite)")->required(); };

  CLI::App* c = kb->add_subcommand("create", "create an empty knowledge base");
  base(c);
  c->add_option("--embed", o->embed, "embedding model (GGUF, or 'builtin'); default: none, BM25 only");
  c->add_option("--chunk-tokens", o->chunk_tokens, "chunk size in the embedding model's tokens")->check(CLI::Range(16, 8192));
  c->add_option("--overlap", o->overlap, "tokens shared by consecutive chunks")->check(CLI::Range(0, 4096));
  add_runtime_options(c, o->runtime);

  CLI::App* a = kb->add_subcommand("add", "add or update files and folders (.txt .md .html .pdf .jsonl)");
  base(a);
  a->add_option("paths", o->paths, "files and folders")->required();
  add_runtime_options(a, o->runtime);

  CLI::App* r = kb->add_subcommand("rm", "remove files (or everything below a folder)");
  base(r);
  r->add_option("paths", o->paths, "files and folders as they were added")->required();

  CLI::App* s = kb->add_subcommand("search", "the chunks that best match a query");
  base(s);
  s->add_option("query", o->query, "what to look for")->required();
  s->add_option("-k", o->k, "results")->check(CLI::Range(1, 1000));
  s->add_option("--mode", o->mode, "hybrid (BM25 + dense, fused), bm25 or dense")->check(CLI::IsMember({"hybrid", "bm25", "dense"}));
  s->add_option("--embed", o->embed, "embedding model to use instead of the one the base names (same dimensions)");
  add_rerank_options(s, o->rerank, &o->rerank_top);
  s->add_flag("--json", o->json, "results as JSON");
  add_runtime_options(s, o->runtime);

  CLI::App* i = kb->add_subcommand("info", "what a knowledge base holds");
  base(i);
  i->add_flag("--json", o->json, "as JSON");

  return [o, c, a, r, s]() {  // neither create, add, rm nor search: info
    if (c->parsed()) return create(*o);
    if (a->parsed()) return add(*o);
    if (r->parsed()) return remove(*o);
    if (s->parsed()) return search(*o);
    return info(*o);
  };
}

}  // namespace rpu::cli
