// The paged KV cache (model/kv_cache.h): pages shared between sequences are counted once,
// copied before either sequence writes into them, and released when no sequence maps them;
// through the scheduler, requests with one long system prompt share its pages and answer
// exactly as each request served alone (greedy), with and without speculative rewinds.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/mapped_file.h"
#include "core/rng.h"
#include "engine/scheduler.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

// Rows whose every value is `tag`, so a row read back names the write that made it.
void store_tagged(KVCache& cache, int seq, int pos, int n_layer, int kv_dim, float tag) {
  const std::vector<float> row(static_cast<size_t>(kv_dim), tag);
  for (int layer = 0; layer < n_layer; ++layer) cache.store(seq, layer, pos, row.data(), row.data());
}
// Where the first KV head's key at (seq, layer, pos) lives: equal addresses, the same page.
const uint8_t* key_at(const KVCache& cache, int seq, int layer, int pos) {
  return cache.head_rows(seq, layer, 0).key(pos);
}
float tag_of(const KVCache& cache, int seq, int layer, int pos) {
  float x;
  std::memcpy(&x, key_at(cache, seq, layer, pos), sizeof x);
  return x;
}

TEST(KvPages, SharedPagesAreCountedOnceCopiedOnWriteAndReleased) {
  SynthSpec spec;
  spec.n_embd = 64;  // kv_dim 32
  const auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes())));
  const int n_layer = model->config().n_layer, kv_dim = model->config().kv_dim();
  KVCache cache(model->config(), 16, 3, {}, 4);  // pages of 4 positions
  EXPECT_EQ(cache.page_bytes(), 4 * cache.bytes_per_token());
  cache.prepare_write(0, 0, 10);
  for (int pos = 0; pos < 10; ++pos) store_tagged(cache, 0, pos, n_layer, kv_dim, static_cast<float>(pos));
  EXPECT_EQ(cache.pages_in_use(), 3);  // positions 0-3, 4-7, 8-9
  EXPECT_EQ(cache.pages_mapped(), 3);

  cache.share_prefix(0, 1, 10);  // no copy: the same three pages
  EXPECT_EQ(cache.pages_in_use(), 3);
  EXPECT_EQ(cache.pages_mapped(), 6);
  EXPECT_EQ(key_at(cache, 1, 1, 9), key_at(cache, 0, 1, 9));

  // Sequence 1 writes position 10: its page 8-11 is shared, so it gets its own copy of 8-9.
  cache.prepare_write(1, 10, 11);
  store_tagged(cache, 1, 10, n_layer, kv_dim, 100.0f);
  EXPECT_EQ(cache.pages_in_use(), 4);
  EXPECT_NE(key_at(cache, 1, 0, 9), key_at(cache, 0, 0, 9));
  EXPECT_EQ(key_at(cache, 1, 0, 4), key_at(cache, 0, 0, 4));  // full pages stay shared
  for (int layer = 0; layer < n_layer; ++layer) {
    EXPECT_EQ(tag_of(cache, 1, layer, 8), 8.0f);
    EXPECT_EQ(tag_of(cache, 1, layer, 9), 9.0f);
  }
  // Sequence 0 now owns its page 8-11 alone and writes into it in place.
  cache.prepare_write(0, 10, 11);
  store_tagged(cache, 0, 10, n_layer, kv_dim, 200.0f);
  EXPECT_EQ(cache.pages_in_use(), 4);
  EXPECT_EQ(tag_of(cache, 1, 0, 10), 100.0f);
  EXPECT_EQ(tag_of(cache, 0, 0, 10), 200.0f);

  // A rewind of sequence 1 into the shared pages (speculation) writes nothing; its next write
  // at position 5 copies the shared page 4-7 first, leaving sequence 0's rows alone.
  cache.truncate(1, 5);
  EXPECT_EQ(cache.pages_in_use(), 3);  // its page 8-11 copy released
  EXPECT_EQ(cache.pages_mapped(), 3 + 2);
  cache.prepare_write(1, 5, 6);
  store_tagged(cache, 1, 5, n_layer, kv_dim, 300.0f);
  EXPECT_EQ(tag_of(cache, 0, 0, 5), 5.0f);
  EXPECT_EQ(tag_of(cache, 1, 0, 4), 4.0f);
  EXPECT_EQ(tag_of(cache, 1, 0, 5), 300.0f);
  EXPECT_EQ(cache.pages_in_use(), 4);

  // Pages go back to the pool when no sequence maps them.
  cache.share_prefix(0, 2, 11);
  cache.truncate(0, 0);
  EXPECT_EQ(cache.pages_in_use(), 4);  // sequence 2 still maps sequence 0's three pages
  EXPECT_EQ(tag_of(cache, 2, 0, 10), 200.0f);
  cache.truncate(2, 0);
  cache.truncate(1, 0);
  EXPECT_EQ(cache.pages_in_use(), 0);
  EXPECT_EQ(cache.pages_mapped(), 0);
}

