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
#include "core/rng.h"
#include "chat/tool_calls.h"
#include "gbnf_matcher.h"
#include "test_util.h"
#include "chat/chat_template.h"

namespace {

using nlohmann::ordered_json;
using rpu::ToolCallFormat;
using rpu::test::GbnfMatcher;

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

// A generic template's model may answer with the call object alone (a convert specialist, which
// learned the logged calls as JSON): that is a call, but an object that is anything else is
// content, and so is a bare call with text around it.
TEST(ToolCallsParse, GenericReadsABareCallObjectAndNothingElse) {
  const auto bare = parse(ToolCallFormat::kGeneric, " {\"name\":\"f\",\"arguments\":{\"x\":1}}\n");
  ASSERT_EQ(bare.tool_calls.size(), 1u);
  EXPECT_EQ(bare.tool_calls[0]["function"]["name"], "f");
  EXPECT_EQ(bare.tool_calls[0]["function"]["arguments"], "{\"x\":1}");
  EXPECT_EQ(bare.content, "");
  for (const char* content : {"{\"name\": \"Ada\", \"email\": null}", "{\"name\": \"Ada\"}",
                              "Sure: {\"name\": \"f\", \"arguments\": {}}", "{\"name\": \"f\", \"arguments\": {}} done",
                              "{\"name\": \"f\", \"arguments\": 3}"}) {
    const auto parsed = parse(ToolCallFormat::kGeneric, content);
    EXPECT_TRUE(parsed.tool_calls.empty()) << content;
    EXPECT_EQ(parsed.content, content);
  }
  EXPECT_TRUE(parse(ToolCallFormat::kHermes, "{\"name\": \"f\", \"arguments\": {}}").tool_calls.empty())
      << "Hermes templates ask for the tags";
}

// The keys a format's markup writes are what copy_fields leaves alone in a tool-call answer.
TEST(ToolCallsParse, MarkupKeysAreTheOnesTheParsersRead) {
  using Keys = std::vector<std::string>;
  EXPECT_EQ(rpu::tool_call_markup_keys(ToolCallFormat::kGeneric), Keys({"name", "arguments", "parameters"}));
  EXPECT_EQ(rpu::tool_call_markup_keys(ToolCallFormat::kMistral), Keys({"name", "arguments", "parameters", "id"}));
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

// ---------------------------------------------------------------------------------------------
// Forced-call grammars, checked with GbnfMatcher (tests/support/gbnf_matcher.h).

TEST(ToolCallsGrammar, MatcherSelfCheck) {
  const GbnfMatcher g("root ::= \"a\" ( b | \"c\" )* [x-z]? [^\\n]+\nb ::= \"\\\"\\n\"\n");
  EXPECT_TRUE(g.matches("aq"));
  EXPECT_TRUE(g.matches("a\"\ncc\"\nyq!"));
  EXPECT_FALSE(g.matches("a"));
  EXPECT_FALSE(g.matches("ac\n"));
  EXPECT_FALSE(g.matches("bq"));
}

// A stand-in for the JSON-Schema converter: objects whose properties are strings or integers,
// written in schema order and all present, or {} for a schema without properties.
struct FakeConverter {
  std::vector<std::pair<ordered_json, std::string>> calls;  // (schema, prefix) it was asked for

  rpu::SchemaRules operator()(const ordered_json& schema, const std::string& p) {
    calls.emplace_back(schema, p);
    std::string body = "\"{\" " + p + "ws";
    bool first = true;
    const ordered_json properties = schema.value("properties", ordered_json::object());
    for (const auto& [key, property] : properties.items()) {
      const std::string value = property.at("type") == "integer" ? p + "integer" : p + "string";
      body += std::string(first ? " " : " \",\" " + p + "ws ") + "\"\\\"" + key + "\\\"\" " + p + "ws \":\" " + p + "ws " +
              value + " " + p + "ws";
      first = false;
    }
    body += " \"}\"";
    return {p + "root ::= " + body + "\n" + p + "ws ::= \" \"?\n" + p + "string ::= \"\\\"\" [^\"\\\\]* \"\\\"\"\n" + p +
                "integer ::= \"-\"? [0-9]+\n",
            p + "root"};
  }
};

rpu::SchemaToRules as_function(FakeConverter& fake) {
  return [&fake](const ordered_json& schema, const std::string& prefix) { return fake(schema, prefix); };
}

TEST(ToolCallsGrammar, HermesRequiredAcceptsACallToAnyTool) {
  FakeConverter fake;
  const std::string grammar = rpu::tool_call_grammar(ToolCallFormat::kHermes, kTools, std::nullopt, as_function(fake));
  ASSERT_EQ(fake.calls.size(), 2u);
  EXPECT_EQ(fake.calls[0].first, kTools[0]["function"]["parameters"]);
  EXPECT_EQ(fake.calls[1].first, ordered_json::parse(R"({"type": "object"})"));  // missing parameters
  EXPECT_NE(fake.calls[0].second, fake.calls[1].second);
  EXPECT_EQ(grammar.rfind("root ::= \"<tool_call>\\n\" ", 0), 0u) << grammar;

  const GbnfMatcher g(grammar);
  g.check_references();
  const std::vector<std::string> accepted = {
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
      "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n</tool_call>",
      "<tool_call>\n{ \n\"name\" :\t\"get_time\",  \"arguments\":  {}\n}\n</tool_call>",
  };
  for (const auto& text : accepted) {
    EXPECT_TRUE(g.matches(text)) << text;
    // What the grammar lets the model write, the parser reads back as one call.
    EXPECT_EQ(parse(ToolCallFormat::kHermes, text).tool_calls.size(), 1u) << text;
  }
  for (const std::string text : {
           "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}",                           // no wrapper
           "<tool_call>\n{\"name\": \"get_news\", \"arguments\": {}}\n</tool_call>",                       // unknown
           "<tool_call>\n{\"arguments\": {}, \"name\": \"get_time\"}\n</tool_call>",                       // key order
           "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>",                    // schema
           "<tool_call>\n{   \"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",                   // 3 spaces
           "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>\n<tool_call>",        // 2 calls
           "Sure <tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",                // prose
       }) {
    EXPECT_FALSE(g.matches(text)) << text;
  }
}

TEST(ToolCallsGrammar, ExactTextForOneTool) {
  // Hand-written expectation: the wrapper, the call alternatives, bounded whitespace, then the
  // converter's rules under the tool's prefix.
  FakeConverter fake;
  const std::string grammar = rpu::tool_call_grammar(ToolCallFormat::kHermes, kTools, "get_time", as_function(fake));
  EXPECT_EQ(grammar,
            "root ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\n"
            "call ::= call-1\n"
            "ws ::= ( [ \\t\\n] [ \\t\\n]? )?\n"
            "call-1 ::= \"{\" ws \"\\\"name\\\"\" ws \":\" ws \"\\\"get_time\\\"\" ws \",\" ws \"\\\"arguments\\\"\" ws \":\" ws "
            "tool-1-root ws \"}\"\n"
            "tool-1-root ::= \"{\" tool-1-ws \"}\"\n"
            "tool-1-ws ::= \" \"?\n"
            "tool-1-string ::= \"\\\"\" [^\"\\\\]* \"\\\"\"\n"
            "tool-1-integer ::= \"-\"? [0-9]+\n");
}

TEST(ToolCallsGrammar, ForcedNameOnlyThatTool) {
  FakeConverter fake;
  const GbnfMatcher g(rpu::tool_call_grammar(ToolCallFormat::kGeneric, kTools, "get_time", as_function(fake)));
  EXPECT_EQ(fake.calls.size(), 1u);
  EXPECT_TRUE(g.matches("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(g.matches("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"));
  // The generic format also takes the bare object its parser reads, after whitespace.
  EXPECT_TRUE(g.matches(" {\"name\":\"get_time\",\"arguments\":{}}"));
  EXPECT_FALSE(g.matches(" {\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}"));

  const std::string error = error_of([&] { rpu::tool_call_grammar(ToolCallFormat::kHermes, kTools, "launch", as_function(fake)); });
  EXPECT_NE(error.find("'launch'"), std::string::npos) << error;
  EXPECT_NE(error_of([&] { rpu::tool_call_grammar(ToolCallFormat::kHermes, ordered_json::array(), std::nullopt, as_function(fake)); }),
            "");
}

TEST(ToolCallsGrammar, Llama3KeysAndNoWrapper) {
  FakeConverter fake;
  const GbnfMatcher g(rpu::tool_call_grammar(ToolCallFormat::kLlama3Json, kTools, "get_weather", as_function(fake)));
  const std::string call = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
  EXPECT_TRUE(g.matches(call));
  EXPECT_EQ(calls_of(parse(ToolCallFormat::kLlama3Json, call)).at(0).second, ordered_json::parse(R"({"city": "Paris"})"));
  EXPECT_FALSE(g.matches("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"));
  EXPECT_FALSE(g.matches("<tool_call>\n" + call + "\n</tool_call>"));
}

TEST(ToolCallsGrammar, MistralWrapperAndOptionalId) {
  FakeConverter fake;
  const GbnfMatcher g(rpu::tool_call_grammar(ToolCallFormat::kMistral, kTools, std::nullopt, as_function(fake)));
  g.check_references();
  for (const std::string text : {"[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}]",
                                 "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"abcDEF123\"}]"}) {
    EXPECT_TRUE(g.matches(text)) << text;
    EXPECT_EQ(parse(ToolCallFormat::kMistral, text).tool_calls.size(), 1u);
  }
  EXPECT_FALSE(g.matches("[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"abcDEF12\"}]"));
  EXPECT_FALSE(g.matches("[{\"name\": \"get_time\", \"arguments\": {}}]"));
}

TEST(ToolCallsGrammar, NamesAreEscapedLiterals) {
  const ordered_json tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "météo\\\"x"}}])");
  FakeConverter fake;
  const GbnfMatcher g(rpu::tool_call_grammar(ToolCallFormat::kHermes, tools, std::nullopt, as_function(fake)));
  EXPECT_TRUE(g.matches("<tool_call>\n{\"name\": \"météo\\\\\\\"x\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(g.matches("<tool_call>\n{\"name\": \"météo\\\"x\", \"arguments\": {}}\n</tool_call>"));
}

// ---------------------------------------------------------------------------------------------
// Rendering through the real templates: the template writes the history's calls the way the
// model was trained to write them, so parsing that text must give the calls back.

rpu::ChatTemplate load_template(const std::string& file) {
  return rpu::ChatTemplate::parse(rpu::test::read_file(rpu::test::fixture("templates/" + file)));
}

// The text between the first `open` and the following `close`.
std::string between(const std::string& text, const std::string& open, const std::string& close) {
  const std::size_t start = text.find(open);
  if (start == std::string::npos) return "<" + open + " not found>";
  const std::size_t end = text.find(close, start + open.size());
  if (end == std::string::npos) return "<" + close + " not found>";
  return text.substr(start + open.size(), end - start - open.size());
}

ordered_json weather_call(const std::string& id, const std::string& city) {
  return {{"id", id},
          {"type", "function"},
          {"function",
           {{"name", "get_weather"},
            {"arguments", ordered_json{{"city", city}, {"opts", {{"units", {"c", "f"}}, {"days", 3}}}}.dump()}}}};
}

ordered_json conversation(const ordered_json& calls, const std::string& assistant_content) {
  ordered_json messages = ordered_json::array();
  messages.push_back({{"role", "user"}, {"content", "Weather in Zürich and 東京?"}});
  messages.push_back({{"role", "assistant"}, {"content", assistant_content}, {"tool_calls", calls}});
  for (const auto& call : calls)
    messages.push_back({{"role", "tool"}, {"tool_call_id", call["id"]}, {"content", "{\"temp\": 21}"}});
  return messages;
}

void expect_same_calls(const rpu::ParsedToolCalls& parsed, const ordered_json& calls) {
  ASSERT_EQ(parsed.tool_calls.size(), calls.size()) << parsed.content;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(parsed.tool_calls[i]["function"]["name"], calls[i]["function"]["name"]);
    EXPECT_EQ(ordered_json::parse(parsed.tool_calls[i]["function"]["arguments"].get<std::string>()),
              ordered_json::parse(calls[i]["function"]["arguments"].get<std::string>()));
  }
}

