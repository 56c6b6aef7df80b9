// "copy_fields" through the LocalBackend (decode/copy_matcher.h wired into the scheduler as a
// token constraint, alone or with a grammar): on the fixture model, which knows no JSON and
// none of the request's words, every sample's value is a candidate span of the request, and
// with a shape only the one span of that shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/scheduler.h"
#include "model/model.h"
#include "pipeline/local_backend.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

const std::string kUser = "My order JN-251997 for the Kestrel camera drone never came. Call Tim.";

class LocalBackendCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = Model::load(test::fixture("stories260K/stories260K.gguf"));
    tokenizer_ = Tokenizer::from_gguf(model_->file());
    SchedulerOptions options;
    options.n_seq = 4;
    options.n_ctx = 512;
    scheduler_ = std::make_unique<Scheduler>(*model_, *tokenizer_, options, nullptr);
    const std::string qwen = test::read_file(test::fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
    backend_ = std::make_unique<LocalBackend>(*model_, *tokenizer_, *scheduler_, LocalBackendOptions{"m", qwen});
  }

  // Four samples at temperature 1 of `{"order_id": "<value>"}`: the grammar gives the frame and
  // lets the value be any text; copy_fields decide what it may be.
  std::vector<std::string> values(const std::vector<CopyField>& fields, const std::string& system = "Extract the order.") {
    ChatRequest r;
    r.model = "m";
    r.max_tokens = 60;
    r.n = 4;
    r.sampling.temperature = 1.0f;
    r.sampling.seed = 3;
    r.has_seed = true;
    r.messages = json::array({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", kUser}}});
    r.grammar = R"(root ::= "{\"order_id\": \"" [^"\\]+ "\"}")";
    r.copy_fields = fields;
    const CallResult result = run_chat(*backend_, r);
    std::vector<std::string> out;
    for (const ChoiceResult& c : result.choices) {
      EXPECT_EQ(c.finish_reason, "stop") << c.text;
      const json j = json::parse(c.text);
      out.push_back(j["order_id"].get<std::string>());
    }
    return out;
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<LocalBackend> backend_;
};

TEST_F(LocalBackendCopyTest, AShapedFieldCanOnlyBeTheSpanOfThatShape) {
  for (const std::string& v : values({{"order_id", {"A-#"}}})) EXPECT_EQ(v, "JN-251997");
}

TEST_F(LocalBackendCopyTest, AnUnshapedFieldIsAlwaysASpanOfTheRequest) {
  const std::vector<std::string> spans = copy_candidates(kUser, {});
  const std::vector<std::string> system_spans = copy_candidates("Extract the order.", {});
  for (const std::string& v : values({{"order_id", {}}})) {
    const bool in_user = std::find(spans.begin(), spans.end(), v) != spans.end();
    const bool in_system = std::find(system_spans.begin(), system_spans.end(), v) != system_spans.end();
    EXPECT_TRUE(in_user || in_system) << v;
  }
  // Without copy_fields the same samples write what the story model likes.
  int copies = 0;
  for (const std::string& v : values({})) copies += std::find(spans.begin(), spans.end(), v) != spans.end();
  EXPECT_LT(copies, 4);
}

// from: last_user: the system prompt's order id (the same shape) is not a candidate any more.
TEST_F(LocalBackendCopyTest, ALastUserFieldIsCopiedFromTheUsersMessageOnly) {
  const std::string system = "Order ids look like AB-123456.";
  const auto sampled = values({{"order_id", {"A-#"}}}, system);
  EXPECT_NE(std::find(sampled.begin(), sampled.end(), "AB-123456"), sampled.end()) << "both ids are candidates";
  for (const std::string& v : values({{"order_id", {"A-#"}, true}}, system)) EXPECT_EQ(v, "JN-251997");
}

}  // namespace
}  // namespace rpu
