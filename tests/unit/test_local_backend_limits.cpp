// LocalBackend's order of work and its answers for oversized requests (issue 11, findings 3
// and 5), on the fixture model with a real tool-calling chat template.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <string>

#include "engine/scheduler.h"
#include "model/model.h"
#include "pipeline/local_backend.h"
#include "reasoning/reasoning_backend.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

class LocalBackendLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = Model::load(test::fixture("stories260K/stories260K.gguf"));
    tokenizer_ = Tokenizer::from_gguf(model_->file());
    SchedulerOptions options;
    options.n_seq = 1;
    options.n_ctx = 512;
    scheduler_ = std::make_unique<Scheduler>(*model_, *tokenizer_, options, nullptr);
    const std::string qwen = test::read_file(test::fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
    backend_ = std::make_unique<LocalBackend>(*model_, *tokenizer_, *scheduler_, LocalBackendOptions{"m", qwen});
  }

  ChatRequest request() const {
    ChatRequest r;
    r.model = "m";
    r.max_tokens = 4;
    r.messages = json::array({{{"role", "user"}, {"content", "hi"}}});
    return r;
  }

  // The ApiError chat() throws, or a failure when it accepts the request.
  ApiError chat_error(const ChatRequest& r) {
    try {
      auto handle = backend_->chat(r, [](const ChatEvent&) {});
      if (handle) handle->cancel();
    } catch (const ApiError& e) {
      return e;
    }
    ADD_FAILURE() << "the request was accepted";
    return ApiError(0, "");
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<LocalBackend> backend_;
};

json tool(int i, const json& parameters) {
  return {{"type", "function"},
          {"function", {{"name", "tool_" + std::to_string(i)}, {"description", "a tool"}, {"parameters", parameters}}}};
}

// Finding 5: 5,000 tools with tool_choice "required" spent 59 s building the tool grammar
// before the prompt was found too long. The length is checked first: these tools' schemas
// cannot even be converted, yet the answer is about the prompt.
TEST_F(LocalBackendLimitsTest, LongPromptIsRefusedBeforeTheToolGrammarIsBuilt) {
  ChatRequest r = request();
  r.tools = json::array();
  const json unsupported = {{"type", "object"}, {"properties", {{"a", {{"type", "string"}, {"pattern", "^x"}}}}}};
  for (int i = 0; i < 200; ++i) r.tools.push_back(tool(i, unsupported));
  r.tool_choice = "required";
  const ApiError e = chat_error(r);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "context_length_exceeded") << e.what();
  EXPECT_EQ(e.param, "messages");

  // With a prompt that fits, the same schema is the problem, blamed on the tools.
  r.tools = json::array({tool(0, unsupported)});
  const ApiError schema = chat_error(r);
  EXPECT_EQ(schema.status, 400);
  EXPECT_EQ(schema.param, "tools");
  EXPECT_EQ(schema.code, "invalid_schema") << schema.what();
}

// Finding 3: past the grammar budget, a 400 that names response_format.
TEST_F(LocalBackendLimitsTest, OversizedResponseFormatIsA400NamingIt) {
  ChatRequest r = request();
  json props = json::object(), required = json::array();
  for (int i = 0; i < 20000; ++i) {
    props["p" + std::to_string(i)] = {{"type", "string"}};
    required.push_back("p" + std::to_string(i));
  }
  r.response_format = {{"type", "json_schema"},
                       {"json_schema", {{"name", "big"}, {"schema", {{"type", "object"}, {"properties", props},
                                                                     {"required", required}}}}}};
  const ApiError e = chat_error(r);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "response_format");
  EXPECT_EQ(e.code, "schema_too_large");
  EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
}

// A caller that went away stops the grammar build (ChatRequest::cancelled).
TEST_F(LocalBackendLimitsTest, CancelledCallerStopsTheGrammarBuild) {
  ChatRequest r = request();
  json props = json::object();
  for (int i = 0; i < 3000; ++i) props["p" + std::to_string(i)] = {{"type", "string"}};
  r.response_format = {{"type", "json_schema"},
                       {"json_schema", {{"name", "s"}, {"schema", {{"type", "object"}, {"properties", props}}}}}};
  // The prompt's render polls once (a small render costs far less than kCancelPollUnits);
  // the caller is gone by the grammar build's first poll.
  auto polls = std::make_shared<int>(0);
  r.cancelled = [polls] { return ++*polls > 1; };
  const ApiError e = chat_error(r);
  EXPECT_EQ(e.status, 499);
  EXPECT_EQ(e.param, "response_format");
}

// ... and the template's render, which polls as it charges work.
TEST_F(LocalBackendLimitsTest, CancelledCallerStopsTheRender) {
  ChatRequest r = request();
  r.cancelled = [] { return true; };
  const ApiError e = chat_error(r);
  EXPECT_EQ(e.status, 499);
  EXPECT_EQ(e.param, "messages");
  EXPECT_EQ(e.code, "cancelled");
}

