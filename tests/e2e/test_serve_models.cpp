// rpu serve --models DIR: every model file in a folder behind one server, loaded on first use,
// unloaded least recently used first under --max-loaded, a LoRA adapter as "base+adapter".
// Oracle: each model's greedy text equals `rpu run` on the same file (and adapter).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

namespace fs = std::filesystem;

struct Reply {
  int status = 0;
  nlohmann::json body;
};

Reply post(const test::ServerProcess& server, const std::string& path, const nlohmann::json& body) {
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(60, 0);
  const auto r = client.Post(path, body.dump(), "application/json");
  if (!r) return {};
  return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
}

std::string get(const test::ServerProcess& server, const std::string& path) {
  httplib::Client client("127.0.0.1", server.port());
  const auto r = client.Get(path);
  return r ? r->body : "";
}

// The text `rpu run --raw` generates after the prompt (it echoes the prompt, ends with "\n").
std::string run_continuation(const std::vector<std::string>& args, const std::string& prompt) {
  const auto r = test::run_rpu(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(prompt, 0), 0u) << r.out;
  return r.out.substr(prompt.size(), r.out.size() - prompt.size() - 1);
}

std::string completion_text(const Reply& r) {
  EXPECT_EQ(r.status, 200) << r.body.dump();
  return r.status == 200 ? r.body["choices"][0]["text"].get<std::string>() : "";
}

TEST(ServeModelsTest, ServesEveryModelInAFolderWithinTheLoadedLimit) {
  const std::string dir = test::temp_path("models");
  fs::create_directories(dir);
  const std::string stories = dir + "/stories.gguf", tiny = dir + "/tiny.gguf";
  fs::copy_file(test::fixture("stories260K/stories260K.gguf"), stories);
  ASSERT_EQ(test::run_rpu({"synth", tiny, "--like", "tiny", "--type", "Q8_0", "--seed", "5"}).exit_code, 0);
  // A LoRA adapter for stories260K: Lily always goes to the moon.
  std::string data;
  for (int i = 0; i < 64; ++i) data += "{\"text\": \"Lily went to the moon. The moon was big and white.\"}\n";
  test::write_file(dir + "/../moon.jsonl", data);
  const std::string train_dir = test::temp_path("moon-train");
  const auto trained = test::run_rpu({"finetune", stories, "--data", dir + "/../moon.jsonl", "-o", train_dir, "--lora-rank",
                                      "8", "--lora-alpha", "16", "--lora-targets", "q,k,v,o,gate,up,down", "--seq-len", "64",
                                      "--batch", "8", "--epochs", "6", "--lr", "1e-2", "--validation", "0"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  fs::copy_file(train_dir + "/adapter.gguf", dir + "/moon.gguf");
  test::write_file(dir + "/notes.txt", "not a model");
  test::write_file(dir + "/broken.gguf", "GGUF but not really");

  test::ServerProcess server({"--models", dir, "--max-loaded", "1", "--parallel", "2", "--threads", "2"});
  EXPECT_NE(server.log().find("skipping " + dir + "/broken.gguf"), std::string::npos) << server.log();
  // Listed before anything is loaded; the adapter only with the model it fits.
  const nlohmann::json models = nlohmann::json::parse(get(server, "/v1/models"));
  std::vector<std::string> ids;
  for (const auto& m : models["data"]) ids.push_back(m["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"stories", "stories+moon", "tiny"}));
  EXPECT_NE(get(server, "/metrics").find("rpu_models_loaded 0"), std::string::npos);

  const std::string prompt = "Lily went to the";
  const nlohmann::json ask = {{"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0}};
  const std::string plain = run_continuation({"run", stories, "-p", prompt, "-n", "24", "--temp", "0"}, prompt);
  EXPECT_EQ(completion_text(post(server, "/v1/completions", {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0}})), plain);
  // Another model: stories is unloaded to make room (--max-loaded 1).
  const Reply other = post(server, "/v1/completions", {{"model", "tiny"}, {"prompt", "hello"}, {"max_tokens", 4}});
  EXPECT_EQ(other.status, 200) << other.body.dump() << server.log();
  std::string metrics = get(server, "/metrics");
  EXPECT_NE(metrics.find("rpu_model_loads_total 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("rpu_model_unloads_total 1"), std::string::npos) << metrics;
  // The adapter as its own model, equal to `rpu run --lora`.
  nlohmann::json tuned_ask = ask;
  tuned_ask["model"] = "stories+moon";
  const std::string tuned = completion_text(post(server, "/v1/completions", tuned_ask));
  EXPECT_EQ(tuned, run_continuation({"run", stories, "--lora", dir + "/moon.gguf", "-p", prompt, "-n", "24", "--temp", "0"}, prompt));
  EXPECT_NE(tuned.find("moon"), std::string::npos) << tuned;
  EXPECT_EQ(plain.find("moon"), std::string::npos) << plain;
  // Back to the base model: loaded again, same text.
  nlohmann::json base_ask = ask;
  base_ask["model"] = "stories";
  EXPECT_EQ(completion_text(post(server, "/v1/completions", base_ask)), plain);
  // A chat call as agents send it (system prompt, then the user's turn) to a model with a chat
  // template: the same reply as `rpu run` gives through that template.
  const std::string system = "You are a helpful assistant.", question = "Say hello.";
  const Reply chat = post(server, "/v1/chat/completions",
                          {{"model", "tiny"}, {"max_tokens", 8}, {"temperature", 0},
                           {"messages", {{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", question}}}}});
  ASSERT_EQ(chat.status, 200) << chat.body.dump();
  const auto run_chat = test::run_rpu({"run", tiny, "--system", system, "-p", question, "-n", "8", "--temp", "0"});
  ASSERT_EQ(run_chat.exit_code, 0) << run_chat.err;
  EXPECT_EQ(chat.body["choices"][0]["message"]["content"].get<std::string>() + "\n", run_chat.out);
  // With several models, a name the server does not serve is a 404 naming them.
  const Reply unknown = post(server, "/v1/completions", {{"model", "gpt-4o-mini"}, {"prompt", "x"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body["error"]["code"], "model_not_found");
  EXPECT_TRUE(server.running()) << server.log();
}

TEST(ServeModelsTest, BadFoldersAreOneClearLine) {
  const std::string empty = test::temp_path("no-models");
  fs::create_directories(empty);
  const auto r = test::run_rpu({"serve", "--models", empty});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no GGUF model files or Hugging Face model folders"), std::string::npos) << r.err;
  const auto both = test::run_rpu({"serve", test::fixture("stories260K/stories260K.gguf"), "--models", empty});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("not both"), std::string::npos) << both.err;
  const std::string one = test::temp_path("one-model");
  fs::create_directories(one);
  fs::copy_file(test::fixture("stories260K/stories260K.gguf"), one + "/stories.gguf");
  const auto lora = test::run_rpu({"serve", "--models", one, "--lora", one + "/stories.gguf"});
  EXPECT_EQ(lora.exit_code, 1);
  EXPECT_NE(lora.err.find("adapters in DIR are served as BASE+ADAPTER"), std::string::npos) << lora.err;
  const auto zero = test::run_rpu({"serve", "--models", one, "--max-loaded", "0"});
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_NE(zero.err.find("--max-loaded"), std::string::npos) << zero.err;
}

}  // namespace
}  // namespace rpu
