// Retrieval pieces against hand-computed oracles: the vector index (the kernel-table scan vs a
// plain float64 dot product; HNSW recall against the exact scan; its saved graph reused and
// rebuilt), reciprocal rank fusion, the FTS5 query builder, the knowledge base's own store
// (replace, remove below a folder, BM25 order), the sources block's budget, citations, and
// reranking by a cross-encoder (its order checked against the model's own pair scores).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "core/error.h"
#include "engine/scheduler.h"
#include "model/synth.h"
#include "model/synth_presets.h"
#include "pipeline/call.h"
#include "pipeline/local_backend.h"
#include "decode/grammar.h"
#include "retrieval/extractive.h"
#include "retrieval/knowledge_backend.h"
#include "retrieval/knowledge_context.h"
#include "retrieval/retriever.h"
#include "retrieval/vector_index.h"
#include "test_util.h"

namespace rpu::retrieval {
namespace {

std::vector<float> random_unit_vectors(int n, int dims, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(n) * dims);
  for (int i = 0; i < n; ++i) {
    double norm = 0;
    for (int d = 0; d < dims; ++d) norm += std::pow(v[i * dims + d] = normal(rng), 2);
    for (int d = 0; d < dims; ++d) v[i * dims + d] = static_cast<float>(v[i * dims + d] / std::sqrt(norm));
  }
  return v;
}

std::vector<int64_t> ids_from(int n, int64_t first) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[i] = first + i;
  return ids;
}

TEST(VectorIndex, ExactScanMatchesAPlainDotProduct) {
  const int n = 1000, dims = 96;
  const auto vectors = random_unit_vectors(n, dims, 1);
  VectorIndex index(ids_from(n, 100), vectors, dims, {});
  EXPECT_FALSE(index.uses_hnsw());
  const auto query = random_unit_vectors(1, dims, 2);
  std::vector<std::pair<double, int64_t>> oracle;
  for (int i = 0; i < n; ++i) {
    double dot = 0;
    for (int d = 0; d < dims; ++d) dot += static_cast<double>(vectors[i * dims + d]) * query[d];
    oracle.emplace_back(dot, 100 + i);
  }
  std::sort(oracle.rbegin(), oracle.rend());
  const auto hits = index.search(query, 10);
  ASSERT_EQ(hits.size(), 10u);
  for (size_t i = 0; i < hits.size(); ++i) {
    EXPECT_EQ(hits[i].chunk_id, oracle[i].second) << i;
    EXPECT_NEAR(hits[i].score, oracle[i].first, 1e-5);
  }
  EXPECT_EQ(index.search(query, 5000).size(), static_cast<size_t>(n)) << "k above n returns all";
}

TEST(VectorIndex, HnswFindsWhatTheExactScanFindsAndReusesItsSavedGraph) {
  const int n = 3000, dims = 32;
  const std::string cache = test::temp_path("hnsw_index");
  const auto vectors = random_unit_vectors(n, dims, 3);
  VectorIndexOptions o{.hnsw_threshold = 1000, .cache_path = cache, .generation = 7, .threads = 2};
  VectorIndex index(ids_from(n, 1), vectors, dims, o);
  ASSERT_TRUE(index.uses_hnsw());
  ASSERT_TRUE(std::filesystem::exists(cache));
  int found = 0, wanted = 0;
  for (uint32_t q = 0; q < 50; ++q) {
    const auto query = random_unit_vectors(1, dims, 100 + q);
    const auto exact = index.search_exact(query, 10);
    std::set<int64_t> approx;
    for (const auto& h : index.search(query, 10)) approx.insert(h.chunk_id);
    for (const auto& h : exact) found += approx.count(h.chunk_id);
    wanted += 10;
  }
  EXPECT_GE(static_cast<double>(found) / wanted, 0.95) << "recall@10 of the HNSW graph";
  // Same generation: the saved graph is loaded (same answers); a new generation rebuilds it.
  const auto before = std::filesystem::last_write_time(cache);
  VectorIndex reloaded(ids_from(n, 1), vectors, dims, o);
  EXPECT_EQ(std::filesystem::last_write_time(cache), before);
  const auto query = random_unit_vectors(1, dims, 999);
  EXPECT_EQ(reloaded.search(query, 5).front().chunk_id, index.search(query, 5).front().chunk_id);
  o.generation = 8;
  VectorIndex rebuilt(ids_from(n, 1), vectors, dims, o);
  EXPECT_NE(std::filesystem::last_write_time(cache), before);
  std::filesystem::remove(cache);
  std::filesystem::remove(cache + ".json");
}