// A blocking call (reasoning strategies, the CLI) whose caller goes away mid-generation is
// cancelled: run_completion throws 499 and the scheduler frees the slot. The generation would
// otherwise fill a 4096-token context (far longer than the 50 ms until the first poll).
TEST_F(LocalBackendLimitsTest, BlockingCallStopsAGenerationWhoseCallerLeft) {
  SchedulerOptions options;
  options.n_seq = 1;
  options.n_ctx = 4096;
  Scheduler scheduler(*model_, *tokenizer_, options, nullptr);
  LocalBackend backend(*model_, *tokenizer_, scheduler, LocalBackendOptions{"m", ""});
  CompletionRequest r;
  r.model = "m";
  r.prompts.push_back({"Once upon a time", {}, false});
  r.max_tokens = -1;
  r.ignore_eos = true;
  r.cancelled = [] { return true; };
  try {
    const CallResult result = run_completion(backend, r);
    FAIL() << "the call ran to the end: " << result.choices.at(0).completion_tokens << " tokens";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 499);
    EXPECT_EQ(e.code, "cancelled");
  }
  for (int i = 0; i < 500 && scheduler.stats().active_sequences != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(scheduler.stats().active_sequences, 0);
}

// An embedding call whose caller went away while its inputs waited is cancelled like a
// generation: embed() throws 499 instead of waiting, and its queued inputs are dropped. The
// one slot is held by a generation that would fill a 4096-token context (far longer than the
// 50 ms until the first poll), so the inputs cannot be embedded before the caller is seen gone.
TEST_F(LocalBackendLimitsTest, BlockingEmbeddingStopsWhenItsCallerLeft) {
  SchedulerOptions options;
  options.n_seq = 1;
  options.n_ctx = 4096;
  Scheduler scheduler(*model_, *tokenizer_, options, nullptr);
  LocalBackend backend(*model_, *tokenizer_, scheduler, LocalBackendOptions{"m", ""});
  CompletionRequest long_generation;
  long_generation.model = "m";
  long_generation.prompts.push_back({"Once upon a time", {}, false});
  long_generation.max_tokens = -1;
  long_generation.ignore_eos = true;
  auto holder = backend.complete(long_generation, [](const ChatEvent&) {});
  EmbeddingRequest r;
  r.model = "m";
  r.inputs = {{"a cat", {}, false}, {"a dog", {}, false}};
  r.cancelled = [] { return true; };
  try {
    const EmbeddingResult result = backend.embed(r);
    FAIL() << "the embedding waited for its caller, who left: " << result.embeddings.size() << " vectors";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 499);
    EXPECT_EQ(e.code, "cancelled");
  }
  // The generation still holds the slot, so only the cancellation can take the inputs out.
  for (int i = 0; i < 500 && scheduler.stats().queued != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(scheduler.stats().queued, 0) << "the cancelled inputs still wait for the slot";
  holder->cancel();
  for (int i = 0; i < 500 && scheduler.stats().active_sequences != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(scheduler.stats().active_sequences, 0);
}

// A reasoned call samples its inner backend in blocking batches: a caller that left stops it
// (the batch copies of the request keep its `cancelled`).
TEST_F(LocalBackendLimitsTest, ReasonedCallStopsWhenItsCallerLeft) {
  reasoning::ReasoningOptions options;
  options.parallel = 1;
  reasoning::ReasoningBackend reasoned(*backend_, options);
  ChatRequest r = request();
  r.max_tokens = 400;
  r.ignore_eos = true;
  r.reasoning = {{"strategy", "self_consistency"}, {"n", 8}};
  auto polls = std::make_shared<std::atomic<int>>(0);
  r.cancelled = [polls] { return ++*polls > 1; };  // present for the first render, gone after
  try {
    auto handle = reasoned.chat(r, [](const ChatEvent&) {});
    FAIL() << "the reasoned call was not cancelled";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 499);
  }
  for (int i = 0; i < 500 && scheduler_->stats().active_sequences != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(scheduler_->stats().active_sequences, 0);
}

// A reasoned call's usage says how much of its prompt was cached before it began, as a plain
// call does: the oracle is a plain call on the same warm cache.
TEST_F(LocalBackendLimitsTest, ReasonedCallReportsThePromptTokensItFoundCached) {
  const auto cached_of = [](Backend& backend, const ChatRequest& r) { return run_chat(backend, r).usage.cached_tokens; };
  const ChatRequest plain = request();
  EXPECT_EQ(cached_of(*backend_, plain), 0);  // cold cache
  const int warm = cached_of(*backend_, plain);
  ASSERT_GT(warm, 0);

  reasoning::ReasoningOptions options;
  options.parallel = 1;  // two batches: the second reuses the first's prefill
  reasoning::ReasoningBackend reasoned(*backend_, options);
  ChatRequest r = request();
  r.reasoning = {{"strategy", "self_consistency"}, {"n", 2}, {"extract", {{"type", "text"}}}};
  EXPECT_EQ(cached_of(reasoned, r), warm);
}

}  // namespace
}  // namespace rpu