std::string render(const rpu::ChatTemplate& tmpl, const rpu::PreparedChat& chat, const std::string& eos = "") {
  return tmpl.render(rpu::make_chat_context(
      chat.messages, chat.tools, {.add_generation_prompt = true, .bos_token = "", .eos_token = eos, .tool_call_arguments_as_objects = true},
      nullptr));
}

rpu::PreparedChat prepared(ToolCallFormat format, const ordered_json& messages, const rpu::ChatTemplate& tmpl) {
  const rpu::ToolChoice choice = rpu::parse_tool_choice(nullptr, kTools);
  return rpu::prepare_tool_conversation(format, messages, kTools, choice, rpu::template_accepts_system_role(tmpl));
}

TEST(ToolCallsRender, QwenTemplatesRoundTrip) {
  const ordered_json calls = ordered_json::array({weather_call("call_a", "Zürich"), weather_call("call_b", "東京")});
  for (const std::string file : {"Qwen-Qwen2.5-7B-Instruct.jinja", "Qwen-Qwen3-0.6B.jinja"}) {
    const auto tmpl = load_template(file);
    const ToolCallFormat format = rpu::detect_tool_call_format(tmpl.source());
    const auto chat = prepared(format, conversation(calls, "Checking both."), tmpl);
    ASSERT_EQ(chat.tools, kTools) << file;  // the template describes the tools itself
    const std::string prompt = render(tmpl, chat);
    EXPECT_NE(prompt.find("\"name\": \"get_weather\""), std::string::npos) << prompt;
    const std::string assistant = between(prompt, "<|im_start|>assistant\n", "<|im_end|>");
    const auto parsed = rpu::parse_tool_calls(format, assistant, test_random());
    EXPECT_EQ(parsed.content, "Checking both.") << file << "\n" << assistant;
    expect_same_calls(parsed, calls);
  }
}

