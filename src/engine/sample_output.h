// The text of one generated sample as it may be released to a client: whole UTF-8 only,
// and never a piece that could turn out to be the start of a stop string (such text is held
// back until it either completes the stop string, which ends the sample, or diverges).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace rpu {

class SampleOutput {
 public:
  // at_text_start: the prompt was only BOS, so the output is the start of the text (an SPM
  // word-boundary space on its first token is dropped, as when decoding a whole text).
  SampleOutput(const Tokenizer& tokenizer, std::vector<std::string> stop, bool at_text_start = false);

  // Adds a generated token and appends the text that became releasable to `text`. Returns
  // true when a stop string completed: `text` then ends just before it, and the sample is done.
  bool push(int32_t token, std::string& text);
  // Everything still held back (an incomplete UTF-8 tail becomes U+FFFD): the sample ended.
  std::string finish();

 private:
  TextStream stream_;
  std::vector<std::string> stop_;
  std::string held_;  // complete text not yet released: a possible stop-string prefix
};

}  // namespace rpu
