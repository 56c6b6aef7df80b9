// libFuzzer target for OpenAI request parsing and validation (src/server/openai_request.cpp,
// json_body.cpp): the JSON bodies clients send to /v1/chat/completions, /v1/completions,
// /v1/embeddings and /v1/rerank, and llama-server's /tokenize and /detokenize. Any body must either parse into a request or throw ApiError with a 4xx
// status; any other exception, a crash or a sanitizer report is a bug.
//
// First input byte: which endpoint's parser (0 chat, 1 completions, 2 embeddings, 3 rerank, 4 tokenize,
// 5 detokenize). The rest is the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/openai_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 6) {
      case 0: {
        const rpu::ChatRequest r = rpu::parse_chat_request(body);
        if (r.messages.empty() || r.n < 1) std::abort();  // validation promised both
        break;
      }
      case 1: {
        const rpu::CompletionRequest r = rpu::parse_completion_request(body);
        if (r.prompts.empty()) std::abort();
        break;
      }
      case 2: {
        const rpu::EmbeddingRequest r = rpu::parse_embedding_request(body);
        if (r.inputs.empty()) std::abort();
        break;
      }
      case 3: {
        const rpu::RerankRequest r = rpu::parse_rerank_request(body);
        if (r.documents.empty() || r.top_n < 0) std::abort();
        break;
      }
      case 4: (void)rpu::parse_tokenize_request(body); break;
      default: {
        const rpu::DetokenizeRequest r = rpu::parse_detokenize_request(body);
        for (int32_t id : r.tokens) {
          if (id < 0) std::abort();  // validation promised token ids
        }
        break;
      }
    }
  } catch (const rpu::ApiError& e) {
    if (e.status < 400 || e.status >= 500) std::abort();  // a client's body is never the server's fault
  }
  return 0;
}
