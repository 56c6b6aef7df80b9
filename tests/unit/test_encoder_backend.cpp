// An encoder model (bert) behind the scheduler and LocalBackend: embeddings come back as the
// encoder computes them alone, whatever they are queued with; generation is refused (a 400
// naming /v1/embeddings); inputs longer than the position table are a context-length error.
#include <gtest/gtest.h>

#include <thread>

#include "engine/scheduler.h"
#include "model/encoder_forward.h"
#include "model/model.h"
#include "model/synth.h"
#include "pipeline/local_backend.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

struct EncoderFixture {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;

  explicit EncoderFixture(Pooling pooling = Pooling::kCls) {
    SynthSpec s;
    s.arch = "bert";
    s.n_vocab = 600;
    s.n_embd = 32;
    s.n_layer = 2;
    s.n_head = 4;
    s.n_head_kv = 4;
    s.n_ff = 64;
    s.n_ctx = 32;
    s.qkv_bias = true;
    s.wordpiece = true;
    s.pooling = pooling;
    model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(s).to_bytes()), "bert-test"));
    tokenizer = Tokenizer::from_gguf(model->file());
  }
};

TEST(EncoderScheduler, EmbeddingsMatchTheEncoderAloneUnderConcurrentLoad) {
  EncoderFixture f;
  ThreadPool pool(2);
  SchedulerOptions options;
  options.n_seq = 3;
  options.n_ctx = 512;
  Scheduler scheduler(*f.model, *f.tokenizer, options, &pool);
  EXPECT_TRUE(scheduler.embeddings_only());

  std::vector<std::vector<int32_t>> inputs;
  for (int i = 0; i < 10; ++i) {
    std::vector<int32_t> tokens = {101};
    for (int j = 0; j <= i; ++j) tokens.push_back(104 + (i * 7 + j * 13) % 400);
    tokens.push_back(102);
    inputs.push_back(tokens);
  }
  EncoderForward alone(*f.model);
  std::mutex mutex;
  std::condition_variable done;
  std::vector<std::vector<float>> got(inputs.size());
  int remaining = static_cast<int>(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    scheduler.submit_embedding(inputs[i], [&, i](std::vector<float> e, int n_tokens) {
      EXPECT_EQ(n_tokens, static_cast<int>(inputs[i].size()));
      std::lock_guard<std::mutex> lock(mutex);
      got[i] = std::move(e);
      if (--remaining == 0) done.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(done.wait_for(lock, std::chrono::seconds(60), [&] { return remaining == 0; }));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<float> expected = alone.embed({&inputs[i], 1}).front();
    ASSERT_EQ(got[i].size(), expected.size());
    for (size_t j = 0; j < expected.size(); ++j) EXPECT_NEAR(got[i][j], expected[j], 1e-6) << i;
  }
  const SchedulerStats stats = scheduler.stats();
  EXPECT_GE(stats.steps, 4u);  // at most 3 inputs a step
  EXPECT_EQ(stats.queued, 0);
}

TEST(EncoderScheduler, RefusesGenerationAndInputsBeyondThePositions) {
  EncoderFixture f;
  SchedulerOptions options;
  options.n_ctx = 4096;
  Scheduler scheduler(*f.model, *f.tokenizer, options, nullptr);
  GenerationRequest g;
  g.prompt = {101, 200, 102};
  EXPECT_THROW(scheduler.submit(g, [](const GenerationEvent&) {}), Error);
  // 32 positions: 32 tokens fit (no room is needed for an answer), 33 do not.
  EXPECT_NO_THROW(scheduler.validate_prompt(std::vector<int32_t>(32, 200)));
  EXPECT_THROW(scheduler.validate_prompt(std::vector<int32_t>(33, 200)), ContextLengthError);

  // A pooling choice is for encoders only.
  SynthSpec decoder;
  auto llama = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(decoder).to_bytes()), "llama"));
  auto llama_tokenizer = Tokenizer::from_gguf(llama->file());
  SchedulerOptions pooled;
  pooled.n_ctx = 64;
  pooled.pooling = Pooling::kCls;
  EXPECT_THROW(Scheduler(*llama, *llama_tokenizer, pooled, nullptr), Error);
}

TEST(EncoderBackend, EmbedsTextAndAnswersGenerationWithA400) {
  EncoderFixture f(Pooling::kMean);
  SchedulerOptions options;
  options.n_ctx = 512;
  Scheduler scheduler(*f.model, *f.tokenizer, options, nullptr);
  LocalBackend backend(*f.model, *f.tokenizer, scheduler, {"bert-test", ""});

  EmbeddingRequest r;
  r.inputs = {{"hello world", {}, false}, {"the quick brown fox", {}, false}, {"", {101, 300, 102}, true}};
  const EmbeddingResult result = backend.embed(r);
  ASSERT_EQ(result.embeddings.size(), 3u);
  EncoderForward alone(*f.model);
  const std::vector<int32_t> hello = f.tokenizer->encode("hello world", true, false);
  EXPECT_EQ(hello.front(), 101);  // [CLS] ... [SEP]
  EXPECT_EQ(hello.back(), 102);
  const std::vector<float> expected = alone.embed({&hello, 1}).front();
  for (size_t j = 0; j < expected.size(); ++j) EXPECT_NEAR(result.embeddings[0][j], expected[j], 1e-6);
  for (const auto& e : result.embeddings) {
    double norm = 0;
    for (float v : e) norm += static_cast<double>(v) * v;
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
  EXPECT_EQ(result.prompt_tokens, static_cast<int>(hello.size()) + 3 +
                                      static_cast<int>(f.tokenizer->encode("the quick brown fox", true, false).size()));

  auto expect_400 = [](auto&& call) {
    try {
      call();
      ADD_FAILURE() << "expected a 400";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(std::string(e.what()), "model bert-test is an embedding model; use /v1/embeddings");
    }
  };
  ChatRequest chat;
  chat.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "hi"}}});
  expect_400([&] { backend.chat(chat, [](const ChatEvent&) {}); });
  CompletionRequest completion;
  completion.prompts.push_back({"hi", {}, false});
  expect_400([&] { backend.complete(completion, [](const ChatEvent&) {}); });

  EmbeddingRequest too_long;
  too_long.inputs = {{"", std::vector<int32_t>(40, 200), true}};
  try {
    backend.embed(too_long);
    ADD_FAILURE() << "expected a 400";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(std::string(e.what()).find("reads at most 32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rpu
