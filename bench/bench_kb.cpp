// Knowledge bases at scale (issue 14; bench/kb/scale.sh runs it and writes the table).
//   bench_kb corpus DIR --chunks N [--seed S]
//       Markdown files (a title, sections under "##" headings, paragraphs of sentences) whose
//       words follow a Zipf law over a fixed synthetic vocabulary (the most common ranks are
//       English function words), sized to give about N chunks at the default chunk size
//       (256 tokens, 32 overlapping) through `rpu kb add`. Deterministic from the seed.
//   bench_kb fill KB --chunks N --dims D [--latent L] [--seed S]
//       A base written straight through the store API (KnowledgeBase::begin_source/add_chunk/
//       end_source): chunk-sized texts from the same generator and random L2-normalised
//       embeddings (uniform, or of intrinsic dimension L: VectorSource), so a 1M-chunk base
//       needs no model forwards.
//   bench_kb query KB [--queries Q] [--no-hnsw 1] [--reuse-graph 1] [--seed S]
//       Query latency (p50/p99) on such a base: BM25 and hybrid through the Retriever (a random
//       query vector, drawn like the base's vectors, stands in for the embedder), the dense exact scan and the HNSW graph
//       through VectorIndex; HNSW build time and recall@10 against the exact scan; peak RSS.
//       One JSON object on stdout (and each phase's numbers on stderr as they come). --no-hnsw 1
//       stops after the exact scan (no graph build, no hybrid); --reuse-graph 1 loads a saved
//       graph of the base's generation instead of building it. HNSW recall is also given at
//       two more sizes of ef_search (asking for 100 and 200 candidates; ef_search = hnsw_ef_search(n, k):
//       max(128, 4k, n / 2500), so at 1M vectors every k up to 100 searches with ef 400).
//   bench_kb embed [--queries Q]
//       The built-in model's cost per query embedding (the one model forward a dense query adds).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "retrieval/kb_store.h"
#include "storage/sqlite.h"
#include "retrieval/retriever.h"
#include "retrieval/vector_index.h"
#ifdef RPU_BENCH_WITH_MODEL
#include "kb_models.h"
#endif

namespace {

namespace fs = std::filesystem;
using namespace rpu::retrieval;
using Clock = std::chrono::steady_clock;

// splitmix64: the same stream on every platform (std:: distributions are not portable).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  int range(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
  double normal() {  // Box-Muller
    const double u = std::max(uniform(), 1e-300), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
};

// A vocabulary of kVocab words, rank 0 the most common, drawn with P(rank r) ~ 1 / (r + 2.7)^1.0
// (Zipf-Mandelbrot, roughly what English text shows).
class Vocabulary {
 public:
  static constexpr int kVocab = 40000;
  Vocabulary() {
    static const char* const kCommon[] = {
        "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by", "this",
        "are", "or", "from", "at", "which", "an", "not", "have", "but", "can", "its", "when", "all", "one", "has",
        "more", "if", "their", "there", "they", "each", "other", "into", "than", "also", "only", "these", "may",
        "some", "any", "such", "two", "then", "after", "first", "where", "used", "most", "between", "over", "new"};
    for (const char* w : kCommon) words_.emplace_back(w);
    static const char* const kOnset[] = {"b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v",
                                         "w", "z", "br", "cl", "dr", "fr", "gr", "pl", "pr", "sh", "st", "th", "tr"};
    static const char* const kNucleus[] = {"a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "y"};
    static const char* const kCoda[] = {"", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng", "x"};
    Rng rng(12345);  // the vocabulary is fixed; the seed moves the text only
    std::set<std::string> seen(words_.begin(), words_.end());
    while (static_cast<int>(words_.size()) < kVocab) {
      // Frequent words are short: 1-2 syllables near the top, up to 5 in the tail.
      const int rank = static_cast<int>(words_.size());
      const int max_syl = rank < 500 ? 2 : rank < 5000 ? 3 : rank < 20000 ? 4 : 5;
      const int syl = rng.range(1, max_syl);
      std::string w;
      for (int i = 0; i < syl; ++i) {
        w += kOnset[rng.next() % std::size(kOnset)];
        w += kNucleus[rng.next() % std::size(kNucleus)];
        if (i + 1 == syl || rng.uniform() < 0.3) w += kCoda[rng.next() % std::size(kCoda)];
      }
      if (seen.insert(w).second) words_.push_back(w);
    }
    cdf_.resize(kVocab);
    double sum = 0;
    for (int r = 0; r < kVocab; ++r) cdf_[r] = (sum += 1.0 / std::pow(r + 2.7, 1.0));
    for (double& c : cdf_) c /= sum;
  }
  const std::string& draw(Rng& rng) const {
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), rng.uniform());
    return words_[std::min<size_t>(static_cast<size_t>(it - cdf_.begin()), words_.size() - 1)];
  }
  // A word from the middle of the distribution (ranks 200-5000): names and terms for headings.
  const std::string& topical(Rng& rng) const { return words_[static_cast<size_t>(rng.range(200, 5000))]; }

