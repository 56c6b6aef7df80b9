// libFuzzer target for the tokenizer.json loader (Tokenizer::from_hf_json): the input is a
// tokenizer.json, optionally followed by a NUL byte and a tokenizer_config.json. It must load or
// throw rpu::Error; a loaded tokenizer must encode a few fixed texts (with and without special
// tokens) to ids inside its vocabulary, and decode them, without crashing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

volatile std::size_t g_sink = 0;

const char* const kTexts[] = {"Hello, world! I'M here  123456",
                              "<s>user\n日本語 éàü 🙂\t<|im_start|>[CLS]x[SEP]</s>",
                              "\xff\xfe invalid \xc3 utf8 \xe2\x82"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string tokenizer_json = input.substr(0, nul);
  const std::string config_json = nul == std::string::npos ? "" : input.substr(nul + 1);
  try {
    const auto tok = rpu::Tokenizer::from_hf_json(tokenizer_json, config_json, "fuzz/tokenizer.json");
    for (const char* text : kTexts) {
      for (int flags = 0; flags < 4; ++flags) {
        const auto ids = tok->encode(text, flags & 1, flags & 2);
        for (int32_t id : ids) {
          if (id < 0 || id >= tok->vocab().size()) __builtin_trap();  // an id the model cannot embed
        }
        g_sink = g_sink + tok->decode(ids).size();
      }
    }
  } catch (const rpu::Error&) {
  }
  return 0;
}
