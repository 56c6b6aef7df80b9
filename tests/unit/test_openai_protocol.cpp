// The OpenAI wire format: request validation (status, param named, defaults) and the shape of
// every response object and stream chunk, field by field as the API reference documents them.
#include <gtest/gtest.h>

#include <cstring>

#include "server/openai_protocol.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

TokenProbability prob(int32_t id, const std::string& bytes, float logprob) {
  TokenProbability p;
  p.token = id;
  p.bytes = bytes;
  p.logprob = logprob;
  return p;
}

TokenLogprob logprob(TokenProbability chosen, std::vector<TokenProbability> top) {
  TokenLogprob t;
  t.chosen = std::move(chosen);
  t.top = std::move(top);
  return t;
}

// The ApiError a body raises (status and param), or status 0 when it parses.
std::pair<int, std::string> chat_error(const std::string& body) {
  try {
    parse_chat_request(body);
  } catch (const ApiError& e) {
    return {e.status, e.param};
  }
  return {0, ""};
}

std::string chat_with(const std::string& extra) {
  return R"({"model": "m", "messages": [{"role": "user", "content": "hi"}])" + (extra.empty() ? "" : ", " + extra) + "}";
}

TEST(OpenAIProtocolTest, ChatDefaultsAreOpenAIs) {
  const ChatRequest r = parse_chat_request(chat_with(""));
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.max_tokens, -1);
  EXPECT_EQ(r.n, 1);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_FALSE(r.has_seed);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.logprobs);
  const ChatRequest s = parse_chat_request(chat_with(
      R"("max_completion_tokens": 7, "seed": 3.0, "stop": "x", "top_k": 5, "stream": true, "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 2)"));
  EXPECT_EQ(s.max_tokens, 7);
  EXPECT_TRUE(s.has_seed);
  EXPECT_EQ(s.sampling.seed, 3u);
  EXPECT_EQ(s.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(s.sampling.top_k, 5);
  EXPECT_TRUE(s.include_usage);
  EXPECT_EQ(s.top_logprobs, 2);
}

TEST(OpenAIProtocolTest, ChatValidationNamesTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"model": "m"})", "messages"},
      {R"({"messages": [{"role": "user", "content": "hi"}]})", "model"},
      {chat_with(R"("temperature": "hot")"), "temperature"},
      {chat_with(R"("temperature": 2.5)"), "temperature"},
      {chat_with(R"("top_p": -0.1)"), "top_p"},
      {chat_with(R"("max_tokens": 1e999)"), "max_tokens"},
      {chat_with(R"("logit_bias": {"x": 1})"), "logit_bias"},
      {chat_with(R"("logit_bias": {"5": -101})"), "logit_bias"},
      {chat_with(R"("logit_bias": [1])"), "logit_bias"},
      {chat_with(R"("chat_template_kwargs": {"messages": []})"), "chat_template_kwargs"},
      {chat_with(R"("chat_template_kwargs": {"bos_token": "x"})"), "chat_template_kwargs"},
      {chat_with(R"("stop": [""," ", 3])"), "stop"},
      {R"({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]})", "messages[0].role"},
      {R"({"model": "m", "messages": [{"role": "user", "content": 42}]})", "messages[0].content"},
      {R"({"model": "m", "messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})", "messages[0].content[0]"},
      {R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]})", "messages[0].content[0]"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": [1]}]})", "messages[1].content[0]"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e99999})", "max_tokens"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": -1e400}]})", "messages[1].content"},
      {chat_with(R"("max_tokens": 0)"), "max_tokens"},
      {chat_with(R"("max_tokens": 2.5)"), "max_tokens"},
      {chat_with(R"("n": 17)"), "n"},
      {chat_with(R"("stop": ["a", "b", "c", "d", "e"])"), "stop"},
      {chat_with(R"("stop": 3)"), "stop"},
      {chat_with(R"("top_logprobs": 2)"), "top_logprobs"},
      {chat_with(R"("logprobs": true, "top_logprobs": 21)"), "top_logprobs"},
      {chat_with(R"("presence_penalty": 3)"), "presence_penalty"},
      {chat_with(R"("stream_options": {"include_usage": true})"), "stream_options"},
      {chat_with(R"("response_format": {"type": "xml"})"), "response_format"},
      {chat_with(R"("response_format": {"type": "json_schema", "json_schema": {"name": "bad name!"}})"), "response_format"},
      {chat_with(R"("tools": [{"type": "function", "function": {}}])"), "tools[0]"},
      // Found by fuzz_openai_request: a tool whose "type" is an object threw from json::value().
      {chat_with(R"("tools": [{"type": {"name": "get_weather"}}], "tool_choice": "required")"), "tools[0]"},
      {chat_with(R"("tool_choice": "required")"), "tool_choice"},
      {chat_with(R"("tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}})"), "tool_choice"},
      {R"({"model": "m", "messages": []})", "messages"},
      {R"({"model": "m", "messages": [{"content": "no role"}]})", "messages[0]"},
      {chat_with(R"("copy_fields": "order_id")"), "copy_fields"},
      {chat_with(R"("copy_fields": {"order_id": "A-#"})"), "copy_fields"},
      {chat_with(R"("copy_fields": ["a", "a"])"), "copy_fields"},
      {chat_with(R"("copy_fields": {"a": {"from": "system"}})"), "copy_fields"},
      {chat_with(R"("calculator": "yes")"), "calculator"},
      {chat_with(R"("calculator": 1)"), "calculator"},
      {chat_with(R"("calculator": {"decimals": 7})"), "calculator"},
      {chat_with(R"("calculator": {"decimals": -1})"), "calculator"},
      {chat_with(R"("calculator": {"places": 2})"), "calculator"},
      {chat_with(R"("calculator": {"decimals": 2, "round": "up"})"), "calculator"},
      {chat_with(R"("reasoning_format": "hidden")"), "reasoning_format"},
      {chat_with(R"("reasoning_format": false)"), "reasoning_format"},
  };
  for (const auto& [body, param] : cases) {
    const auto [status, got] = chat_error(body);
    EXPECT_EQ(status, 400) << body;
    EXPECT_EQ(got, param) << body;
  }
  EXPECT_EQ(chat_error("{\"model\": ").first, 400);  // malformed JSON
  // Deep nesting is refused before parsing (it would otherwise exhaust the stack).
  EXPECT_EQ(chat_error("{\"model\": \"m\", \"messages\": " + std::string(100000, '[') + std::string(100000, ']') + "}").first, 400);
  EXPECT_EQ(chat_error(chat_with("\"user\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"")).first, 0);  // brackets in strings are text
  EXPECT_EQ(chat_error("[1]").first, 400);            // not an object
}

TEST(OpenAIProtocolTest, JsonErrorsSayWhereAndHideTheLibrary) {
  try {
    parse_chat_request(chat_with(R"("max_tokens": 1e999)"));
    FAIL() << "1e999 was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("max_tokens"), std::string::npos) << e.what();
  }
  try {
    parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": tru}]})");
    FAIL() << "a misspelled literal was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param, "messages[1].content");
    EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
  }
}

TEST(OpenAIProtocolTest, SamplingFieldsOpenAIAccepts) {
  const ChatRequest greedy = parse_chat_request(chat_with(R"("top_p": 0, "temperature": 1.2)"));
  EXPECT_EQ(greedy.sampling.temperature, 0.0f);  // a nucleus of probability 0 is the top token
  EXPECT_EQ(greedy.sampling.top_p, 1.0f);
  EXPECT_TRUE(parse_chat_request(chat_with(R"("stop": "")")).stop.empty());
  EXPECT_TRUE(parse_chat_request(chat_with(R"("stop": [""])")).stop.empty());
  EXPECT_EQ(parse_chat_request(chat_with(R"("stop": ["", "x"])")).stop, std::vector<std::string>{"x"});
  const ChatRequest biased = parse_chat_request(chat_with(R"("logit_bias": {"12": -100, "7": 2.5})"));
  ASSERT_EQ(biased.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(biased.sampling.logit_bias[0], (std::pair<int32_t, float>{12, -100.0f}));
  EXPECT_EQ(biased.sampling.logit_bias[1], (std::pair<int32_t, float>{7, 2.5f}));
  // Roles and content shapes agents send: developer, assistant tool calls without content,
  // structured tool results, text parts.
  EXPECT_NO_THROW(parse_chat_request(R"({"model": "m", "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": {"ok": true}}]})"));
  EXPECT_NO_THROW(parse_chat_request(chat_with(R"("chat_template_kwargs": {"enable_thinking": false})")));
}

// A client whose numbers are floats (Python's 8.0) sends whole numbers as 8.0: every integer
// field of the request and of its extensions takes them, and refuses 2.5.
TEST(OpenAIProtocolTest, IntegerFieldsTakeWholeNumbersWrittenAsFloats) {
  const ChatRequest r = parse_chat_request(chat_with(R"("max_tokens": 16.0, "n": 2.0, "calculator": {"decimals": 2.0})"));
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.calculator_decimals, 2);
  try {
    parse_chat_request(chat_with(R"("calculator": {"decimals": 2.5})"));
    FAIL() << "decimals 2.5 was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param, "calculator");
  }
}

TEST(OpenAIProtocolTest, CompletionPromptsAndLegacyFields) {
  const CompletionRequest r = parse_completion_request(R"({"model": "m", "prompt": ["a", [1, 2]], "echo": true, "logprobs": 2})");
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[0].text, "a");
  EXPECT_TRUE(r.prompts[1].is_tokens);
  EXPECT_EQ(r.prompts[1].tokens, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(r.max_tokens, 16);  // OpenAI's completions default
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.logprobs, 2);
  const CompletionRequest ids = parse_completion_request(R"({"model": "m", "prompt": [5, 6, 7]})");
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_EQ(ids.prompts[0].tokens.size(), 3u);
  for (const char* bad : {R"({"model": "m", "prompt": []})", R"({"model": "m", "prompt": "x", "suffix": "y"})",
                          R"({"model": "m", "prompt": "x", "logprobs": 21})", R"({"model": "m", "prompt": "x", "best_of": 3})",
                          R"({"model": "m", "prompt": [[-1]]})", R"({"model": "m", "prompt": {}})",
                          R"({"model": "m", "prompt": "x", "max_tokens": 0})"}) {
    EXPECT_THROW(parse_completion_request(bad), ApiError) << bad;
  }
  // lm-eval-harness's scoring shape: up to 20 alternatives (llama-server and vLLM), and no new
  // tokens with echo.
  const CompletionRequest scored =
      parse_completion_request(R"({"model": "m", "prompt": "x", "echo": true, "logprobs": 10, "max_tokens": 0})");
  EXPECT_EQ(scored.logprobs, 10);
  EXPECT_EQ(scored.max_tokens, 0);
  try {
    parse_completion_request(R"({"model": "m", "prompt": "x", "max_tokens": 0})");
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param, "max_tokens");
  }
}

