// Tool-call formats against the real chat templates that define them: detection, parsing of
// the model's text into OpenAI tool_calls, the template rendering a call that the parser reads
// back, and the forced-call grammar accepting exactly well-formed calls.
#include <gtest/gtest.h>

#include "core/error.h"
#include "server/tool_calls.h"
#include "test_util.h"
#include "text/chat_template.h"
#include "text/grammar.h"
#include "text/json_schema.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

std::string template_text(const std::string& name) { return test::read_file(test::fixture("templates/" + name)); }

TEST(ToolCallsTest, DetectsTheFormatOfEachRealTemplate) {
  EXPECT_EQ(detect_tool_call_format(template_text("Qwen-Qwen2.5-7B-Instruct.jinja")), ToolCallFormat::kHermes);
  EXPECT_EQ(detect_tool_call_format(template_text("Qwen-Qwen3-0.6B.jinja")), ToolCallFormat::kHermes);
  EXPECT_EQ(detect_tool_call_format(template_text("meta-llama-Llama-3.1-8B-Instruct.jinja")), ToolCallFormat::kLlama3Json);
  EXPECT_EQ(detect_tool_call_format(template_text("meta-llama-Llama-3.2-3B-Instruct.jinja")), ToolCallFormat::kLlama3Json);
  EXPECT_EQ(detect_tool_call_format(template_text("mistralai-Mistral-Nemo-Instruct-2407.jinja")), ToolCallFormat::kMistral);
  EXPECT_EQ(detect_tool_call_format(template_text("google-gemma-2-2b-it.jinja")), ToolCallFormat::kGeneric);
  EXPECT_EQ(detect_tool_call_format(template_text("microsoft-Phi-3.5-mini-instruct.jinja")), ToolCallFormat::kGeneric);
}

TEST(ToolCallsTest, ParsesEachFormatAndKeepsSurroundingText) {
  const auto h = parse_tool_calls(ToolCallFormat::kHermes,
                                  "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", "
                                  "\"days\": [1, 2]}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(h.content, "Let me check.");
  ASSERT_EQ(h.tool_calls.size(), 2u);
  EXPECT_EQ(h.tool_calls[0]["type"], "function");
  EXPECT_EQ(h.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(h.tool_calls[0]["function"]["arguments"].get<std::string>()),
            json::parse(R"({"city": "Zürich", "days": [1, 2]})"));
  EXPECT_EQ(h.tool_calls[1]["function"]["arguments"], "{}");
  EXPECT_TRUE(h.tool_calls[0]["id"].get<std::string>().rfind("call_", 0) == 0);
  EXPECT_NE(h.tool_calls[0]["id"], h.tool_calls[1]["id"]);

  const auto l = parse_tool_calls(ToolCallFormat::kLlama3Json,
                                  "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}");
  ASSERT_EQ(l.tool_calls.size(), 1u);
  EXPECT_EQ(l.tool_calls[0]["function"]["arguments"], R"({"city":"Oslo"})");
  EXPECT_EQ(l.content, "");

  const auto m = parse_tool_calls(ToolCallFormat::kMistral,
                                  "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]");
  ASSERT_EQ(m.tool_calls.size(), 2u);
  EXPECT_EQ(m.tool_calls[1]["function"]["name"], "b");
}

TEST(ToolCallsTest, MalformedCallsStayContent) {
  for (const char* text : {"<tool_call>\n{\"name\": \"f\", \"arguments\": {\n</tool_call>", "<tool_call>{\"arguments\": {}}</tool_call>",
                           "plain answer"}) {
    const auto parsed = parse_tool_calls(ToolCallFormat::kHermes, text);
    EXPECT_TRUE(parsed.tool_calls.empty()) << text;
    EXPECT_EQ(parsed.content, std::string(text)) << text;
  }
  const auto llama = parse_tool_calls(ToolCallFormat::kLlama3Json, "The answer is {not json}");
  EXPECT_TRUE(llama.tool_calls.empty());
  EXPECT_EQ(llama.content, "The answer is {not json}");
}

// The template writes a call in the conversation; the parser must read the same call back.
TEST(ToolCallsTest, RealTemplatesRenderCallsTheParserReads) {
  const json call = {{"id", "call_1"}, {"type", "function"},
                     {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Paris","unit":"c"})"}}}};
  const json tools = json::array({{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}});
  for (const std::string name : {"Qwen-Qwen2.5-7B-Instruct.jinja", "meta-llama-Llama-3.1-8B-Instruct.jinja"}) {
    SCOPED_TRACE(name);
    const std::string source = template_text(name);
    const ToolCallFormat format = detect_tool_call_format(source);
    const json messages = json::array({{{"role", "user"}, {"content", "Weather?"}},
                                       {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call})}}});
    ChatContextOptions options;
    options.add_generation_prompt = false;
    options.tool_call_arguments_as_objects = true;
    const std::string rendered = ChatTemplate::parse(source).render(make_chat_context(messages, tools, options, nullptr));
    // The assistant turn: after the last header / im_start, up to the end-of-turn marker.
    const std::string open = format == ToolCallFormat::kHermes ? "<|im_start|>assistant\n" : "assistant<|end_header_id|>\n\n";
    const std::string close = format == ToolCallFormat::kHermes ? "<|im_end|>" : "<|eot_id|>";
    const size_t start = rendered.rfind(open);
    ASSERT_NE(start, std::string::npos) << rendered;
    const size_t end = rendered.find(close, start);
    const std::string turn = rendered.substr(start + open.size(), end - start - open.size());
    const auto parsed = parse_tool_calls(format, turn);
    ASSERT_EQ(parsed.tool_calls.size(), 1u) << turn;
    EXPECT_EQ(parsed.tool_calls[0]["function"]["name"], "get_weather");
    EXPECT_EQ(json::parse(parsed.tool_calls[0]["function"]["arguments"].get<std::string>()),
              json::parse(call["function"]["arguments"].get<std::string>()));
  }
}

