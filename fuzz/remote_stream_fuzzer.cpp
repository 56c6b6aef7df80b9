// libFuzzer target: the decoder of an upstream's Server-Sent Events (src/pipeline/remote_stream.cpp),
// which reads whatever an OpenAI-compatible upstream sends the gateway. Any bytes, split
// anywhere, must become events or an error finish: never a crash, a hang, or a choice that ends
// without its last event. The first byte picks the choices (1-4) and whether they echo a prompt
// (a token prompt of 0-3 entries or a text prompt of 0-63 bytes), the second how the rest is split.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "pipeline/remote_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int choices = 1 + (data[0] & 3);
  const int step = 1 + data[1];
  std::vector<int> finishes(static_cast<size_t>(choices), 0);
  rpu::StreamDecoder decoder(choices, [&](const rpu::ChatEvent& e) {
    if (e.index < 0 || e.index >= choices) throw std::logic_error("event for a choice that does not exist");
    if (!e.finish_reason.empty()) ++finishes[static_cast<size_t>(e.index)];
  });
  if (data[0] & 4) {
    rpu::StreamDecoder::EchoedPrompt echo;
    if (data[0] & 8) echo.tokens = (data[0] >> 4) & 3;
    if (!(data[0] & 8)) echo.bytes = data[0] >> 2;
    decoder.expect_echoes(std::vector<rpu::StreamDecoder::EchoedPrompt>(static_cast<size_t>(choices), echo));
  }
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  bool fed = true;
  for (size_t at = 0; fed && at < body.size(); at += static_cast<size_t>(step)) fed = decoder.feed(body.substr(at, step));
  decoder.finish(fed ? "" : "too long");
  for (int n : finishes) {
    if (n != 1) throw std::logic_error("a choice did not end exactly once");
  }
  return 0;
}