// A sequence emptied and refilled from the start gets back the pages it had, in the same
// order: those are the pages already touched (a decode after a rewind, as `rpu bench` does
// between repetitions and a server slot between requests, writes no never-touched memory).
TEST(KvPages, ARefilledSequenceGetsItsPagesBackInOrder) {
  SynthSpec spec;
  spec.n_embd = 64;
  const auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes())));
  KVCache cache(model->config(), 16, 2, {}, 4);
  cache.prepare_write(0, 0, 9);  // positions 0-8: three pages
  const std::vector<const uint8_t*> first = {key_at(cache, 0, 0, 0), key_at(cache, 0, 0, 4), key_at(cache, 0, 0, 8)};
  cache.truncate(0, 0);
  EXPECT_EQ(cache.pages_in_use(), 0);
  cache.prepare_write(0, 0, 9);
  EXPECT_EQ(key_at(cache, 0, 0, 0), first[0]);
  EXPECT_EQ(key_at(cache, 0, 0, 4), first[1]);
  EXPECT_EQ(key_at(cache, 0, 0, 8), first[2]);
  // Cut mid-way: the freed pages return in order too.
  cache.truncate(0, 4);
  cache.prepare_write(0, 4, 9);
  EXPECT_EQ(key_at(cache, 0, 0, 4), first[1]);
  EXPECT_EQ(key_at(cache, 0, 0, 8), first[2]);
}

// pages_mapped() is a counter kept on every map and unmap; after each of a long random run of
// writes (fresh pages and copies on write), shares and truncations it equals a recount of
// every sequence's page table (head_rows' pages), and pages_in_use() the distinct ids in them.
TEST(KvPages, MappedPageCounterMatchesARecountOfTheTables) {
  SynthSpec spec;
  spec.n_embd = 64;
  const auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes())));
  const int n_ctx = 40, n_seq = 4, page = 4;
  KVCache cache(model->config(), n_ctx, n_seq, {}, page);
  std::vector<int> held(n_seq, 0);  // positions each sequence has written or been given
  Rng rng(7);
  auto recount = [&](int& mapped, int& distinct) {
    std::vector<int32_t> ids;
    mapped = 0;
    for (int s = 0; s < n_seq; ++s) {
      const int32_t* table = cache.head_rows(s, 0, 0).pages;
      for (int i = 0; i < (n_ctx + page - 1) / page; ++i) {
        if (table[i] < 0) continue;
        ++mapped;
        ids.push_back(table[i]);
      }
    }
    std::sort(ids.begin(), ids.end());
    distinct = static_cast<int>(std::unique(ids.begin(), ids.end()) - ids.begin());
  };
  int shares = 0, mid_page_writes = 0;
  for (int step = 0; step < 400; ++step) {
    const int s = static_cast<int>(rng.next() % n_seq);
    const int op = static_cast<int>(rng.next() % 3);
    if (op == 0 && held[s] < n_ctx) {  // write 1..9 more positions
      const int end = std::min(n_ctx, held[s] + 1 + static_cast<int>(rng.next() % 9));
      mid_page_writes += held[s] % page != 0 ? 1 : 0;
      cache.prepare_write(s, held[s], end);
      held[s] = end;
    } else if (op == 1) {  // take a prefix of another sequence
      const int from = static_cast<int>(rng.next() % n_seq);
      if (from == s || held[from] == 0) continue;
      const int n = 1 + static_cast<int>(rng.next() % held[from]);
      cache.share_prefix(from, s, n);
      held[s] = n;
      ++shares;
    } else {  // rewind
      const int n = static_cast<int>(rng.next() % (held[s] + 1));
      cache.truncate(s, n);
      held[s] = n;
    }
    int mapped = 0, distinct = 0;
    recount(mapped, distinct);
    ASSERT_EQ(cache.pages_mapped(), mapped) << "step " << step;
    ASSERT_EQ(cache.pages_in_use(), distinct) << "step " << step;
  }
  // The run exercised sharing and writes into partly filled (possibly shared) pages.
  EXPECT_GT(shares, 20);
  EXPECT_GT(mid_page_writes, 20);
}

