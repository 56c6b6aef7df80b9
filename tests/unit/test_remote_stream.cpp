// The SSE decoder behind RemoteBackend: chunks split anywhere, tool-call deltas merged, the
// usage chunk's token count, and an upstream that never ends an event.
#include <gtest/gtest.h>

#include "pipeline/remote_stream.h"

namespace rpu {
namespace {

TEST(RemoteStream, DecodesSplitChunksToolCallsAndUsage) {
  std::vector<ChatEvent> events;
  StreamDecoder d(1, [&](const ChatEvent& e) { events.push_back(e); });
  const std::string body =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\r\n\r\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":"
      "{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},"
      "\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":9}}\n\n"
      "data: [DONE]\n\n";
  for (size_t i = 0; i < body.size(); i += 5) ASSERT_TRUE(d.feed(std::string_view(body).substr(i, 5)));
  d.finish("");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].text + events[1].text, "Hello");
  const ChatEvent& last = events[2];
  EXPECT_EQ(last.finish_reason, "tool_calls");
  EXPECT_EQ(last.tool_calls[0]["id"], "c1");
  EXPECT_EQ(last.tool_calls[0]["function"]["arguments"], "{\"a\":1}");
  EXPECT_EQ(last.prompt_tokens, 7);
  EXPECT_EQ(last.completion_tokens, 9);
}

// An upstream's reasoning_content deltas (vLLM, llama-server, rpu) arrive as the events'
// reasoning, apart from the content.
TEST(RemoteStream, ReasoningContentIsKeptApart) {
  std::vector<ChatEvent> events;
  StreamDecoder d(1, [&](const ChatEvent& e) { events.push_back(e); });
  const std::string body =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"2 + 3 = 5\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"5\"},\"finish_reason\":\"stop\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":9,"
      "\"completion_tokens_details\":{\"reasoning_tokens\":7}}}\n\n"
      "data: [DONE]\n\n";
  ASSERT_TRUE(d.feed(body));
  d.finish("");
  std::string reasoning, content;
  for (const ChatEvent& e : events) {
    reasoning += e.reasoning;
    content += e.text;
  }
  EXPECT_EQ(reasoning, "2 + 3 = 5");
  EXPECT_EQ(content, "5");
  EXPECT_EQ(events.back().finish_reason, "stop");
  EXPECT_EQ(events.back().reasoning_tokens, 7);
}

// An echo request's choices start with the prompt's log-probability entries, which are not
// completion tokens: llama-server's stream (the prompt and the first token in one chunk,
// per-chunk text offsets) and vLLM's (the prompt in a chunk of its own) both count only
// the generated tokens, with no usage chunk to correct them; a token prompt counts its entries.
TEST(RemoteStream, EchoedPromptEntriesAreNotCompletionTokens) {
  auto entries = [](std::initializer_list<std::pair<const char*, int>> tokens) {
    std::string t = "[", lp = "[", off = "[";
    bool first = true;
    for (auto [token, offset] : tokens) {
      if (!first) t += ",", lp += ",", off += ",";
      t += "\"" + std::string(token) + "\"";
      lp += first ? "null" : "-0.5";
      off += std::to_string(offset);
      first = false;
    }
    return "{\"tokens\":" + t + "],\"token_logprobs\":" + lp + "],\"text_offset\":" + off + "]}";
  };
  auto chunk = [](int index, const std::string& text, const std::string& logprobs, const char* finish = nullptr) {
    return "data: {\"choices\":[{\"index\":" + std::to_string(index) + ",\"text\":\"" + text + "\",\"logprobs\":" +
           logprobs + ",\"finish_reason\":" + (finish ? "\"" + std::string(finish) + "\"" : "null") + "}]}\n\n";
  };
  // Prompt "ab" (BOS, "a", "b"), two choices; llama-server style: prompt + first token, then one more.
  std::string llama_body;
  for (int i = 0; i < 2; ++i) {
    llama_body += chunk(i, "abc", entries({{"<s>", 0}, {"a", 0}, {"b", 1}, {"c", 2}}));
    llama_body += chunk(i, "d", entries({{"d", 0}}), "length");
  }
  // vLLM style: the prompt alone, then each generated token at its cumulative offset.
  const std::string vllm_body = chunk(0, "ab", entries({{"a", 0}, {"b", 1}})) + chunk(0, "c", entries({{"c", 2}})) +
                                chunk(0, "d", entries({{"d", 3}}), "length");
  for (const auto& [body, choices] : {std::pair{llama_body, 2}, std::pair{vllm_body, 1}}) {
    std::vector<ChatEvent> events;
    StreamDecoder d(choices, [&](const ChatEvent& e) { events.push_back(e); });
    d.expect_echoes(std::vector<StreamDecoder::EchoedPrompt>(static_cast<size_t>(choices), {-1, 2}));
    ASSERT_TRUE(d.feed(body + "data: [DONE]\n\n"));
    d.finish("");
    int finished = 0;
    for (const ChatEvent& e : events) {
      if (e.finish_reason.empty()) continue;
      ++finished;
      EXPECT_EQ(e.completion_tokens, 2) << body;
    }
    EXPECT_EQ(finished, choices);
  }
  // A token prompt [1, 2, 3] echoed as three entries, then two generated tokens.
  std::vector<ChatEvent> events;
  StreamDecoder d(1, [&](const ChatEvent& e) { events.push_back(e); });
  d.expect_echoes({{3, 0}});
  ASSERT_TRUE(d.feed(chunk(0, "xyz", entries({{"x", 0}, {"y", 1}})) + chunk(0, "w", entries({{"z", 0}, {"w", 1}})) +
                     chunk(0, "v", entries({{"v", 0}}), "stop") + "data: [DONE]\n\n"));
  d.finish("");
  EXPECT_EQ(events.back().completion_tokens, 2);
}

