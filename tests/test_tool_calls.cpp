// Tool calls: format detection on the real fixture templates, parsing each format back out of
// model text, rendering tool conversations through the real templates and reading the calls back
// (the template is the oracle for how the model writes a call), and forced-call grammars checked
// with a small GBNF matcher written here.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "server/tool_calls.h"
#include "test_util.h"
#include "text/chat_template.h"

namespace {

using nlohmann::ordered_json;
using rpu::ToolCallFormat;

rpu::RandomAlnum test_random() { return rpu::seeded_random_alnum(42); }

rpu::ParsedToolCalls parse(ToolCallFormat format, std::string_view text) {
  return rpu::parse_tool_calls(format, text, test_random());
}

// {name, arguments object} of each parsed call, for comparisons that ignore ids.
std::vector<std::pair<std::string, ordered_json>> calls_of(const rpu::ParsedToolCalls& parsed) {
  std::vector<std::pair<std::string, ordered_json>> out;
  for (const auto& call : parsed.tool_calls) {
    out.emplace_back(call["function"]["name"].get<std::string>(),
                     ordered_json::parse(call["function"]["arguments"].get<std::string>()));
  }
  return out;
}

bool is_openai_id(const std::string& id) {
  if (id.size() != 29 || id.rfind("call_", 0) != 0) return false;
  return std::all_of(id.begin() + 5, id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
}

// ---------------------------------------------------------------------------------------------
// Detection

TEST(ToolCallsDetect, EveryFixtureTemplate) {
  const std::map<std::string, ToolCallFormat> expected = {
      {"HuggingFaceTB-SmolLM3-3B.jinja", ToolCallFormat::kGeneric},  // tool results only, no tools
      {"Qwen-Qwen2.5-7B-Instruct.jinja", ToolCallFormat::kHermes},
      {"Qwen-Qwen3-0.6B.jinja", ToolCallFormat::kHermes},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", ToolCallFormat::kGeneric},  // renders calls, never tools
      {"google-gemma-2-2b-it.jinja", ToolCallFormat::kGeneric},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", ToolCallFormat::kLlama3Json},
      {"meta-llama-Llama-3.2-3B-Instruct.jinja", ToolCallFormat::kLlama3Json},
      {"microsoft-Phi-3.5-mini-instruct.jinja", ToolCallFormat::kGeneric},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja", ToolCallFormat::kMistral},
  };
  std::size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(rpu::test::fixture("templates"))) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".jinja") continue;
    ++seen;
    const auto it = expected.find(name);
    ASSERT_NE(it, expected.end()) << "new fixture template without an expected format: " << name;
    EXPECT_EQ(rpu::to_string(rpu::detect_tool_call_format(rpu::test::read_file(entry.path().string()))),
              rpu::to_string(it->second))
        << name;
  }
  EXPECT_EQ(seen, expected.size());
}

TEST(ToolCallsDetect, PlainChatMlIsGeneric) {
  EXPECT_EQ(rpu::detect_tool_call_format("{% for m in messages %}{{ m.content }}{% endfor %}"), ToolCallFormat::kGeneric);
  // "parameters" alone (no tools variable) is not the Llama format.
  EXPECT_EQ(rpu::detect_tool_call_format("{{ '\"parameters\"' }}{{ tool_calls }}"), ToolCallFormat::kGeneric);
}

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(ToolCallsParse, HermesNoCallKeepsTextExactly) {
  const auto parsed = parse(ToolCallFormat::kHermes, "  Hello, <b>world</b>!\n");
  EXPECT_EQ(parsed.content, "  Hello, <b>world</b>!\n");
  EXPECT_TRUE(parsed.tool_calls.is_array());
  EXPECT_TRUE(parsed.tool_calls.empty());
}

TEST(ToolCallsParse, HermesOneCallWithContent) {
  const auto parsed = parse(ToolCallFormat::kHermes,
                            "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
                            "\"days\": 3}}\n</tool_call>");
  EXPECT_EQ(parsed.content, "Let me check.");
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
  const auto& call = parsed.tool_calls[0];
  EXPECT_TRUE(is_openai_id(call["id"].get<std::string>())) << call["id"];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], "{\"city\":\"Paris\",\"days\":3}");  // compact, key order kept
  EXPECT_EQ(call.begin().key(), "id");
}