TEST(ToolCallsRender, Llama3TemplatesRoundTrip) {
  const ordered_json calls = ordered_json::array({weather_call("call_a", "Zürich")});  // these templates take one call per turn
  for (const std::string file : {"meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja"}) {
    const auto tmpl = load_template(file);
    const ToolCallFormat format = rpu::detect_tool_call_format(tmpl.source());
    const std::string prompt = render(tmpl, prepared(format, conversation(calls, ""), tmpl));
    EXPECT_NE(prompt.find("\"get_weather\""), std::string::npos) << prompt;
    const std::string assistant = between(prompt, "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>");
    const auto parsed = rpu::parse_tool_calls(format, assistant, test_random());
    EXPECT_EQ(parsed.content, "") << assistant;
    expect_same_calls(parsed, calls);
  }
}

TEST(ToolCallsRender, MistralRoundTripKeepsIds) {
  const auto tmpl = load_template("mistralai-Mistral-Nemo-Instruct-2407.jinja");
  const ToolCallFormat format = rpu::detect_tool_call_format(tmpl.source());
  // Ids as parse_tool_calls makes them for Mistral: the template rejects any other length.
  const std::string id_a = rpu::make_tool_call_id(format, test_random());
  const std::string id_b = rpu::make_tool_call_id(format, rpu::seeded_random_alnum(3));
  const ordered_json calls = ordered_json::array({weather_call(id_a, "Zürich"), weather_call(id_b, "東京")});
  const std::string prompt = render(tmpl, prepared(format, conversation(calls, ""), tmpl), "</s>");
  EXPECT_NE(prompt.find("[AVAILABLE_TOOLS]"), std::string::npos) << prompt;
  const std::string assistant = "[TOOL_CALLS]" + between(prompt, "[TOOL_CALLS]", "</s>");
  const auto parsed = rpu::parse_tool_calls(format, assistant, test_random());
  EXPECT_EQ(parsed.content, "") << assistant;
  expect_same_calls(parsed, calls);
  ASSERT_EQ(parsed.tool_calls.size(), 2u);
  EXPECT_EQ(parsed.tool_calls[0]["id"], id_a);
  EXPECT_EQ(parsed.tool_calls[1]["id"], id_b);
}