 private:
  std::vector<std::string> words_;
  std::vector<double> cdf_;
};

std::string capitalised(std::string w) {
  if (!w.empty()) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
  return w;
}

// A sentence of 6-28 words; a few carry a topical term, a comma or a number.
void sentence(const Vocabulary& v, Rng& rng, const std::vector<std::string>& topic, std::string& out) {
  const int n = rng.range(6, 28);
  for (int i = 0; i < n; ++i) {
    std::string w = (!topic.empty() && rng.uniform() < 0.06) ? topic[rng.next() % topic.size()] : v.draw(rng);
    if (rng.uniform() < 0.01) w = std::to_string(rng.range(2, 2026));
    out += i == 0 ? capitalised(w) : w;
    if (i + 1 < n && rng.uniform() < 0.07) out += ',';
    out += i + 1 < n ? " " : ". ";
  }
}

void paragraph(const Vocabulary& v, Rng& rng, const std::vector<std::string>& topic, std::string& out) {
  const int n = rng.range(2, 7);
  for (int i = 0; i < n; ++i) sentence(v, rng, topic, out);
  out.back() = '\n';
}

std::string heading(const Vocabulary& v, Rng& rng, int words) {
  std::string h;
  for (int i = 0; i < words; ++i) h += (i ? " " : "") + (i == 0 ? capitalised(v.topical(rng)) : v.topical(rng));
  return h;
}

// One Markdown document of about `target_bytes`.
std::string document(const Vocabulary& v, Rng& rng, size_t target_bytes, std::string* title) {
  std::vector<std::string> topic;
  for (int i = 0; i < 6; ++i) topic.push_back(v.topical(rng));
  *title = heading(v, rng, rng.range(2, 5));
  std::string out = "# " + *title + "\n\n";
  while (out.size() < target_bytes) {
    out += "## " + heading(v, rng, rng.range(1, 4)) + "\n\n";
    const int paragraphs = rng.range(2, 8);
    for (int p = 0; p < paragraphs; ++p) {
      if (rng.uniform() < 0.08) {  // a short list now and then
        for (int i = rng.range(2, 5); i > 0; --i) out += "- " + heading(v, rng, rng.range(2, 6)) + "\n";
        out += "\n";
      }
      paragraph(v, rng, topic, out);
      out += "\n";
    }
  }
  return out;
}

// Bytes of generated Markdown per stored chunk at 256 tokens / 32 overlap (measured with
// `rpu kb add` on a 10k-chunk corpus of this generator; chunks end at section boundaries, so
// this is less than 256 tokens' worth).
constexpr double kBytesPerChunk = 767.0;

int cmd_corpus(const std::string& dir, int64_t chunks, uint64_t seed) {
  const Vocabulary v;
  Rng rng(seed);
  fs::create_directories(dir);
  const double total = static_cast<double>(chunks) * kBytesPerChunk;
  double written = 0;
  int64_t files = 0;
  while (written < total) {
    std::string title;
    const std::string doc = document(v, rng, static_cast<size_t>(rng.range(8000, 80000)), &title);
    char name[64];
    std::snprintf(name, sizeof name, "%03lld/doc%06lld.md", static_cast<long long>(files / 1000), static_cast<long long>(files));
    const fs::path path = fs::path(dir) / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << doc;
    written += static_cast<double>(doc.size());
    ++files;
  }
  std::printf("{\"files\": %lld, \"bytes\": %.0f, \"target_chunks\": %lld}\n", static_cast<long long>(files), written,
              static_cast<long long>(chunks));
  return 0;
}

std::vector<float> random_unit(Rng& rng, int dims) {
  std::vector<float> v(static_cast<size_t>(dims));
  double norm = 0;
  for (float& x : v) {
    x = static_cast<float>(rng.normal());
    norm += static_cast<double>(x) * x;
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= inv;
  return v;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Embeddings: uniform on the sphere (latent 0: the hardest case for a graph index, every
// direction alike), or like real embeddings, with a low intrinsic dimension: P z + 0.25 n for
// z ~ N(0, I_latent), a fixed random P [dims, latent] and isotropic noise n, normalised.
class VectorSource {
 public:
  VectorSource(int dims, int latent, uint64_t seed) : dims_(dims), latent_(latent), rng_(seed) {
    Rng prng(4242);  // the same P for the base and its queries
    for (int i = 0; i < dims * latent; ++i) p_.push_back(static_cast<float>(prng.normal() / std::sqrt(latent)));
  }
  std::vector<float> next() {
    if (latent_ == 0) return random_unit(rng_, dims_);
    std::vector<float> z(static_cast<size_t>(latent_));
    for (float& x : z) x = static_cast<float>(rng_.normal());
    std::vector<float> v(static_cast<size_t>(dims_));
    double norm = 0;
    for (int d = 0; d < dims_; ++d) {
      double x = 0.25 * rng_.normal();
      for (int l = 0; l < latent_; ++l) x += static_cast<double>(p_[static_cast<size_t>(d * latent_ + l)]) * z[static_cast<size_t>(l)];
      v[static_cast<size_t>(d)] = static_cast<float>(x);
      norm += x * x;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v) x *= inv;
    return v;
  }

 private:
  int dims_, latent_;
  Rng rng_;
  std::vector<float> p_;
};

// The latent size a filled base was made with, from its embed_model ("random" or "random-latentL").
int latent_of(const std::string& model) {
  const std::string tag = "random-latent";
  return model.rfind(tag, 0) == 0 ? std::stoi(model.substr(tag.size())) : 0;
}

// Chunks of about 850 bytes of text (what `rpu kb add` stores per chunk of this generator's Markdown), 100 per source.
int cmd_fill(const std::string& kb_path, int64_t chunks, int dims, int latent, uint64_t seed) {
  const Vocabulary v;
  Rng rng(seed);
  VectorSource vec(dims, latent, seed + 777);
  KbSettings settings;
  settings.embed_model = dims == 0 ? "" : latent == 0 ? "random" : "random-latent" + std::to_string(latent);
  settings.dims = dims;
  KnowledgeBase::create(kb_path, settings);
  KnowledgeBase kb(kb_path, KbAccess::kWrite);
  const auto t0 = Clock::now();
  int64_t done = 0, source = 0;
  while (done < chunks) {
    std::vector<std::string> topic;
    for (int i = 0; i < 6; ++i) topic.push_back(v.topical(rng));
    SourceRecord s;
    s.path = "/synthetic/doc" + std::to_string(source++) + ".md";
    s.kind = "markdown";
    s.title = heading(v, rng, rng.range(2, 5));
    s.sha256 = std::string(64, '0');
    kb.begin_source(s);
    std::string head;
    for (int ord = 0; ord < 100 && done < chunks; ++ord, ++done) {
      if (ord % 3 == 0) head = heading(v, rng, rng.range(1, 4));
      ChunkRecord c;
      c.ordinal = ord;
      c.title = s.title;
      c.heading = head;
      while (c.text.size() < 600) paragraph(v, rng, topic, c.text);
      c.byte_begin = ord * 1000;
      c.byte_end = c.byte_begin + static_cast<int64_t>(c.text.size());
      c.n_tokens = 240;
      kb.add_chunk(c, dims > 0 ? vec.next() : std::vector<float>());
    }
    kb.end_source(s.title, s.sha256);
    if (source % 500 == 0) std::fprintf(stderr, "\rfill: %lld chunks", static_cast<long long>(done));
  }
  const double secs = seconds_since(t0);
  const KbStats st = kb.stats();
  std::fprintf(stderr, "\n");
  std::printf("{\"chunks\": %lld, \"dims\": %d, \"seconds\": %.2f, \"file_bytes\": %lld, \"text_bytes\": %lld}\n",
              static_cast<long long>(st.chunks), dims, secs, static_cast<long long>(st.file_bytes),
              static_cast<long long>(st.text_bytes));
  return 0;
}

// Random unit vectors as the query embedding: measures the search, not the embedder.
class RandomEmbedder final : public Embedder {
 public:
  RandomEmbedder(int dims, uint64_t seed) : dims_(dims), rng_(seed) {}
  std::string model() const override { return "random"; }
  int dims() const override { return dims_; }
  int max_tokens() const override { return 1 << 20; }
  int count_tokens(std::string_view text) const override { return static_cast<int>(text.size() / 4); }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override {
    std::vector<std::vector<float>> out;
    for (size_t i = 0; i < texts.size(); ++i) out.push_back(next_ ? *next_ : random_unit(rng_, dims_));
    return out;
  }
  const std::vector<float>* next_ = nullptr;  // the vector the next embed() returns, when set

 private:
  int dims_;
  Rng rng_;
};

struct Latency {
  std::vector<double> ms;
  nlohmann::json json() {
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))]; };
    double sum = 0;
    for (double x : ms) sum += x;
    return {{"p50_ms", at(0.50)}, {"p99_ms", at(0.99)}, {"mean_ms", ms.empty() ? 0 : sum / static_cast<double>(ms.size())}, {"n", ms.size()}};
  }
};