TEST(OpenAIProtocolTest, TokenizeAndDetokenizeAsLlamaServer) {
  const TokenizeRequest t = parse_tokenize_request(R"({"content": "hi <s>"})");
  EXPECT_EQ(t.content, "hi <s>");
  EXPECT_FALSE(t.add_special);  // llama-server's defaults
  EXPECT_TRUE(t.parse_special);
  EXPECT_FALSE(t.with_pieces);
  const TokenizeRequest all =
      parse_tokenize_request(R"({"model": "m", "content": "", "add_special": true, "parse_special": false, "with_pieces": true})");
  EXPECT_EQ(all.model, "m");
  EXPECT_TRUE(all.add_special && !all.parse_special && all.with_pieces);
  EXPECT_EQ(parse_detokenize_request(R"({"tokens": [1, 2.0, 3]})").tokens, (std::vector<int32_t>{1, 2, 3}));
  const std::pair<const char*, const char*> bad[] = {
      {R"({})", "content"}, {R"({"content": 1})", "content"}, {R"({"content": "a", "with_pieces": 1})", "with_pieces"}};
  for (const auto& [body, param] : bad) {
    try {
      parse_tokenize_request(body);
      ADD_FAILURE() << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.param, param) << body;
    }
  }
  for (const char* body : {R"({})", R"({"tokens": "1"})", R"({"tokens": [-1]})", R"({"tokens": [1.5]})",
                           R"({"tokens": [4294967296]})"}) {
    try {
      parse_detokenize_request(body);
      ADD_FAILURE() << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.param, "tokens") << body;
    }
  }
}