TEST(ToolCallsRender, RewriteHistoryAsText) {
  const ordered_json calls = ordered_json::array({weather_call("call_a", "Zürich"), weather_call("call_b", "東京")});
  ordered_json messages = conversation(calls, "Checking.");
  messages.push_back({{"role", "user"}, {"content", "Thanks!"}});
  const ordered_json rewritten = rpu::rewrite_tool_history_as_text(messages);
  const ordered_json expected = ordered_json::parse(R"([
    {"role": "user", "content": "Weather in Zürich and 東京?"},
    {"role": "assistant", "content": "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Zürich\",\"opts\":{\"units\":[\"c\",\"f\"],\"days\":3}}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"東京\",\"opts\":{\"units\":[\"c\",\"f\"],\"days\":3}}}\n</tool_call>"},
    {"role": "user", "content": "<tool_response>\n{\"temp\": 21}\n</tool_response>\n<tool_response>\n{\"temp\": 21}\n</tool_response>\n\nThanks!"}
  ])");
  EXPECT_EQ(rewritten, expected) << rewritten.dump(2);
  expect_same_calls(rpu::parse_tool_calls(ToolCallFormat::kGeneric, rewritten[1]["content"].get<std::string>(), test_random()),
                    calls);
}

TEST(ToolCallsRender, GenericInjectionThroughChatMl) {
  const auto tmpl = rpu::ChatTemplate::parse(
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
  const ToolCallFormat format = rpu::detect_tool_call_format(tmpl.source());
  ASSERT_EQ(format, ToolCallFormat::kGeneric);
  EXPECT_TRUE(rpu::template_accepts_system_role(tmpl));

  ordered_json messages = conversation(ordered_json::array({weather_call("call_a", "Zürich")}), "");
  messages.insert(messages.begin(), ordered_json{{"role", "system"}, {"content", "Be brief."}});
  const auto forced = rpu::parse_tool_choice(ordered_json::parse(R"({"type":"function","function":{"name":"get_time"}})"), kTools);
  const auto chat = rpu::prepare_tool_conversation(format, messages, kTools, forced, true);
  EXPECT_TRUE(chat.tools.is_null());
  const std::string prompt = render(tmpl, chat);

  // One system turn: the user's text, then the instructions with every tool as compact JSON.
  const std::string system = between(prompt, "<|im_start|>system\n", "<|im_end|>");
  EXPECT_EQ(system.rfind("Be brief.\n\n", 0), 0u) << system;
  for (const auto& tool : kTools) EXPECT_NE(system.find(tool.dump()), std::string::npos) << tool.dump();
  EXPECT_NE(system.find("<tool_call>"), std::string::npos);
  EXPECT_NE(system.find("\"get_time\" now"), std::string::npos);
  EXPECT_EQ(prompt.find("<|im_start|>system", 1), std::string::npos);
  // The history call renders as Hermes text and reads back; the result comes back as a user turn.
  const std::string assistant = between(prompt, "<|im_start|>assistant\n", "<|im_end|>");
  expect_same_calls(rpu::parse_tool_calls(format, assistant, test_random()),
                    ordered_json::array({weather_call("call_a", "Zürich")}));
  EXPECT_NE(prompt.find("<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>"), std::string::npos)
      << prompt;

  // Without a system message one is prepended.
  const ordered_json injected = rpu::inject_tool_instructions(conversation(ordered_json::array({weather_call("c", "Oslo")}), ""), kTools, forced);
  EXPECT_EQ(injected[0]["role"], "system");
  EXPECT_EQ(injected[1]["role"], "user");
}

TEST(ToolCallsRender, EveryGenericFixtureTemplateRendersToolConversations) {
  const ordered_json calls = ordered_json::array({weather_call("call_a", "Zürich")});
  std::size_t generic = 0;
  for (const auto& entry : std::filesystem::directory_iterator(rpu::test::fixture("templates"))) {
    if (entry.path().extension() != ".jinja") continue;
    const auto tmpl = rpu::ChatTemplate::parse(rpu::test::read_file(entry.path().string()));
    const ToolCallFormat format = rpu::detect_tool_call_format(tmpl.source());
    if (format != ToolCallFormat::kGeneric) continue;
    ++generic;
    const std::string name = entry.path().filename().string();
    const bool system_ok = rpu::template_accepts_system_role(tmpl);
    // Gemma raises on a system message: the instructions must go into the user turn.
    if (name.find("gemma") != std::string::npos) {
      EXPECT_FALSE(system_ok);
    }
    std::string prompt;
    ASSERT_NO_THROW(prompt = render(tmpl, prepared(format, conversation(calls, ""), tmpl))) << name;
    EXPECT_NE(prompt.find(kTools[0].dump()), std::string::npos) << name << " lost the tool list:\n" << prompt;
    EXPECT_NE(prompt.find("<tool_response>\n{\"temp\": 21}\n</tool_response>"), std::string::npos) << name;
    const std::size_t call_at = prompt.find("<tool_call>\n{\"name\": \"get_weather\"");
    ASSERT_NE(call_at, std::string::npos) << name << " lost the history call:\n" << prompt;
    const std::string call_text = prompt.substr(call_at, prompt.find("</tool_call>", call_at) + 12 - call_at);
    expect_same_calls(rpu::parse_tool_calls(format, call_text, test_random()), calls);
  }
  EXPECT_GE(generic, 4u);
}

TEST(ToolCallsRender, MalformedHistoryIsAnRpuError) {
  const ordered_json bad_call = ordered_json::parse(R"([{"role": "assistant", "content": "", "tool_calls": [{"id": "x"}]}])");
  EXPECT_NE(error_of([&] { rpu::rewrite_tool_history_as_text(bad_call); }), "");
  EXPECT_NE(error_of([&] { rpu::rewrite_tool_history_as_text(ordered_json::parse(R"([3])")); }), "");
  EXPECT_NE(error_of([&] { rpu::inject_tool_instructions(ordered_json::parse(R"({"role": "user"})"), kTools, {}); }), "");
}

// Model output is arbitrary: no input may throw, and an output cut anywhere inside a call (a
// stream stopped by max_tokens) is content, never a half call.
TEST(ToolCallsParse, NeverThrowsAndTruncatedCallsStayContent) {
  const std::vector<std::pair<ToolCallFormat, std::string>> complete = {
      {ToolCallFormat::kHermes, "Hi <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, {\"b\": \"}]\\\"\"}]}}\n</tool_call>"},
      {ToolCallFormat::kLlama3Json, "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": \"x}\"}}"},
      {ToolCallFormat::kMistral, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": \"]\"}, \"id\": \"abcDEF123\"}]"},
  };
  for (const auto& [format, text] : complete) {
    EXPECT_EQ(parse(format, text).tool_calls.size(), 1u) << text;
    // Hermes accepts a block whose closing tag a stop string removed, so its cuts start earlier.
    const std::size_t complete_from = format == ToolCallFormat::kHermes ? text.find("}}") + 2 : text.size();
    for (std::size_t cut = 0; cut < complete_from; ++cut) {
      const std::string prefix = text.substr(0, cut);
      rpu::ParsedToolCalls parsed;
      ASSERT_NO_THROW(parsed = parse(format, prefix)) << prefix;
      EXPECT_TRUE(parsed.tool_calls.empty()) << prefix;
      EXPECT_EQ(parsed.content, prefix);
    }
  }
  rpu::Rng rng(5);
  const std::string alphabet = "{}[]\":,; \n\\abnamesrgutpl<>/_|TOOLCALS\xc3\xa9\xff";
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    const std::size_t length = rng.next() % 60;
    for (std::size_t j = 0; j < length; ++j) text += alphabet[rng.next() % alphabet.size()];
    for (const auto format : {ToolCallFormat::kHermes, ToolCallFormat::kLlama3Json, ToolCallFormat::kMistral})
      ASSERT_NO_THROW(parse(format, text)) << text;
  }
}

}  // namespace
