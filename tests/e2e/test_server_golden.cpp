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

}  // namespace
}  // namespace rpu