TEST(OpenAIProtocolTest, EmbeddingInputs) {
  const EmbeddingRequest r = parse_embedding_request(R"({"model": "m", "input": ["a", "b"], "encoding_format": "base64"})");
  EXPECT_EQ(r.inputs.size(), 2u);
  EXPECT_TRUE(r.base64);
  for (const char* bad : {R"({"model": "m", "input": []})", R"({"model": "m", "input": [""]})",
                          R"({"model": "m", "input": "a", "encoding_format": "hex"})", R"({"model": "m"})"}) {
    EXPECT_THROW(parse_embedding_request(bad), ApiError) << bad;
  }
}

// The rerank request as Jina / Cohere / llama-server clients send it; each mistake names its field.
TEST(OpenAIProtocolTest, RerankRequestsAndTheirMistakes) {
  const RerankRequest r =
      parse_rerank_request(R"({"model": "m", "query": "q", "documents": ["a", "b"], "top_n": 1, "return_documents": true})");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.query, "q");
  EXPECT_EQ(r.documents, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.top_n, 1);
  EXPECT_TRUE(r.return_documents);
  const RerankRequest defaults = parse_rerank_request(R"({"query": "", "documents": [""]})");
  EXPECT_EQ(defaults.model, "");
  EXPECT_EQ(defaults.top_n, 0);
  EXPECT_FALSE(defaults.return_documents);
  auto param_of = [](const std::string& body) {
    try {
      parse_rerank_request(body);
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400) << body;
      return e.param;
    }
    return std::string("accepted");
  };
  EXPECT_EQ(param_of(R"({"documents": ["a"]})"), "query");
  EXPECT_EQ(param_of(R"({"query": ["q"], "documents": ["a"]})"), "query");
  EXPECT_EQ(param_of(R"({"query": "q"})"), "documents");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": []})"), "documents");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": "a"})"), "documents");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": ["a", null]})"), "documents");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": [{"title": "a"}]})"), "documents");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": [{"text": 3}]})"), "documents");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": [{"text": "a"}, ["b"]]})"), "documents");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": ["a"], "top_n": 0})"), "top_n");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": ["a"], "top_n": 1.5})"), "top_n");
  EXPECT_EQ(param_of(R"({"query": "q", "documents": ["a"], "return_documents": 1})"), "return_documents");
  EXPECT_EQ(param_of(R"({"model": 3, "query": "q", "documents": ["a"]})"), "model");
  json many = {{"query", "q"}, {"documents", std::vector<std::string>(4097, "d")}};
  EXPECT_EQ(param_of(many.dump()), "documents");
}

