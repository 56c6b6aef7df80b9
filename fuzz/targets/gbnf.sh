# Fuzz target `gbnf`: the GBNF grammar parser and the byte-level matcher (fuzz/gbnf_fuzzer.cpp).
# Sourced by fuzz/run_fuzz.sh.
sources=(src/decode/grammar_parse.cpp src/decode/grammar_matcher.cpp src/tokenizer/unicode.cpp)
libs=(-lfmt -lutf8proc)

seeds() {  # grammar text, then (for some) a NUL and bytes for the matcher
  local i=0 grammar
  for grammar in \
    $'root ::= greeting " " name\ngreeting ::= "hi" | "hello"\nname ::= [a-z]+ [0-9]{0,2}' \
    'root ::= "a"{2,4} "b"{3} ("xy"){1,} "z"{0,}' \
    $'root   ::= object\nvalue  ::= object | array | string | number | ("true" | "false" | "null")\nobject ::= "{" ws ( string ws ":" ws value ws ("," ws string ws ":" ws value ws)* )? "}"\narray  ::= "[" ws ( value ws ("," ws value ws)* )? "]"\nstring ::= "\\"" ( [^"\\\\\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4}) )* "\\""\nnumber ::= "-"? ([0-9] | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?\nws ::= [ \\t\\n]*' \
    $'root ::= "\\u00e9" [\\u0400-\\u04FF]+ [^a-z\\U0001F600] . # comment\n' \
    $'root ::= x\nx ::= "(" x ")" | ""' \
    'root ::= "\x41\xFF" [\x00-\x1F]?' \
    $'root ::= ("a" | "b")* "c" # trailing\n\n# only a comment\n' \
    'root ::= root "a"' \
    'root ::= ("a"?)*' \
    'root ::= [z-a]'; do
    printf '%s' "$grammar" >"$corpus/seed_$((i++))"
  done
  printf '%s\0%s' $'root ::= "[" ws (num ("," ws num)*)? "]"\nnum ::= [0-9]+\nws ::= " "?' '[1, 22,3]' \
    >"$corpus/seed_$((i++))"
  printf '%s\0%s' 'root ::= [\u4e00-\u9fff]{1,3} "!"' '中文!' >"$corpus/seed_$((i++))"
  local word
  : >"$build_dir/gbnf.dict"
  for word in '::=' 'root' '|' '(' ')' '*' '+' '?' '{2,5}' '[^' '\u' '\x' '"'; do
    printf '"%s"\n' "$(printf '%s' "$word" | sed 's/\\/\\\\/g; s/"/\\"/g')" >>"$build_dir/gbnf.dict"
  done
}