TEST(ToolCallsParse, HermesTwoCallsUnicodeAndNestedArguments) {
  const auto parsed = parse(ToolCallFormat::kHermes,
                            "<tool_call>\n{\"name\": \"translate\", \"arguments\": {\"text\": \"naïve café 日本\", "
                            "\"opts\": {\"to\": [\"de\", \"fr\"], \"formal\": true, \"n\": null}}}\n</tool_call>\n"
                            "<tool_call>\n{\"name\": \"noop\", \"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(parsed.content, "");
  ASSERT_EQ(parsed.tool_calls.size(), 2u);
  EXPECT_EQ(parsed.tool_calls[0]["function"]["arguments"],
            "{\"text\":\"naïve café 日本\",\"opts\":{\"to\":[\"de\",\"fr\"],\"formal\":true,\"n\":null}}");
  EXPECT_EQ(parsed.tool_calls[1]["function"]["name"], "noop");
  EXPECT_EQ(parsed.tool_calls[1]["function"]["arguments"], "{}");
  EXPECT_NE(parsed.tool_calls[0]["id"], parsed.tool_calls[1]["id"]);
}

TEST(ToolCallsParse, IdsAreDeterministicPerSeed) {
  const std::string text = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
  const auto a = rpu::parse_tool_calls(ToolCallFormat::kHermes, text, rpu::seeded_random_alnum(7));
  const auto b = rpu::parse_tool_calls(ToolCallFormat::kHermes, text, rpu::seeded_random_alnum(7));
  const auto c = rpu::parse_tool_calls(ToolCallFormat::kHermes, text, rpu::seeded_random_alnum(8));
  EXPECT_EQ(a.tool_calls[0]["id"], b.tool_calls[0]["id"]);
  EXPECT_NE(a.tool_calls[0]["id"], c.tool_calls[0]["id"]);
  EXPECT_TRUE(is_openai_id(rpu::make_tool_call_id(ToolCallFormat::kHermes, rpu::system_random_alnum())));
  EXPECT_EQ(rpu::make_tool_call_id(ToolCallFormat::kMistral, test_random()).size(), 9u);
}

TEST(ToolCallsParse, HermesQwen3ThinkingStaysInContent) {
  const auto parsed = parse(ToolCallFormat::kHermes,
                            "<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", "
                            "\"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>");
  EXPECT_EQ(parsed.content, "<think>\nThe user wants weather.\n</think>");
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
}

TEST(ToolCallsParse, HermesArgumentsAsJsonStringAndMissingCloseTag) {
  const auto parsed = parse(ToolCallFormat::kHermes,
                            "<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": [1, 2]}\"}\n</tool_call>\n"
                            "<tool_call>\n{\"name\": \"g\", \"arguments\": {\"b\": \"</tool\"}}\n");
  ASSERT_EQ(parsed.tool_calls.size(), 2u);
  EXPECT_EQ(parsed.tool_calls[0]["function"]["arguments"], "{\"a\":[1,2]}");
  EXPECT_EQ(parsed.tool_calls[1]["function"]["arguments"], "{\"b\":\"</tool\"}");
  EXPECT_EQ(parsed.content, "");
}

TEST(ToolCallsParse, HermesMalformedStaysContent) {
  for (const std::string text : {
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }\n</tool_call>",  // bad JSON
           "<tool_call>\n{\"arguments\": {}}\n</tool_call>",                         // no name
           "<tool_call>\n{\"name\": \"\", \"arguments\": {}}\n</tool_call>",         // empty name
           "<tool_call>\n{\"name\": 5, \"arguments\": {}}\n</tool_call>",            // name not a string
           "<tool_call>\n{\"name\": \"f\", \"arguments\": [1]}\n</tool_call>",       // arguments not an object
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {}} trailing\n</tool_call>",
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1",  // cut off mid-call
           "<tool_call>",
       }) {
    const auto parsed = parse(ToolCallFormat::kHermes, text);
    EXPECT_EQ(parsed.content, text);
    EXPECT_TRUE(parsed.tool_calls.empty()) << text;
  }
  // A malformed block does not hide a good one after it; it stays in content.
  const auto mixed = parse(ToolCallFormat::kHermes,
                           "<tool_call>{oops}</tool_call>\n<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>");
  EXPECT_EQ(mixed.content, "<tool_call>{oops}</tool_call>");
  ASSERT_EQ(mixed.tool_calls.size(), 1u);
  EXPECT_EQ(mixed.tool_calls[0]["function"]["name"], "f");
}

TEST(ToolCallsParse, GenericReadsHermes) {
  const auto parsed = parse(ToolCallFormat::kGeneric, "<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": 1}}</tool_call>");
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
  EXPECT_EQ(parsed.tool_calls[0]["function"]["arguments"], "{\"x\":1}");
}

TEST(ToolCallsParse, Llama3) {
  EXPECT_TRUE(parse(ToolCallFormat::kLlama3Json, "The capital is Paris.").tool_calls.empty());

  auto parsed = parse(ToolCallFormat::kLlama3Json, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Zürich\"}}");
  EXPECT_EQ(parsed.content, "");
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
  EXPECT_EQ(parsed.tool_calls[0]["function"]["arguments"], "{\"city\":\"Zürich\"}");

  parsed = parse(ToolCallFormat::kLlama3Json,
                 "<|python_tag|>{\"type\": \"function\", \"name\": \"a\", \"parameters\": {\"x\": {\"y\": [1]}}}; "
                 "{\"name\": \"b\", \"parameters\": {}}\n{\"name\": \"c\", \"arguments\": {\"z\": 2}}");
  EXPECT_EQ(parsed.content, "");
  const auto calls = calls_of(parsed);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].first, "a");
  EXPECT_EQ(calls[0].second, ordered_json::parse(R"({"x": {"y": [1]}})"));
  EXPECT_EQ(calls[1].first, "b");
  EXPECT_EQ(calls[2].second, ordered_json::parse(R"({"z": 2})"));

  // Text before <|python_tag|> and after the calls stays content.
  parsed = parse(ToolCallFormat::kLlama3Json, "Checking.<|python_tag|>{\"name\": \"a\", \"parameters\": {}} done");
  EXPECT_EQ(parsed.content, "Checking.\ndone");
  EXPECT_EQ(parsed.tool_calls.size(), 1u);

  // A JSON object inside prose is not a call; neither is one without a name.
  for (const std::string text : {"Use {\"name\": \"a\", \"parameters\": {}} like this", "{\"parameters\": {}}",
                                 "{\"name\": \"a\", \"parameters\": {", "<|python_tag|>brave_search.call(query=\"x\")"}) {
    parsed = parse(ToolCallFormat::kLlama3Json, text);
    EXPECT_EQ(parsed.content, text);
    EXPECT_TRUE(parsed.tool_calls.empty()) << text;
  }
}