// Cohere's document objects are scored by their text and kept whole for return_documents,
// mixed with plain strings; an all-string request keeps nothing extra.
TEST(OpenAIProtocolTest, RerankDocumentObjectsAreScoredByTheirTextAndEchoedWhole) {
  RerankRequest r = parse_rerank_request(
      R"({"query": "q", "documents": [{"text": "a", "title": "A"}, "b", {"text": "c"}], "return_documents": true})");
  EXPECT_EQ(r.documents, (std::vector<std::string>{"a", "b", "c"}));
  const json body = rerank_list(r, RerankResult{{0.1, 0.3, 0.2}, 9});
  ASSERT_EQ(body["results"].size(), 3u);
  EXPECT_EQ(body["results"][0]["index"], 1);
  EXPECT_EQ(body["results"][0]["document"], json({{"text", "b"}}));
  EXPECT_EQ(body["results"][1]["index"], 2);
  EXPECT_EQ(body["results"][1]["document"], json({{"text", "c"}}));
  EXPECT_EQ(body["results"][2]["index"], 0);
  EXPECT_EQ(body["results"][2]["document"], json({{"text", "a"}, {"title", "A"}}));
  const RerankRequest strings = parse_rerank_request(R"({"query": "q", "documents": ["a", "b"]})");
  EXPECT_TRUE(strings.documents_as_sent.empty());
}

// Results best first (ties in document order), cut to top_n, documents only when asked for.
TEST(OpenAIProtocolTest, RerankListIsBestFirstWithUsage) {
  RerankRequest r;
  r.model = "m";
  r.documents = {"zero", "one", "two", "three"};
  const RerankResult result{{0.5, -1.0, 2.0, 0.5}, 17};
  json body = rerank_list(r, result);
  std::vector<std::string> keys;
  for (auto it = body.begin(); it != body.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"model", "object", "results", "usage"}));
  EXPECT_EQ(body["object"], "list");
  EXPECT_EQ(body["usage"], json({{"prompt_tokens", 17}, {"total_tokens", 17}}));
  std::vector<int> order;
  for (const json& item : body["results"]) order.push_back(item["index"].get<int>());
  EXPECT_EQ(order, (std::vector<int>{2, 0, 3, 1}));
  EXPECT_DOUBLE_EQ(body["results"][0]["relevance_score"].get<double>(), 2.0);
  EXPECT_FALSE(body["results"][0].contains("document"));
  r.top_n = 2;
  r.return_documents = true;
  body = rerank_list(r, result);
  ASSERT_EQ(body["results"].size(), 2u);
  EXPECT_EQ(body["results"][1]["index"], 0);
  EXPECT_EQ(body["results"][1]["document"], json({{"text", "zero"}}));
}

TEST(OpenAIProtocolTest, ErrorBodyHasTheFourFields) {
  const json body = error_body(ApiError(404, "no such model", "invalid_request_error", "model", "model_not_found"));
  EXPECT_EQ(body.dump(), R"({"error":{"message":"no such model","type":"invalid_request_error","param":"model","code":"model_not_found"}})");
  EXPECT_EQ(error_body(ApiError(400, "x")).dump(), R"({"error":{"message":"x","type":"invalid_request_error","param":null,"code":null}})");
}

