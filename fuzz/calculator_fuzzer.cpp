// libFuzzer target for the arithmetic reader (src/decode/arithmetic.cpp) and the calculator
// (src/decode/calculator.cpp). Input: any text a model might write. The text is fed to a
// calculator scan byte by byte, as a model that follows the calculator's mask would write it:
// when a result is due, the due result is written first, and a byte the scan refuses (a digit
// glued to a written result, a wrong result) is dropped. Then every step the verifier reads in
// what was written, whose result the calculator wrote, must be right; and every step must lie
// within the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "decode/arithmetic.h"
#include "decode/calculator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), std::min<size_t>(size, 4096));
  rpu::CalculatorScan scan;
  std::string written;
  std::vector<size_t> result_ends;  // where each result the calculator wrote ends in `written`
  const auto write = [&](char ch) {
    if (!rpu::CalculatorMatcher::advance(scan, std::string_view(&ch, 1))) return;
    written.push_back(ch);
  };
  for (const char ch : input) {
    if (!scan.result.empty()) {
      const std::string due = scan.result.substr(scan.written);
      for (const char r : due) write(r);
      if (!scan.result.empty()) {
        std::fprintf(stderr, "the due result was refused: '%s'\n", due.c_str());
        std::abort();
      }
      result_ends.push_back(written.size());
    }
    write(ch);
  }
  for (const rpu::ArithmeticStep& step : rpu::find_arithmetic_steps(written)) {
    if (step.begin >= step.end || step.end > written.size()) {
      std::fprintf(stderr, "a step outside the text: [%zu, %zu) of %zu\n", step.begin, step.end, written.size());
      std::abort();
    }
    for (const size_t end : result_ends) {
      if (end == step.end && !step.correct) {
        std::fprintf(stderr, "the calculator wrote a wrong step: '%s'\n", step.text.c_str());
        std::abort();
      }
    }
  }
  return 0;
}
