// The reference implementation's golden texts through `rpu serve` (/v1/completions over real
// HTTP), as through `rpu run` (test_cli.cpp): one pipeline, one generation loop, same output.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

struct Golden {
  const char* name;
  const char* prompt;
  int steps;     // llama2.c's -n: tokens after BOS, prompt included
  int prompt_tokens;  // BOS + prompt
};

TEST(ServerGoldenTest, CompletionsReproduceTheReferenceText) {
  test::ServerProcess server({test::fixture("stories260K/stories260K.gguf"), "--alias", "stories", "--parallel", "2"});
  httplib::Client client(server.url());
  client.set_read_timeout(120, 0);
  const Golden cases[] = {{"greedy_onceuponatime_n64", "Once upon a time", 64, 5},
                          {"greedy_lily_n128", "Lily went to the", 128, 6}};
  for (const Golden& g : cases) {
    SCOPED_TRACE(g.name);
    const nlohmann::json body = {{"model", "stories"},     {"prompt", g.prompt}, {"temperature", 0},
                                 {"max_tokens", g.steps + 1 - g.prompt_tokens}, {"echo", true}};
    auto res = client.Post("/v1/completions", body.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const auto j = nlohmann::json::parse(res->body);
    EXPECT_EQ(j["usage"]["prompt_tokens"].get<int>(), g.prompt_tokens);
    const std::string text = j["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(text + "\n", test::read_file(test::fixture(std::string("stories260K/golden/") + g.name + ".txt")));
  }
}

// Streamed, the same echoed call gives the same text, log-probability entries and text offsets:
// the offsets run on over the chunks (as OpenAI's and vLLM's), so joined they equal the
// unstreamed call's; the usage chunk counts the same tokens.
TEST(ServerGoldenTest, StreamedEchoMatchesTheUnstreamedCall) {
  test::ServerProcess server({test::fixture("stories260K/stories260K.gguf"), "--alias", "stories"});
  httplib::Client client(server.url());
  client.set_read_timeout(120, 0);
  nlohmann::json body = {{"model", "stories"}, {"prompt", "Once upon a time"}, {"temperature", 0},
                         {"max_tokens", 24}, {"echo", true}, {"logprobs", 1}};
  auto whole = client.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  const auto expected = nlohmann::json::parse(whole->body);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto streamed = client.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  std::string text;
  nlohmann::json tokens = nlohmann::json::array(), offsets = nlohmann::json::array(), usage;
  int chunks = 0;
  for (size_t at = 0; (at = streamed->body.find("data: {", at)) != std::string::npos; ++at) {
    const auto chunk = nlohmann::json::parse(streamed->body.substr(at + 6, streamed->body.find("\n\n", at) - at - 6));
    if (chunk.contains("usage") && chunk["usage"].is_object()) usage = chunk["usage"];
    for (const auto& c : chunk["choices"]) {
      ++chunks;
      text += c["text"].get<std::string>();
      if (!c["logprobs"].is_object()) continue;
      for (const auto& t : c["logprobs"]["tokens"]) tokens.push_back(t);
      for (const auto& o : c["logprobs"]["text_offset"]) offsets.push_back(o);
    }
  }
  const auto& want = expected["choices"][0];
  EXPECT_GT(chunks, 2);
  EXPECT_EQ(text, want["text"].get<std::string>());
  EXPECT_EQ(tokens, want["logprobs"]["tokens"]);
  EXPECT_EQ(offsets, want["logprobs"]["text_offset"]);
  EXPECT_EQ(usage, expected["usage"]);
}

}  // namespace
}  // namespace rpu