// Texts and prompt-cache hits of requests.
class Results {
 public:
  EventCallback callback(int request) {
    return [this, request](const GenerationEvent& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      Entry& r = entries_[request];
      r.text += e.text;
      r.cached_tokens = e.cached_tokens;
      r.drafted = e.drafted_tokens;
      if (!e.finish_reason.empty()) {
        ++finished_;
        done_.notify_all();
      }
    };
  }
  void wait_for(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    ASSERT_TRUE(done_.wait_for(lock, std::chrono::seconds(120), [&] { return finished_ >= n; }));
  }
  struct Entry {
    std::string text;
    int cached_tokens = 0, drafted = 0;
  };
  Entry get(int request) {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_[request];
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::map<int, Entry> entries_;
  int finished_ = 0;
};

class SharedSystemPrompt : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = Model::load(test::fixture("stories260K/stories260K.gguf")).release();
    tokenizer_ = Tokenizer::from_gguf(model_->file()).release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete model_;
  }
  // A system prompt of a few hundred tokens (several pages and a partly filled one), then a user turn.
  static GenerationRequest request(int turn) {
    std::string system;
    for (int i = 0; i < 6; ++i) {
      system += "Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog. ";
    }
    static const char* const kTurns[] = {"Tom saw a big",     "The cat was",   "One day, Sue went to the",
                                         "He wanted to play", "The sun was",   "Mom said",
                                         "The bird flew",     "Ben had a red"};
    GenerationRequest r;
    r.prompt = tokenizer_->encode(system + kTurns[turn % 8], true);
    r.max_tokens = 40;
    r.sampling.temperature = 0;
    return r;
  }
  // Tokens every two requests' prompts have in common (the system prompt, as tokenized).
  static int system_tokens() {
    size_t shared = SIZE_MAX;
    for (int i = 0; i < 8; ++i) {
      for (int j = i + 1; j < 8; ++j) {
        const auto a = request(i).prompt, b = request(j).prompt;
        size_t n = 0;
        while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
        shared = std::min(shared, n);
      }
    }
    return static_cast<int>(shared);
  }
  // Each request alone in a fresh one-slot scheduler: nothing to share.
  static std::vector<std::string> alone(int n_requests) {
    std::vector<std::string> texts;
    for (int i = 0; i < n_requests; ++i) {
      Scheduler scheduler(*model_, *tokenizer_, {.n_seq = 1, .n_ctx = 512}, nullptr);
      Results results;
      scheduler.submit(request(i), results.callback(0));
      results.wait_for(1);
      texts.push_back(results.get(0).text);
    }
    return texts;
  }
  static Model* model_;
  static Tokenizer* tokenizer_;
};
Model* SharedSystemPrompt::model_ = nullptr;
Tokenizer* SharedSystemPrompt::tokenizer_ = nullptr;

// One request warms the cache; then six arrive together. Every later one reuses the system
// prompt (from the slot that holds it, without copying), the full pages of the prompt are held
// once, and every answer is the one the request gets alone. Afterwards unrelated requests take
// every slot and the system prompt's pages are released.
TEST_F(SharedSystemPrompt, ConcurrentRequestsHoldOneCopyAndAnswerAsAlone) {
  const int n_requests = 7, n_seq = 6;
  const std::vector<std::string> expected = alone(n_requests);
  const int shared = system_tokens();
  ASSERT_GE(shared, 2 * KVCache::kDefaultPageSize) << "the system prompt should span several pages";
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = n_seq, .n_ctx = 512, .prefill_chunk = 64}, &pool);
  Results results;
  scheduler.submit(request(0), results.callback(0));
  results.wait_for(1);
  // Built first, so the six arrive as close together as the scheduler thread allows.
  std::vector<GenerationRequest> later;
  for (int i = 1; i < n_requests; ++i) later.push_back(request(i));
  for (int i = 1; i < n_requests; ++i) scheduler.submit(std::move(later[static_cast<size_t>(i - 1)]), results.callback(i));
  results.wait_for(n_requests);
  std::string cached;
  for (int i = 0; i < n_requests; ++i) {
    EXPECT_EQ(results.get(i).text, expected[static_cast<size_t>(i)]) << "request " << i;
    if (i > 0) {
      EXPECT_GE(results.get(i).cached_tokens, shared) << "request " << i;
    }
    cached += " " + std::to_string(results.get(i).cached_tokens);
  }
  // The slots that took the six hold the system prompt, its full pages once: every holder but
  // one saves a copy of them. Usually six hold it; but when one request finishes before the last
  // is admitted (a scheduler step can run between two submits; seen about once in 60 runs on a
  // 2-core Zen 3), the last one takes that finished slot, which holds the prompt, rather than
  // an empty one, and five hold it. So at least four copies are saved, and what is saved is
  // whole copies of the full pages (the partly filled page is each slot's own once written).
  // The stats count the step that finished the last request before its final event is sent.
  const SchedulerStats stats = scheduler.stats();
  const int64_t page_bytes = KVCache::kDefaultPageSize * model_->config().n_layer *
                             2 * static_cast<int64_t>(model_->config().kv_dim()) * 4;
  const int64_t full_pages = shared / KVCache::kDefaultPageSize;
  const int64_t saved = stats.kv_bytes_mapped - stats.kv_bytes_in_use;
  const std::string context = fmt::format("shared {} tokens, cached tokens per request:{}, pages in use {}, mapped {}",
                                          shared, cached, stats.kv_bytes_in_use / page_bytes, stats.kv_bytes_mapped / page_bytes);
  EXPECT_GT(stats.kv_bytes_in_use, 0) << context;
  EXPECT_GE(saved, (n_seq - 2) * full_pages * page_bytes) << context;
  EXPECT_LE(saved, (n_seq - 1) * full_pages * page_bytes) << context;
  EXPECT_EQ(saved % (full_pages * page_bytes), 0) << context;

  // Unrelated short prompts in every slot: the system prompt's pages are released. Each starts
  // with another word, so none prefers a slot an earlier one used (they may arrive one by one):
  // all tie on the BOS token and the least recently used slot is taken.
  static const char* const kUnrelated[] = {"The dog", "A frog", "Ben saw", "Sue ran", "One cat", "Mom said"};
  static_assert(std::size(kUnrelated) == n_seq);
  Results other;
  for (int i = 0; i < n_seq; ++i) {
    GenerationRequest r;
    r.prompt = tokenizer_->encode(kUnrelated[i], true);
    r.max_tokens = 4;
    r.sampling.temperature = 0;
    scheduler.submit(std::move(r), other.callback(i));
  }
  other.wait_for(n_seq);
  EXPECT_LE(scheduler.stats().kv_bytes_in_use, n_seq * page_bytes);
}

