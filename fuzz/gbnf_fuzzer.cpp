// libFuzzer target for the GBNF parser (src/decode/grammar_parse.cpp) and the byte-level
// matcher. Input: grammar text, optionally followed by a NUL byte and bytes to feed the
// matcher. Any text must either parse or throw rpu::Error (GrammarTooLarge past the default
// limits); a parsed grammar's matcher must take any bytes without crashing and agree with
// itself (the accepted prefix length equals what byte-by-byte acceptance takes).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.h"
#include "decode/grammar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  const std::string_view sample = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  std::shared_ptr<const rpu::Grammar> grammar;
  try {
    grammar = rpu::Grammar::parse(text);
  } catch (const rpu::Error&) {
    return 0;
  }
  rpu::GrammarMatcher matcher(grammar, nullptr);
  const std::string_view feed = sample.substr(0, 512);
  const size_t prefix = matcher.accepted_prefix_length(feed);
  size_t taken = 0;
  for (char c : feed) {
    if (!matcher.accept_bytes(std::string_view(&c, 1))) break;
    ++taken;
  }
  if (taken != prefix) {
    std::fprintf(stderr, "accepted_prefix_length %zu but accept_bytes took %zu bytes\n", prefix, taken);
    std::abort();
  }
  (void)matcher.is_complete();
  (void)matcher.can_continue();
  return 0;
}