TEST(ToolCallsParse, Mistral) {
  EXPECT_TRUE(parse(ToolCallFormat::kMistral, "Bonjour [à tous]").tool_calls.empty());

  auto parsed = parse(ToolCallFormat::kMistral,
                      "Sure.[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": "
                      "\"abcDEF123\"}, {\"name\": \"get_time\", \"arguments\": {\"tz\": {\"name\": \"CET\"}}, \"id\": "
                      "\"call_123456789\"}]");
  EXPECT_EQ(parsed.content, "Sure.");
  ASSERT_EQ(parsed.tool_calls.size(), 2u);
  EXPECT_EQ(parsed.tool_calls[0]["id"], "abcDEF123");  // the model's own id is kept
  const std::string second_id = parsed.tool_calls[1]["id"].get<std::string>();
  EXPECT_EQ(second_id.size(), 9u);  // an unusable id is replaced by one the template accepts
  EXPECT_NE(second_id, "call_1234");
  EXPECT_EQ(parsed.tool_calls[1]["function"]["arguments"], "{\"tz\":{\"name\":\"CET\"}}");

  // Without the special token (a detokenizer dropped it), a reply that is only the array counts.
  parsed = parse(ToolCallFormat::kMistral, " [{\"name\": \"f\", \"arguments\": {}}]\n");
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
  EXPECT_EQ(parsed.content, "");
  for (const std::string text : {"[{\"name\": \"f\", \"arguments\": {}}] and more", "[TOOL_CALLS][]",
                                 "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}, {\"arguments\": {}}]",
                                 "[TOOL_CALLS]{\"name\": \"f\", \"arguments\": {}}", "[TOOL_CALLS][{\"name\": \"f\""}) {
    parsed = parse(ToolCallFormat::kMistral, text);
    EXPECT_EQ(parsed.content, text);
    EXPECT_TRUE(parsed.tool_calls.empty()) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// tool_choice and tools validation

const ordered_json kTools = ordered_json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
  {"type": "function", "function": {"name": "get_time"}}
])");

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const rpu::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ToolCallsChoice, ModesAndErrors) {
  using Mode = rpu::ToolChoice::Mode;
  EXPECT_EQ(rpu::parse_tool_choice(nullptr, kTools).mode, Mode::kAuto);
  EXPECT_EQ(rpu::parse_tool_choice(nullptr, nullptr).mode, Mode::kNone);
  EXPECT_EQ(rpu::parse_tool_choice("none", kTools).mode, Mode::kNone);
  EXPECT_EQ(rpu::parse_tool_choice("required", kTools).mode, Mode::kRequired);
  const auto forced = rpu::parse_tool_choice(ordered_json::parse(R"({"type":"function","function":{"name":"get_time"}})"), kTools);
  EXPECT_EQ(forced.mode, Mode::kFunction);
  EXPECT_EQ(forced.forced_name(), std::optional<std::string>("get_time"));
  EXPECT_TRUE(forced.forces_call());

  EXPECT_NE(error_of([] { rpu::parse_tool_choice(ordered_json::parse(R"({"type":"function","function":{"name":"nope"}})"), kTools); })
                .find("'nope'"),
            std::string::npos);
  EXPECT_NE(error_of([] { rpu::parse_tool_choice("sometimes", kTools); }).find("sometimes"), std::string::npos);
  EXPECT_NE(error_of([] { rpu::parse_tool_choice("required", ordered_json::array()); }).find("required"), std::string::npos);
  EXPECT_NE(error_of([] { rpu::parse_tool_choice(ordered_json::parse(R"({"type":"function"})"), kTools); }), "");
  EXPECT_NE(error_of([] { rpu::validate_tools(ordered_json::parse(R"([{"type":"function","function":{"name":""}}])")); }), "");
  EXPECT_NE(error_of([] { rpu::validate_tools(ordered_json::parse(R"([{"type":"code","function":{"name":"a"}}])")); }), "");
  EXPECT_NE(error_of([] {
              rpu::validate_tools(ordered_json::parse(R"([{"type":"function","function":{"name":"a","parameters":3}}])"));
            }).find("parameters"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              rpu::validate_tools(ordered_json::parse(
                  R"([{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"a"}}])"));
            }).find("more than once"),
            std::string::npos);
}

}  // namespace