ToolSchemaRules schema_rules(const json& schema, std::string_view prefix) {
  JsonSchemaRules r = json_schema_to_rules(schema, prefix);
  return {r.rules, r.root};
}

TEST(ToolCallsTest, ForcedCallGrammarAcceptsExactlyWellFormedCalls) {
  const json tools = json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"],
      "additionalProperties": false}}},
    {"type": "function", "function": {"name": "get_time"}}])");
  auto matches = [](const std::string& grammar_text, const std::string& text) {
    GrammarMatcher m(Grammar::parse(grammar_text), nullptr);
    return m.accept_bytes(text) && m.is_complete();
  };
  const std::string forced = tool_call_grammar(ToolCallFormat::kHermes, tools, std::string("get_weather"), &schema_rules);
  EXPECT_TRUE(matches(forced, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\", \"unit\": \"c\"}}\n</tool_call>"));
  EXPECT_FALSE(matches(forced, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(matches(forced, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>"));
  const std::string any = tool_call_grammar(ToolCallFormat::kHermes, tools, std::nullopt, &schema_rules);
  EXPECT_TRUE(matches(any, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
  const std::string llama = tool_call_grammar(ToolCallFormat::kLlama3Json, tools, std::string("get_time"), &schema_rules);
  EXPECT_TRUE(matches(llama, "{\"name\": \"get_time\", \"parameters\": {}}"));
  const std::string mistral = tool_call_grammar(ToolCallFormat::kMistral, tools, std::string("get_time"), &schema_rules);
  EXPECT_TRUE(matches(mistral, "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}]"));
  EXPECT_THROW(tool_call_grammar(ToolCallFormat::kHermes, tools, std::string("nope"), &schema_rules), Error);
}

TEST(ToolCallsTest, GenericTemplatesGetInstructionsAndPlainHistory) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])");
  const json with_system = inject_tool_instructions(json::parse(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])"), tools);
  ASSERT_EQ(with_system.size(), 2u);
  EXPECT_EQ(with_system[0]["content"].get<std::string>().rfind("Be brief.", 0), 0u);
  EXPECT_NE(with_system[0]["content"].get<std::string>().find("\"name\":\"f\""), std::string::npos);
  const json without = inject_tool_instructions(json::parse(R"([{"role": "user", "content": "hi"}])"), tools);
  ASSERT_EQ(without.size(), 2u);
  EXPECT_EQ(without[0]["role"], "system");
  const json history = rewrite_tool_history(json::parse(R"([
    {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
    {"role": "tool", "tool_call_id": "c", "content": "42"}])"));
  EXPECT_EQ(history[0]["content"], "<tool_call>\n{\"name\":\"f\",\"arguments\":{\"a\":1}}\n</tool_call>");
  EXPECT_EQ(history[1]["role"], "user");
  EXPECT_EQ(history[1]["content"], "<tool_response>\n42\n</tool_response>");
  // The rewritten call parses back.
  const auto parsed = parse_tool_calls(ToolCallFormat::kGeneric, history[0]["content"].get<std::string>());
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
  EXPECT_EQ(parsed.tool_calls[0]["function"]["arguments"], R"({"a":1})");
}

}  // namespace
}  // namespace rpu
