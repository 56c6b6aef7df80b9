// ModelLibrary (rpu serve --models): lazy loading, LRU unloading under --max-loaded, a 503
// instead of unloading a model that is serving, one load for concurrent first requests, and
// names with suffixes. The instances here are small in-process backends that answer with
// their own name and can hold a call open (what a busy scheduler reports through load()).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <thread>

#include "core/error.h"
#include "pipeline/model_library.h"

namespace rpu {
namespace {

struct Counters {
  std::mutex mutex;
  std::map<std::string, int> loads, alive;
};

// Answers every chat with "<id>|<request.model>"; while `hold` is set a call stays active.
class EchoInstance : public ModelInstance, public Backend {
 public:
  EchoInstance(std::string id, Counters& counters, std::atomic<bool>& hold)
      : id_(std::move(id)), counters_(counters), hold_(hold) {
    std::lock_guard lock(counters_.mutex);
    ++counters_.loads[id_];
    ++counters_.alive[id_];
  }
  ~EchoInstance() override {
    std::lock_guard lock(counters_.mutex);
    --counters_.alive[id_];
  }
  Backend& backend() override { return *this; }
  std::string model_id() const override { return id_; }
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override {
    ChatEvent e;
    e.text = id_ + "|" + request.model;
    e.finish_reason = "stop";
    if (hold_) active_ = true;
    sink(e);
    return nullptr;
  }
  std::unique_ptr<CallHandle> complete(const CompletionRequest&, ChatEventSink) override { return nullptr; }
  EmbeddingResult embed(const EmbeddingRequest&) override { return {}; }
  BackendLoad load() const override { return {0, active_ && hold_ ? 1 : 0}; }

 private:
  std::string id_;
  Counters& counters_;
  std::atomic<bool>& hold_;
  std::atomic<bool> active_{false};
};

class ModelLibraryTest : public ::testing::Test {
 protected:
  std::unique_ptr<ModelLibrary> make(int max_loaded, std::chrono::milliseconds load_time = {}) {
    std::vector<ModelEntry> entries = {{"a", "/m/a.gguf", ""}, {"b", "/m/b.gguf", ""}, {"a+lora", "/m/a.gguf", "/m/lora.gguf"}};
    return std::make_unique<ModelLibrary>(
        entries,
        [this, load_time](const ModelEntry& e) {
          std::this_thread::sleep_for(load_time);
          return std::make_unique<EchoInstance>(e.id, counters_, hold_);
        },
        max_loaded, [](const std::string& suffix) { return suffix == "sc8"; });
  }
  std::string ask(ModelLibrary& library, const std::string& model) {
    ChatRequest r;
    r.model = model;
    std::string text;
    library.chat(r, [&](const ChatEvent& e) { text = e.text; });
    return text;
  }
  int loads(const std::string& id) {
    std::lock_guard lock(counters_.mutex);
    return counters_.loads[id];
  }
  int alive(const std::string& id) {
    std::lock_guard lock(counters_.mutex);
    return counters_.alive[id];
  }
  Counters counters_;
  std::atomic<bool> hold_{false};
};

TEST_F(ModelLibraryTest, ListsEveryEntryAndLoadsOnlyOnFirstUse) {
  auto library = make(2);
  EXPECT_EQ(library->model_ids(), (std::vector<std::string>{"a", "b", "a+lora"}));
  EXPECT_TRUE(library->loaded_ids().empty());
  EXPECT_EQ(ask(*library, "a"), "a|a");
  EXPECT_EQ(ask(*library, "a"), "a|a");
  EXPECT_EQ(loads("a"), 1);
  EXPECT_EQ(library->loaded_ids(), std::vector<std::string>{"a"});
}

TEST_F(ModelLibraryTest, SuffixesGoToTheLongestIdTheyExtend) {
  auto library = make(3);
  EXPECT_EQ(ask(*library, "a+lora"), "a+lora|a+lora");
  EXPECT_EQ(ask(*library, "a+sc8"), "a|a+sc8");
  EXPECT_EQ(ask(*library, "a+lora+sc8"), "a+lora|a+lora+sc8");
  EXPECT_FALSE(library->accepts_model("a+nonsense"));
  EXPECT_FALSE(library->accepts_model("c"));
  try {
    ask(*library, "c");
    FAIL() << "answered an unknown model";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 404);
    EXPECT_EQ(e.code, "model_not_found");
  }
}

TEST_F(ModelLibraryTest, UnloadsTheLeastRecentlyUsedIdleModel) {
  auto library = make(2);
  ask(*library, "a");
  ask(*library, "b");
  ask(*library, "a");  // b is now the least recently used
  ask(*library, "a+lora");
  EXPECT_EQ(library->loaded_ids(), (std::vector<std::string>{"a+lora", "a"}));
  EXPECT_EQ(alive("b"), 0) << "an unloaded model must be freed";
  ask(*library, "b");
  EXPECT_EQ(loads("b"), 2);
  EXPECT_NE(library->metrics_text().find("rpu_model_unloads_total 2"), std::string::npos) << library->metrics_text();
}

TEST_F(ModelLibraryTest, ABusyModelIsNotUnloadedTheNewOneGets503) {
  auto library = make(1);
  hold_ = true;
  ask(*library, "a");  // a now reports an active sequence
  try {
    ask(*library, "b");
    FAIL() << "unloaded a model that was serving";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 503);
    EXPECT_NE(std::string(e.what()).find("--max-loaded 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(alive("a"), 1);
  EXPECT_EQ(alive("b"), 0);
  hold_ = false;  // a's call finished
  EXPECT_EQ(ask(*library, "b"), "b|b");
  EXPECT_EQ(alive("a"), 0);
}

TEST_F(ModelLibraryTest, ConcurrentFirstRequestsLoadOnce) {
  auto library = make(2, std::chrono::milliseconds(50));
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (ask(*library, "a") == "a|a") ++answered;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered, 8);
  EXPECT_EQ(loads("a"), 1);
}

TEST_F(ModelLibraryTest, AFailedLoadLeavesNoTrace) {
  std::vector<ModelEntry> entries = {{"bad", "/m/bad.gguf", ""}, {"a", "/m/a.gguf", ""}};
  ModelLibrary library(
      entries,
      [this](const ModelEntry& e) -> std::unique_ptr<ModelInstance> {
        if (e.id == "bad") fail("{}: not a GGUF file", e.path);
        return std::make_unique<EchoInstance>(e.id, counters_, hold_);
      },
      1);
  EXPECT_THROW(ask(library, "bad"), Error);
  EXPECT_EQ(ask(library, "a"), "a|a");  // the failed load did not hold the one place
  EXPECT_THROW(ModelLibrary({{"x", "1", ""}, {"x", "2", ""}}, {}, 1), Error);
}

}  // namespace
}  // namespace rpu