// Six requests with one system prompt arrive together, with no earlier request to warm the
// cache: the first admitted evaluates the system prompt, the others wait for its rows and map
// its pages (the scheduler's prefix wait), so every later request reports the whole system
// prompt as cached, its full pages are held once, and every answer is the one the request gets
// alone.
TEST_F(SharedSystemPrompt, RequestsArrivingTogetherEvaluateTheSharedPrefixOnce) {
  const int n_requests = 6, n_seq = 6;
  const std::vector<std::string> expected = alone(n_requests);
  const int shared = system_tokens();
  ThreadPool pool(2);
  Scheduler scheduler(*model_, *tokenizer_, {.n_seq = n_seq, .n_ctx = 512, .prefill_chunk = 64}, &pool);
  Results results;
  for (int i = 0; i < n_requests; ++i) scheduler.submit(request(i), results.callback(i));
  results.wait_for(n_requests);
  for (int i = 0; i < n_requests; ++i) {
    EXPECT_EQ(results.get(i).text, expected[static_cast<size_t>(i)]) << "request " << i;
    if (i > 0) {
      EXPECT_GE(results.get(i).cached_tokens, shared) << "request " << i;
    }
  }
  const SchedulerStats stats = scheduler.stats();
  EXPECT_GE(stats.cached_prompt_tokens, static_cast<uint64_t>((n_requests - 1) * shared));
  const int64_t page_bytes = KVCache::kDefaultPageSize * model_->config().n_layer *
                             2 * static_cast<int64_t>(model_->config().kv_dim()) * 4;
  const int64_t full_pages = shared / KVCache::kDefaultPageSize;
  EXPECT_LE(stats.kv_bytes_in_use + (n_seq - 1) * full_pages * page_bytes, stats.kv_bytes_mapped);
}

// Speculative guesses (prompt lookup finds many in a repetitive system prompt) are written
// after the shared prefix and rejected ones rewound: the output stays each request's greedy
// text alone, so no rewind or copy ever disturbed the pages another slot reads.
TEST_F(SharedSystemPrompt, SpeculativeRewindsOnASharedPrefixStayExact) {
  const int n_requests = 5;
  const std::vector<std::string> expected = alone(n_requests);
  SchedulerOptions options{.n_seq = 4, .n_ctx = 512};
  options.speculation.lookup = true;
  options.speculation.ngram_min = 1;
  Scheduler scheduler(*model_, *tokenizer_, options, nullptr);
  Results results;
  scheduler.submit(request(0), results.callback(0));
  results.wait_for(1);
  for (int i = 1; i < n_requests; ++i) scheduler.submit(request(i), results.callback(i));
  results.wait_for(n_requests);
  int drafted = 0;
  for (int i = 0; i < n_requests; ++i) {
    EXPECT_EQ(results.get(i).text, expected[static_cast<size_t>(i)]) << "request " << i;
    drafted += results.get(i).drafted;
  }
  EXPECT_GT(drafted, 0) << "no guesses were made: the test would not exercise rewinds";
  const SchedulerStats stats = scheduler.stats();
  EXPECT_LT(stats.kv_bytes_in_use, stats.kv_bytes_mapped);
}

}  // namespace
}  // namespace rpu