TEST(OpenAIProtocolTest, ChatCompletionAndChunksHaveOpenAIShapes) {
  const TokenLogprob lp = logprob(prob(65, "A", -0.5f), {prob(65, "A", -0.5f), prob(66, "\xe2\x96", -1.5f)});
  ChatChoice choice{0, std::string("A"), nullptr, std::vector<TokenLogprob>{lp}, "stop"};
  const json c = chat_completion("chatcmpl-1", 7, "m", {choice}, Usage{3, 1, 4, 2});
  std::vector<std::string> keys;
  for (auto it = c.begin(); it != c.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}));
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"]["role"], "assistant");
  EXPECT_FALSE(c["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(c["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  const json& top = c["choices"][0]["logprobs"]["content"][0]["top_logprobs"];
  EXPECT_EQ(top[1]["bytes"], json::array({0xe2, 0x96}));  // exact bytes of a partial character
  // Serialisation replaces the invalid UTF-8 in "token" instead of throwing.
  const std::string text = to_json_text(c);
  EXPECT_TRUE(json::accept(text));  // valid JSON

  const json role = chat_chunk_role("id", 7, "m", 0, true);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(role.contains("usage") && role["usage"].is_null());
  const json finish = chat_chunk_finish("id", 7, "m", 0, "length", false);
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
  EXPECT_FALSE(finish.contains("usage"));
  const json usage = chat_chunk_usage("id", 7, "m", Usage{3, 1, 4, 0});
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"]["total_tokens"], 4);
  const json calls = chat_chunk_tool_calls("id", 7, "m", 0,
                                           json::parse(R"([{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}])"), false);
  EXPECT_EQ(calls["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
  EXPECT_EQ(calls["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "f");
  // A thinking model's reasoning: reasoning_content beside the content, in the message and in
  // deltas (a delta carries only the channels it has text for).
  ChatChoice thought{0, std::string("5"), nullptr, std::nullopt, "stop", "2 + 3 = 5"};
  const json answered = chat_completion("chatcmpl-2", 7, "m", {thought}, Usage{3, 1, 4, 0});
  EXPECT_EQ(answered["choices"][0]["message"]["reasoning_content"], "2 + 3 = 5");
  EXPECT_FALSE(c["choices"][0]["message"].contains("reasoning_content"));
  const json thinking = chat_chunk_content("id", 7, "m", 0, "2 + 3", "", std::nullopt, false);
  EXPECT_EQ(thinking["choices"][0]["delta"], json({{"reasoning_content", "2 + 3"}}));
  const json both = chat_chunk_content("id", 7, "m", 0, " = 5", "5", std::nullopt, false);
  EXPECT_EQ(both["choices"][0]["delta"], json({{"reasoning_content", " = 5"}, {"content", "5"}}));
  EXPECT_EQ(chat_chunk_content("id", 7, "m", 0, "", "", std::nullopt, false)["choices"][0]["delta"], json({{"content", ""}}));
  EXPECT_EQ(sse_data(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(OpenAIProtocolTest, TextCompletionLegacyLogprobsAndEmbeddings) {
  const TokenLogprob a = logprob(prob(1, "He", -0.1f), {prob(1, "He", -0.1f), prob(2, "Ha", -2.0f)});
  const TokenLogprob b = logprob(prob(3, "llo", -0.2f), {});
  const json c = text_completion("cmpl-1", 7, "m", {CompletionChoice{0, "Hello", std::vector<TokenLogprob>{a, b}, "length"}},
                                 Usage{2, 2, 4, 0});
  EXPECT_EQ(c["object"], "text_completion");
  const json& l = c["choices"][0]["logprobs"];
  EXPECT_EQ(l["tokens"], json::array({"He", "llo"}));
  EXPECT_EQ(l["text_offset"], json::array({0, 2}));
  EXPECT_FLOAT_EQ(l["top_logprobs"][0]["Ha"].get<float>(), -2.0f);
  const std::vector<float> v = {1.0f, -0.5f, 3.25f};
  const json e = embeddings_list("m", {v}, true, 3);
  // base64 of the little-endian float32 bytes.
  const std::string b64 = e["data"][0]["embedding"].get<std::string>();
  EXPECT_EQ(b64.size(), 16u);
  const json f = embeddings_list("m", {v}, false, 3);
  EXPECT_EQ(f["data"][0]["embedding"], json(v));
  EXPECT_EQ(f["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(models_list({"m"})["data"][0]["owned_by"], "rpu");
}

}  // namespace
}  // namespace rpu
