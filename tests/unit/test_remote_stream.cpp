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
                            R"({"usage":{"prompt_tokens":"many"},"choices":[]})", R"({"error":{"message":5}})"}) {
    std::vector<ChatEvent> events;
    StreamDecoder d(1, [&](const ChatEvent& e) { events.push_back(e); });
    EXPECT_NO_THROW(d.feed(std::string("data: ") + chunk + "\n\n")) << chunk;
    d.finish("");
    ASSERT_FALSE(events.empty()) << chunk;
    EXPECT_EQ(events.back().finish_reason, "error") << chunk;
    EXPECT_NE(events.back().error.find("upstream"), std::string::npos) << events.back().error;
  }
}

}  // namespace
}  // namespace rpu