// An empty finish_reason is none (found by the fuzzer): before, the choice counted as finished
// and its last event had no reason, so a caller waiting for one never saw it end.
TEST(RemoteStream, AnEmptyFinishReasonDoesNotEndTheChoice) {
  for (const bool more : {true, false}) {
    std::vector<ChatEvent> events;
    StreamDecoder d(1, [&](const ChatEvent& e) { events.push_back(e); });
    std::string body = R"(data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":""}]})" "\n\n";
    if (more) body += R"(data: {"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}]})" "\n\n";
    ASSERT_TRUE(d.feed(body));
    d.finish("");
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().finish_reason, more ? "stop" : "error");
    std::string text;
    for (const ChatEvent& e : events) text += e.text;
    EXPECT_EQ(text, more ? "ab" : "a");
  }
}

TEST(RemoteStream, AnEndlessEventIsRefusedAndTheChoiceEndsWithAnError) {
  std::vector<ChatEvent> events;
  StreamDecoder d(2, [&](const ChatEvent& e) { events.push_back(e); });
  const std::string junk(1 << 20, 'x');
  bool ok = true;
  for (size_t sent = 0; ok && sent <= StreamDecoder::kMaxEventBytes; sent += junk.size()) ok = d.feed(junk);
  EXPECT_FALSE(ok);
  d.finish("");
  ASSERT_EQ(events.size(), 2u);
  for (const ChatEvent& e : events) {
    EXPECT_EQ(e.finish_reason, "error");
    EXPECT_NE(e.error.find("larger than"), std::string::npos) << e.error;
  }
}

// An upstream is not trusted: fields of the wrong type end the call with an error, never an
// exception out of the decoder (it runs inside the HTTP client's callback).
TEST(RemoteStream, FieldsOfTheWrongTypeEndTheChoiceWithAnError) {
  for (const char* chunk : {R"({"choices":[{"index":"zero","delta":{"content":"a"}}]})",
                            R"({"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":7,"logprob":-1}]}}]})",
                            R"({"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"bytes":["x"]}]}}]})",
                            R"({"usage":{"prompt_tokens":"many"},"choices":[]})", R"({"error":{"message":5}})",
                            // numbers nlohmann's get<int> cannot hold (undefined behaviour), or would truncate
                            R"({"choices":[{"index":1e10,"delta":{"content":"a"}}]})",
                            R"({"choices":[{"index":0.5,"delta":{"content":"a"}}]})",
                            R"({"choices":[],"usage":{"completion_tokens":-2147483648}})",
                            R"({"choices":[],"usage":{"prompt_tokens_details":{"cached_tokens":1e300}}})",
                            R"({"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"bytes":[300]}]}}]})",
                            // a tool call index that would make a billion empty calls
                            R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1000000000,"id":"c"}]}}]})"}) {
    std::vector<ChatEvent> events;
    StreamDecoder d(1, [&](const ChatEvent& e) { events.push_back(e); });
    EXPECT_NO_THROW(d.feed(std::string("data: ") + chunk + "\n\n")) << chunk;
    d.finish("");
    ASSERT_FALSE(events.empty()) << chunk;
    EXPECT_EQ(events.back().finish_reason, "error") << chunk;
    EXPECT_NE(events.back().error.find("upstream sent a chunk of the wrong shape"), std::string::npos)
        << chunk << ": " << events.back().error;
  }
}

}  // namespace
}  // namespace rpu
