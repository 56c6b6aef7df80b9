# Fuzz target `calculator`: the arithmetic reader and the calculator's byte-level scan
# (fuzz/calculator_fuzzer.cpp). Sourced by fuzz/run_fuzz.sh.
sources=(src/decode/arithmetic.cpp src/decode/numbers.cpp src/decode/calculator.cpp)
libs=(-lfmt)

seeds() {  # one model reply per file
  local i=0 text
  for text in \
    'Leo has 17 cards. 17 - 10 = 9. The answer is 9.' \
    '303 + 85 = 388. 388 - 20 = 368. The answer is 368.' \
    $'2 + 3 * 4 =\n(3 + 4) x 2 = 15\n$1,200 / 4 = $299' \
    '45 - 18 = 27 + 26 = 50, then 10 / 3 = 3.33 and 1/2 + 1/4 = 3/4' \
    '5 - 8 =-3, 7 / 0 = 1, 2(3 + 4) = 14, 3 apples + 4 = 7, a == 3 + 4' \
    '99999999999999 * 99999999999 = 1 and 0.5 * 0.25 = 0.125'; do
    printf '%s' "$text" >"$corpus/seed_$((i++))"
  done
  local word
  : >"$build_dir/calculator.dict"
  for word in ' = ' ' + ' ' - ' ' * ' ' / ' ' x ' '$' '(' ')' '1,234' '3.5' 'The answer is'; do
    printf '"%s"\n' "$(printf '%s' "$word" | sed 's/\\/\\\\/g; s/"/\\"/g')" >>"$build_dir/calculator.dict"
  done
}