template <typename F>
Latency time_each(int n, F&& f) {
  Latency l;
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    f(i);
    l.ms.push_back(seconds_since(t0) * 1000.0);
  }
  return l;
}

std::vector<std::string> query_texts(int n, uint64_t seed) {
  const Vocabulary v;
  Rng rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string q;
    const int words = rng.range(2, 6);
    for (int w = 0; w < words; ++w) q += (w ? " " : "") + (rng.uniform() < 0.5 ? v.topical(rng) : v.draw(rng));
    out.push_back(q + "?");
  }
  return out;
}

// Each phase's numbers also go to stderr as they come (a long run stopped early keeps them).
void phase(const nlohmann::ordered_json& out, const char* name) {
  std::fprintf(stderr, "phase %s: %s\n", name, out.dump().c_str());
  std::fflush(stderr);
}

int cmd_query(const std::string& kb_path, int queries, bool hnsw_too, bool reuse_graph, uint64_t seed) {
  nlohmann::ordered_json out;
  std::vector<std::string> texts = query_texts(queries, seed);
  int64_t chunks = 0, generation = 0;
  int dims = 0, latent = 0;
  {
    KnowledgeBase kb(kb_path, KbAccess::kRead);
    const KbStats st = kb.stats();
    chunks = st.chunks;
    dims = st.settings.dims;
    generation = st.generation;
    latent = latent_of(st.settings.embed_model);
    out["chunks"] = chunks;
    out["vectors"] = dims == 0 ? "none" : latent == 0 ? "uniform" : "latent" + std::to_string(latent);
    out["dims"] = dims;
    out["file_bytes"] = st.file_bytes;
    out["text_bytes"] = st.text_bytes;
    out["file_bytes_per_chunk"] = static_cast<double>(st.file_bytes) / static_cast<double>(std::max<int64_t>(1, chunks));
    out["text_bytes_per_chunk"] = static_cast<double>(st.text_bytes) / static_cast<double>(std::max<int64_t>(1, chunks));
  }
  std::vector<std::vector<float>> qvecs;
  VectorSource qsource(std::max(1, dims), latent, seed + 99);  // queries drawn like the base's vectors
  for (int i = 0; i < queries; ++i) qvecs.push_back(qsource.next());
  out["rss_start_mb"] = peak_rss_mb();

  // BM25 through the Retriever: FTS5 query, top 50 candidates, the 5 best chunks read back.
  {
    Retriever r(std::make_unique<KnowledgeBase>(kb_path, KbAccess::kRead), nullptr);
    for (int i = 0; i < std::min(20, queries); ++i) r.search(texts[static_cast<size_t>(i)], {.k = 5, .mode = SearchMode::kText});
    int64_t hits = 0;
    Latency l = time_each(queries, [&](int i) { hits += static_cast<int64_t>(r.search(texts[static_cast<size_t>(i)], {.k = 5, .mode = SearchMode::kText}).size()); });
    out["bm25"] = l.json();
    out["bm25"]["hits_per_query"] = static_cast<double>(hits) / queries;
  }
  // The FTS5 statement alone with every word ORed, as search_text ran it before it left out the
  // words found in half the chunks (the comparison for that change; 20 queries: it is slow).
  {
    rpu::storage::Database db(kb_path, rpu::storage::OpenMode::kReadOnly, "bench");
    const int n = std::min(20, queries);
    Latency l = time_each(n, [&](int i) {
      rpu::storage::Statement q(db, "SELECT rowid, bm25(chunks_fts, 1.0, 0.5, 0.5) AS r FROM chunks_fts WHERE chunks_fts "
                                    "MATCH ?1 ORDER BY r LIMIT 50");
      q.text(1, fts_query_for(texts[static_cast<size_t>(i)]));
      while (q.step()) {
      }
    });
    out["bm25_sql_all_words"] = l.json();
  }
  out["rss_after_bm25_mb"] = peak_rss_mb();
  phase(out, "bm25");
  if (dims == 0) {
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }

  std::vector<int64_t> ids;
  std::vector<float> vectors;
  {
    KnowledgeBase kb(kb_path, KbAccess::kRead);
    const auto t0 = Clock::now();
    kb.load_embeddings(ids, vectors);
    out["load_embeddings_s"] = seconds_since(t0);
  }
  // Dense, the exact scan (Retriever asks the index for its 50 candidates).
  std::vector<std::vector<int64_t>> exact10(static_cast<size_t>(queries));
  {
    VectorIndexOptions o;
    o.hnsw_threshold = INT64_MAX;
    const auto t0 = Clock::now();
    VectorIndex exact(ids, vectors, dims, o);
    out["exact_index_s"] = seconds_since(t0);
    Latency l = time_each(queries, [&](int i) {
      const auto hits = exact.search_exact(qvecs[static_cast<size_t>(i)], 50);
      for (size_t j = 0; j < std::min<size_t>(10, hits.size()); ++j) exact10[static_cast<size_t>(i)].push_back(hits[j].chunk_id);
    });
    out["dense_exact"] = l.json();
  }
  out["rss_after_exact_mb"] = peak_rss_mb();
  phase(out, "exact");
  if (!hnsw_too) {
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  // Dense, HNSW (built whatever the size, saved where the Retriever looks for it).
  const std::string cache = kb_path + ".hnsw";
  {
    std::error_code ec;
    if (!reuse_graph) {  // otherwise a saved graph of the same generation is loaded (build time: load time)
      fs::remove(cache, ec);
      fs::remove(cache + ".json", ec);
    }
    VectorIndexOptions o;
    o.hnsw_threshold = 0;
    o.cache_path = cache;
    o.generation = generation;
    const auto t0 = Clock::now();
    VectorIndex hnsw(std::move(ids), std::move(vectors), dims, o);
    out["hnsw_build_s"] = seconds_since(t0);
    out["hnsw_file_bytes"] = static_cast<int64_t>(fs::file_size(cache));
    auto recall = [&](int k) {
      int64_t found = 0, total = 0;
      Latency l = time_each(queries, [&](int i) {
        const auto hits = hnsw.search(qvecs[static_cast<size_t>(i)], k);
        const auto& truth = exact10[static_cast<size_t>(i)];
        for (size_t j = 0; j < std::min<size_t>(10, hits.size()); ++j) {
          found += std::count(truth.begin(), truth.end(), hits[j].chunk_id);
        }
        total += static_cast<int64_t>(truth.size());
      });
      nlohmann::json j = l.json();
      j["recall_at_10"] = static_cast<double>(found) / static_cast<double>(std::max<int64_t>(1, total));
      return j;
    };
    out["dense_hnsw_k10"] = recall(10);  // ef 128 below 320k vectors
    out["dense_hnsw"] = recall(50);      // what the Retriever asks for: ef 200 below 500k, top 10 of 50 compared
    // ef_search is hnsw_ef_search(n, k): asking for more is how to see recall against ef from outside.
    out["dense_hnsw_k100"] = recall(100);
    out["dense_hnsw_k200"] = recall(200);
  }
  out["rss_after_hnsw_mb"] = peak_rss_mb();
  phase(out, "hnsw");
  // Hybrid through the Retriever with its default options (HNSW from 50k vectors, the graph
  // saved above loaded), the query vector random.
  {
    auto embedder = std::make_unique<RandomEmbedder>(dims, seed + 5);
    RandomEmbedder* e = embedder.get();
    Retriever r(std::make_unique<KnowledgeBase>(kb_path, KbAccess::kRead), std::move(embedder));
    const auto t0 = Clock::now();
    r.search(texts[0], {.k = 5, .mode = SearchMode::kHybrid});
    out["hybrid_first_query_s"] = seconds_since(t0);  // loads the vectors and the index
    for (int i = 1; i < std::min(20, queries); ++i) r.search(texts[static_cast<size_t>(i)], {.k = 5, .mode = SearchMode::kHybrid});
    Latency l = time_each(queries, [&](int i) {
      e->next_ = &qvecs[static_cast<size_t>(i)];
      r.search(texts[static_cast<size_t>(i)], {.k = 5, .mode = SearchMode::kHybrid});
    });
    out["hybrid"] = l.json();
    Latency d = time_each(queries, [&](int i) {
      e->next_ = &qvecs[static_cast<size_t>(i)];
      r.search(texts[static_cast<size_t>(i)], {.k = 5, .mode = SearchMode::kDense});
    });
    out["dense_retriever"] = d.json();
  }
  out["rss_peak_mb"] = peak_rss_mb();
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

#ifdef RPU_BENCH_WITH_MODEL
int cmd_embed(int queries, uint64_t seed) {
  rpu::cli::RuntimeOptions runtime;
  rpu::cli::EmbeddingModels models(runtime);
  const auto t0 = Clock::now();
  auto embedder = models.embedder("builtin");
  const double load = seconds_since(t0);
  const std::vector<std::string> texts = query_texts(queries, seed);
  for (int i = 0; i < 5; ++i) embedder->embed({texts[static_cast<size_t>(i % queries)]});
  Latency l = time_each(queries, [&](int i) { embedder->embed({texts[static_cast<size_t>(i)]}); });
  nlohmann::ordered_json out = {{"model", "builtin"}, {"dims", embedder->dims()}, {"load_s", load}};
  out["embed_query"] = l.json();
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    auto flag = [&](const std::string& name, int64_t fallback) {
      for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == name) return static_cast<int64_t>(std::stoll(args[i + 1]));
      }
      return fallback;
    };
    const std::string cmd = args.empty() ? "" : args[0];
    const uint64_t seed = static_cast<uint64_t>(flag("--seed", 1));
    if (cmd == "corpus" && args.size() >= 2) return cmd_corpus(args[1], flag("--chunks", 10000), seed);
    if (cmd == "fill" && args.size() >= 2) return cmd_fill(args[1], flag("--chunks", 10000), static_cast<int>(flag("--dims", 256)), static_cast<int>(flag("--latent", 0)), seed);
    if (cmd == "query" && args.size() >= 2) return cmd_query(args[1], static_cast<int>(flag("--queries", 200)), flag("--no-hnsw", 0) == 0, flag("--reuse-graph", 0) != 0, seed + 1000);
#ifdef RPU_BENCH_WITH_MODEL
    if (cmd == "embed") return cmd_embed(static_cast<int>(flag("--queries", 100)), seed + 1000);
#endif
    std::fprintf(stderr,
                 "usage: bench_kb corpus DIR --chunks N [--seed S]\n"
                 "       bench_kb fill KB --chunks N --dims D [--latent L] [--seed S]\n"
                 "       bench_kb query KB [--queries Q] [--no-hnsw 1] [--reuse-graph 1] [--seed S]\n"
                 "       bench_kb embed [--queries Q]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kb: %s\n", e.what());
    return 1;
  }
}