// The search breadth grows with the base where the measured recall fell (0.94 at 1M vectors with
// ef 200; 0.98 with ef 400), keeps the small bases' 128 / 4k, and stays bounded for huge ones.
TEST(VectorIndex, SearchBreadthGrowsWithTheBaseWithinABound) {
  EXPECT_EQ(hnsw_ef_search(10'000, 10), 128);
  EXPECT_EQ(hnsw_ef_search(100'000, 50), 200);
  EXPECT_GE(hnsw_ef_search(1'000'000, 50), 400);
  EXPECT_EQ(hnsw_ef_search(1'000'000'000, 50), kMaxEfSearch);
  for (int64_t n = 1000; n < 100'000'000; n *= 3) EXPECT_LE(hnsw_ef_search(n, 50), hnsw_ef_search(n * 3, 50)) << n;
}

TEST(Retrieval, ReciprocalRankFusionAddsOneOverSixtyPlusRank) {
  const std::vector<ScoredChunk> a = {{1, 9}, {2, 8}, {3, 7}}, b = {{3, 0.9}, {4, 0.8}, {1, 0.7}};
  const auto fused = reciprocal_rank_fusion({a, b}, 10);
  ASSERT_EQ(fused.size(), 4u);
  EXPECT_EQ(fused[0].chunk_id, 1);  // 1/61 + 1/63
  EXPECT_NEAR(fused[0].score, 1.0 / 61 + 1.0 / 63, 1e-12);
  EXPECT_EQ(fused[1].chunk_id, 3);  // 1/63 + 1/61, first seen later
  EXPECT_EQ(fused[2].chunk_id, 2);  // 1/62
  EXPECT_EQ(fused[3].chunk_id, 4);
  EXPECT_EQ(reciprocal_rank_fusion({a, b}, 2).size(), 2u);
}

TEST(Retrieval, FtsQueriesQuoteEveryWordSoSyntaxIsText) {
  EXPECT_EQ(fts_query_for("what is a \"kludge\"? NEAR(x) OR -y*"), "\"what\" OR \"is\" OR \"a\" OR \"kludge\" OR \"NEAR\" OR \"x\" OR \"OR\" OR \"y\"");
  EXPECT_EQ(fts_query_for("  ?!  "), "");
  EXPECT_EQ(fts_query_for("Grüße straße"), "\"Grüße\" OR \"straße\"");
}

TEST(KnowledgeBaseStore, ReplacesASourceRemovesBelowAFolderAndRanksByBm25) {
  const std::string path = test::temp_path("store.kb");
  KnowledgeBase::create(path, {});
  KnowledgeBase kb(path, KbAccess::kWrite);
  auto put = [&](const std::string& source, const std::vector<std::string>& texts) {
    kb.begin_source({.path = source, .kind = "txt", .sha256 = "x"});
    for (size_t i = 0; i < texts.size(); ++i) {
      ChunkRecord c;
      c.ordinal = static_cast<int>(i);
      c.text = texts[i];
      kb.add_chunk(c, {});
    }
    kb.end_source("title of " + source, "hash");
  };
  put("/d/a.txt", {"the cat sat on the mat", "dogs bark"});
  put("/d/sub/b.txt", {"cat cat cat everywhere"});
  put("/d/sub_not_below.txt", {"a cat too"});
  const int64_t generation = kb.generation();
  auto hits = kb.search_text("cat", 10);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(kb.chunk(hits[0].chunk_id).source_path, "/d/sub/b.txt") << "three cats rank first";
  put("/d/a.txt", {"no felines here"});
  EXPECT_GT(kb.generation(), generation);
  EXPECT_EQ(kb.search_text("cat", 10).size(), 2u) << "the old chunks are gone";
  EXPECT_EQ(kb.search_text("dogs", 10).size(), 0u);
  EXPECT_EQ(kb.remove_sources("/d/sub/"), 1) << "below the folder only, not /d/sub_not_below.txt";
  EXPECT_EQ(kb.stats().sources, 2);
  EXPECT_EQ(kb.stats().chunks, 2);
  // A failure mid-source rolls the whole source back.
  kb.begin_source({.path = "/d/c.txt", .kind = "txt", .sha256 = "y"});
  EXPECT_THROW(kb.add_chunk({}, std::vector<float>(3, 0.f)), rpu::Error) << "a BM25-only base takes no embeddings";
  kb.abort_source();
  SourceRecord unused;
  EXPECT_FALSE(kb.find_source("/d/c.txt", &unused));
  std::filesystem::remove(path);
}

TEST(KnowledgeBaseStore, WordsInHalfTheChunksAreLeftOutOfALargeBasesQueryWithoutChangingTheOrder) {
  const std::string path = test::temp_path("prune.kb");
  std::filesystem::remove(path);
  KnowledgeBase::create(path, {});
  KnowledgeBase kb(path, KbAccess::kWrite);
  auto put = [&](int chunks) {
    kb.begin_source({.path = "/p/" + std::to_string(kb.stats().sources), .kind = "txt", .sha256 = "x"});
    for (int i = 0; i < chunks; ++i) {
      ChunkRecord c;
      c.ordinal = i;
      // "the" in every chunk, "of" in 60%, "rare" in 1 of 100 (1 to 3 times), "uncommon" in 1 of 5.
      c.text = "the words of chunk " + std::to_string(i);
      if (i % 5 < 3) c.text += " of";
      if (i % 100 == 7) c.text += std::string(" rare", static_cast<size_t>(1 + i / 100 % 3) * 5);
      if (i % 5 == 1) c.text += " uncommon";
      kb.add_chunk(c, {});
    }
    kb.end_source("t", "h");
  };
  put(static_cast<int>(kFtsPruneMinChunks) - 100);
  // Below the threshold every word is ORed: chunks with only "the" come back too.
  EXPECT_EQ(kb.search_text("the rare", 50).size(), 50u);
  put(100);  // now at the threshold
  const auto rare = kb.search_text("rare", 50);
  ASSERT_EQ(rare.size(), 10u);
  const auto pruned = kb.search_text("the of rare", 50);
  ASSERT_EQ(pruned.size(), rare.size()) << "\"the\" and \"of\" (in >= half the chunks) are left out";
  for (size_t i = 0; i < rare.size(); ++i) {
    EXPECT_EQ(pruned[i].chunk_id, rare[i].chunk_id) << i;
    EXPECT_NEAR(pruned[i].score, rare[i].score, 1e-3) << i;
  }
  EXPECT_EQ(kb.search_text("THE Rare", 50).size(), 10u) << "looked up as the tokenizer folds case";
  EXPECT_EQ(kb.search_text("the uncommon", 500).size(), 200u) << "a word in 1 of 5 chunks stays";
  EXPECT_EQ(kb.search_text("the of", 5).size(), 5u) << "all common: the rarest (\"of\") is kept";
  std::filesystem::remove(path);
}

SearchHit hit(int64_t id, const std::string& source, const std::string& text) {
  SearchHit h;
  h.chunk.id = id;
  h.chunk.source_path = source;
  h.chunk.title = source;
  h.chunk.text = text;
  return h;
}

TEST(KnowledgeContext, SourcesAreNumberedBestFirstAndThoseOverTheBudgetLeftOutWhole) {
  auto words = [](std::string_view t) { return static_cast<int>(std::count(t.begin(), t.end(), ' ') + 1); };
  const std::vector<SearchHit> hits = {hit(1, "a", "short one"), hit(2, "b", std::string(200, 'x') + std::string(20 * 5, ' ')),
                                       hit(3, "c", "fits too")};
  const ContextBlock block = build_context(hits, words(build_context({}, 1000, words).text) + 12, words);
  ASSERT_EQ(block.sources.size(), 2u);
  EXPECT_EQ(block.sources[0].chunk.id, 1);
  EXPECT_EQ(block.sources[1].chunk.id, 3);
  EXPECT_EQ(block.left_out, 1);
  EXPECT_NE(block.text.find("[1] a\nshort one"), std::string::npos) << block.text;
  EXPECT_NE(block.text.find("[2] c\nfits too"), std::string::npos) << block.text;
  EXPECT_LE(block.tokens, words(build_context({}, 1000, words).text) + 12);

  nlohmann::ordered_json messages = {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "q?"}}};
  add_context_to_messages(messages, block.text);
  EXPECT_EQ(messages.size(), 2u);
  EXPECT_TRUE(messages[0]["content"].get<std::string>().starts_with("Be brief.\n\nAnswer from the numbered sources"));
  nlohmann::ordered_json bare = {{{"role", "user"}, {"content", "q?"}}};
  add_context_to_messages(bare, block.text);
  EXPECT_EQ(bare[0]["role"], "system");
  EXPECT_EQ(last_user_text(bare), "q?");
}

TEST(KnowledgeContext, CitationsAreOnlyNumbersOfSourcesInTheContext) {
  const Citations c = find_citations("As [2] says, and [1, 3] agree ([3][4]); [0] [x] [12345678901] [2] [ 1]", 3);
  EXPECT_EQ(c.cited, (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(c.invalid, (std::vector<int>{4, 0}));
  EXPECT_TRUE(find_citations("no brackets", 3).cited.empty());
  EXPECT_EQ(find_citations("[1]", 0).invalid, std::vector<int>{1}) << "no sources: nothing can be cited";
}

TEST(KnowledgeContext, TheExtensionIsCheckedFieldByField) {
  auto param_of = [](const nlohmann::ordered_json& j) {
    try {
      knowledge_spec_parse(j);
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
      return e.param;
    }
    return std::string("accepted");
  };
  EXPECT_EQ(param_of({{"kb", "docs"}}), "accepted");
  EXPECT_EQ(param_of({{"kb", "docs"}, {"k", 5}, {"mode", "dense"}, {"max_tokens", 500}}), "accepted");
  EXPECT_EQ(param_of({{"k", 5}}), "knowledge.kb");
  EXPECT_EQ(param_of({{"kb", ""}}), "knowledge.kb");
  EXPECT_EQ(param_of({{"kb", "d"}, {"k", 51}}), "knowledge.k");
  EXPECT_EQ(param_of({{"kb", "d"}, {"k", "5"}}), "knowledge.k");
  EXPECT_EQ(param_of({{"kb", "d"}, {"k", 2.5}}), "knowledge.k");
  EXPECT_EQ(param_of({{"kb", "d"}, {"k", 5.0}}), "accepted");  // a whole number written as a float
  EXPECT_EQ(param_of({{"kb", "d"}, {"mode", "x"}}), "knowledge.mode");
  EXPECT_EQ(param_of({{"kb", "d"}, {"max_tokens", 1}}), "knowledge.max_tokens");
  EXPECT_EQ(param_of({{"kb", "d"}, {"extra", 1}}), "knowledge.extra");
  EXPECT_EQ(param_of({{"kb", "d"}, {"rerank", 0}}), "accepted");
  EXPECT_EQ(param_of({{"kb", "d"}, {"rerank", 200}}), "accepted");
  EXPECT_EQ(param_of({{"kb", "d"}, {"rerank", 201}}), "knowledge.rerank");
  EXPECT_EQ(param_of({{"kb", "d"}, {"rerank", true}}), "knowledge.rerank");
  EXPECT_EQ(param_of({{"kb", "d"}, {"extractive", true}}), "accepted");
  EXPECT_EQ(param_of({{"kb", "d"}, {"extractive", "yes"}}), "knowledge.extractive");
  EXPECT_EQ(param_of("docs"), "knowledge");
}

// Extractive answers: the grammar made from the texts, checked by the real matcher against
// texts whose words are (or are not) all in them.
TEST(Extractive, AnswersUseOnlyTheGivenWordsInEitherFirstLetterCase) {
  const std::vector<std::string> words =
      extractive_words({"[1] The Jargon File > moby\nmoby: Large, immense, complex, impressive.", "What is moby?"});
  EXPECT_EQ(std::count(words.begin(), words.end(), "Large"), 1);
  EXPECT_EQ(std::count(words.begin(), words.end(), "large"), 1);
  EXPECT_EQ(std::count(words.begin(), words.end(), "Moby"), 1);
  EXPECT_EQ(std::count(words.begin(), words.end(), "1"), 1);
  const auto grammar = Grammar::parse(extractive_grammar(words));
  const auto full = [&](const std::string& text) {
    GrammarMatcher m(grammar, nullptr);
    return m.accept_bytes(text) && m.is_complete();
  };
  EXPECT_TRUE(full("moby: Large, immense, complex, impressive. [1]"));
  EXPECT_TRUE(full("  Impressive; large (moby)!\n"));  // any order, any ASCII punctuation
  EXPECT_TRUE(full(""));
  EXPECT_FALSE(full("moby: Larg shrubyze, immense. [1]"));  // a garbled copy
  EXPECT_FALSE(full("LARGE"));                               // only the first letter changes case
  EXPECT_FALSE(full("moby: Larg"));                          // not a whole word at the end
  EXPECT_FALSE(full("moby: Larger"));                        // a word is not a prefix of another
  EXPECT_FALSE(full("[2]"));                                 // no source 2 in the texts
  EXPECT_FALSE(full("Große"));                               // non-ASCII only inside given words
  const auto utf8 = Grammar::parse(extractive_grammar(extractive_words({"Straße und Weg"})));
  GrammarMatcher m(utf8, nullptr);
  EXPECT_TRUE(m.accept_bytes("straße, Weg.") && m.is_complete());
  // No words at all: only separators.
  GrammarMatcher none(Grammar::parse(extractive_grammar({})), nullptr);
  EXPECT_TRUE(none.accept_bytes(" .") && none.is_complete());
  EXPECT_FALSE(none.accept_bytes("a"));
}

// A BM25-only base whose chunks all match "cat", searched with and without a cross-encoder.
struct RerankFixture {
  std::string path = test::temp_path("rerank.kb");
  std::vector<std::string> texts = {"cat cat cat on a mat", "a cat and a dog", "the cat sat",
                                    "one cat among many words of other kinds", "cat food is sold here", "cat"};
  std::vector<uint8_t> bytes = synth_model(find_synth_preset("rerank-tiny")->spec).to_bytes();
  std::unique_ptr<Model> model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "rerank-tiny"));
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "rerank-tiny"));
  Scheduler scheduler{*model, *tokenizer, SchedulerOptions{}, nullptr};
  LocalBackend backend{*model, *tokenizer, scheduler, LocalBackendOptions{"rerank-tiny", ""}};

  // The model's own score of one (query, text) pair, scored alone.
  double score(const std::string& query, const std::string& text) {
    RerankRequest request;
    request.model = "rerank-tiny";
    request.query = query;
    request.documents = {text};
    return backend.rerank(request).scores.at(0);
  }

  RerankFixture() {
    KnowledgeBase::create(path, {});
    KnowledgeBase kb(path, KbAccess::kWrite);
    kb.begin_source({.path = "/d/cats.txt", .kind = "txt", .sha256 = "x"});
    for (size_t i = 0; i < texts.size(); ++i) {
      ChunkRecord c;
      c.ordinal = static_cast<int>(i);
      c.text = texts[i];
      kb.add_chunk(c, {});
    }
    kb.end_source("cats", "hash");
  }
  ~RerankFixture() { std::filesystem::remove(path); }
};

TEST(Rerank, TheFirstStagesBestAreReorderedByTheCrossEncodersPairScores) {
  RerankFixture f;
  Retriever retriever(std::make_unique<KnowledgeBase>(f.path, KbAccess::kRead), nullptr);
  const std::vector<SearchHit> bm25 = retriever.search("cat", {.k = 6, .mode = SearchMode::kText});
  ASSERT_EQ(bm25.size(), 6u);
  retriever.set_reranker(backend_reranker(f.backend, "rerank-tiny"));
  const std::vector<SearchHit> reranked = retriever.search("cat", {.k = 3, .mode = SearchMode::kText, .rerank = 6});
  ASSERT_EQ(reranked.size(), 3u);
  // The oracle: the model's score of each (query, chunk) pair, highest first.
  std::vector<std::pair<double, std::string>> expected;
  for (const std::string& text : f.texts) expected.emplace_back(f.score("cat", text), text);
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < reranked.size(); ++i) {
    EXPECT_EQ(reranked[i].chunk.text, expected[i].second) << "rank " << i + 1;
    EXPECT_NEAR(reranked[i].score, expected[i].first, 1e-4);
    ASSERT_GT(reranked[i].first_stage_rank, 0);
    EXPECT_EQ(bm25[static_cast<size_t>(reranked[i].first_stage_rank - 1)].chunk.text, reranked[i].chunk.text);
  }
  bool reordered = false;
  for (size_t i = 0; i < reranked.size(); ++i) reordered = reordered || reranked[i].chunk.id != bm25[i].chunk.id;
  EXPECT_TRUE(reordered) << "random weights should not reproduce BM25's order exactly";
  // Only the first stage's best `rerank` are rescored; rerank 0 leaves the BM25 order.
  const auto top2 = retriever.search("cat", {.k = 2, .mode = SearchMode::kText, .rerank = 2});
  for (const SearchHit& h : top2) EXPECT_LE(h.first_stage_rank, 2);
  const auto none = retriever.search("cat", {.k = 6, .mode = SearchMode::kText, .rerank = 0});
  for (size_t i = 0; i < none.size(); ++i) {
    EXPECT_EQ(none[i].chunk.id, bm25[i].chunk.id);
    EXPECT_EQ(none[i].first_stage_rank, 0);
  }
}

TEST(Rerank, ARequestAskingForRerankingOnAServerWithoutAModelIsRefused) {
  RerankFixture f;
  KnowledgeLibrary library([](const KbSettings&) { return std::unique_ptr<Embedder>(); });
  library.add("cats", f.path);
  ChatRequest request;
  request.messages.push_back({{"role", "user"}, {"content", "cat"}});
  request.knowledge = {{"kb", "cats"}, {"rerank", 5}};
  try {
    augment_request(library, request, nullptr);
    ADD_FAILURE() << "expected a 400";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "knowledge.rerank");
  }
  // With one, the sources are the reranked ones and the reranker is named.
  library.set_reranker(backend_reranker(f.backend, "rerank-tiny"));
  const AugmentedRequest augmented = augment_request(library, request, nullptr);
  EXPECT_EQ(augmented.knowledge["reranker"], "rerank-tiny");
  Retriever& retriever = library.get("cats");
  const auto hits = retriever.search("cat", {.k = 5, .mode = SearchMode::kHybrid, .rerank = 5});
  ASSERT_EQ(augmented.block->sources.size(), hits.size());
  for (size_t i = 0; i < hits.size(); ++i) EXPECT_EQ(augmented.block->sources[i].chunk.id, hits[i].chunk.id);
}

}  // namespace
}  // namespace rpu::retrieval
