# Fuzz target `tokenizer`: the tokenizers and tokenizer.json parsing (fuzz/tokenizer_fuzzer.cpp).
# Sourced by fuzz/run_fuzz.sh.
sources=(src/core/dtype.cpp src/core/mapped_file.cpp src/core/json_text.cpp src/io/gguf_reader.cpp src/io/gguf_value.cpp
         src/io/gguf_writer.cpp src/tokenizer/tokenizer.cpp src/tokenizer/spm_tokenizer.cpp
         src/tokenizer/bpe_tokenizer.cpp src/tokenizer/wordpiece_tokenizer.cpp src/tokenizer/hf_tokenizer.cpp
         src/tokenizer/pretokenizer.cpp src/tokenizer/normalizer.cpp src/tokenizer/regex.cpp src/tokenizer/unicode.cpp)
libs=(-lfmt -lpcre2-8 -lutf8proc)

seeds() {  # first byte picks the tokenizer and flags (see fuzz/tokenizer_fuzzer.cpp)
  local i=0 text
  for text in "Hello, world! I'M here" $'tabs\tand\r\nnewlines  ' "日本語のテキスト 123456789" \
              "<|im_start|>user<|im_end|>" "éàü — “quotes” 🙂👍🏽" '{"model":{"type":"BPE"}}'; do
    for selector in 0 1 2 3 4 5 6 7 24; do
      { u8 "$selector"; printf '%s' "$text"; } >"$corpus/seed_$((i++))"
    done
  done
}
