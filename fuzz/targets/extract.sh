# Fuzz target `extract`: answer extraction from sampled text with a client's spec: last number,
# regex (PCRE2 under its budget), JSON path, choice letter, text (fuzz/extract_fuzzer.cpp).
# Sourced by fuzz/run_fuzz.sh.
sources=(src/reasoning/extract.cpp src/reasoning/extract_json.cpp src/reasoning/pattern.cpp src/decode/numbers.cpp
         src/core/json_text.cpp)
libs=(-lfmt -lpcre2-8)

seeds() {  # first byte: the kind (0 last_number, 1 regex, 2 json_path, 3 choice, 4 text; bits 3-4 the group)
  local i=0
  printf '\x00%s' $'So 12 + 30 = 42, and the answer is 1,234.50.' >"$corpus/seed_$((i++))"
  printf '\x09%s' $'answer: (\\d+)\nThe answer: 42 then answer: 7' >"$corpus/seed_$((i++))"
  printf '\x01%s' $'(a+)+$\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab' >"$corpus/seed_$((i++))"
  printf '\x02%s' $'$.items[-1]["id"]\nHere it is: ```json\n{"items": [{"id": 3}, {"id": "x"}]}\n```' >"$corpus/seed_$((i++))"
  printf '\x03%s' $'Looking at (A) and B), the correct option is **C**.\nD' >"$corpus/seed_$((i++))"
  printf '\x04%s' $'  The   Answer Is Paris.  ' >"$corpus/seed_$((i++))"
}
