// libFuzzer target for the GBNF parser (src/decode/grammar_parse.cpp) and the byte-level
// matcher. Input: grammar text, optionally followed by a NUL byte and bytes to feed the
// matcher. Any text must either parse or throw rpu::Error (GrammarTooLarge past the default
// limits); a parsed grammar's matcher must take any bytes without crashing and agree with
// itself (the accepted prefix length equals what byte-by-byte acceptance takes). A grammar too
// ambiguous for the bytes fed may refuse them with GrammarTooLarge, the same way both times.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
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
  std::unique_ptr<rpu::GrammarMatcher> matcher;
  try {
    matcher = std::make_unique<rpu::GrammarMatcher>(grammar, nullptr);
  } catch (const rpu::GrammarTooLarge&) {
    return 0;  // even the start state is too ambiguous
  }
  const std::string_view feed = sample.substr(0, 512);
  // The length each way takes before it stops: the first refused byte, or the first byte the
  // grammar was too ambiguous to decide (then the other way must stop there too).
  size_t prefix = 0;
  bool prefix_refused = false;
  try {
    prefix = matcher->accepted_prefix_length(feed);
  } catch (const rpu::GrammarTooLarge&) {
    prefix_refused = true;
  }
  size_t taken = 0;
  bool taken_refused = false;
  for (char c : feed) {
    try {
      if (!matcher->accept_bytes(std::string_view(&c, 1))) break;
    } catch (const rpu::GrammarTooLarge&) {
      taken_refused = true;
      break;
    }
    ++taken;
  }
  if (prefix_refused != taken_refused) {
    std::fprintf(stderr, "accepted_prefix_length %s too ambiguous, accept_bytes %s\n", prefix_refused ? "found it" : "did not find it",
                 taken_refused ? "did" : "did not");
    std::abort();
  }
  if (!prefix_refused && taken != prefix) {
    std::fprintf(stderr, "accepted_prefix_length %zu but accept_bytes took %zu bytes\n", prefix, taken);
    std::abort();
  }
  (void)matcher->is_complete();
  (void)matcher->can_continue();
  return 0;
}
