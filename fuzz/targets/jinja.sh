# Fuzz target `jinja`: chat template source rendered with a fixed conversation
# (fuzz/jinja_fuzzer.cpp). Sourced by fuzz/run_fuzz.sh.
sources=(src/core/json_text.cpp src/chat/chat_template.cpp src/chat/jinja_builtins.cpp src/chat/jinja_case_table.cpp
         src/chat/jinja_eval.cpp src/chat/jinja_filters.cpp src/chat/jinja_lexer.cpp src/chat/jinja_parser.cpp
         src/chat/jinja_unicode.cpp src/chat/jinja_value.cpp src/tokenizer/unicode.cpp)
libs=(-lfmt -lutf8proc)

seeds() {
  # The published templates (Qwen, Llama, Gemma, Phi, Mistral, SmolLM3, DeepSeek): every
  # construct real templates use, in the combinations they use them.
  local n=0
  for t in "$fixtures"/templates/*.jinja; do
    [ -f "$t" ] || continue
    cp "$t" "$corpus/"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "run_fuzz.sh: no .jinja templates under $fixtures/templates" >&2; exit 1; }
  # Small ones for the constructs those do not cover, and the kinds of runaway the budget stops;
  # the last, namespaces that hold themselves, leaked before the interpreter emptied them.
  local i=0 t
  for t in '{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}{% endfor %}' \
           '{% macro f(x, y=2) %}{{ x ~ y ~ caller() if caller is defined }}{% endmacro %}{% call f(1) %}c{% endcall %}' \
           '{% set ns = namespace(a=0) %}{% for i in range(5) if i is odd %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}' \
           '{{ tools | tojson(indent=2) }}{{ messages[1:-1] | map(attribute="role") | join(",") }}' \
           '{% filter upper %}{{ "x".replace("x", "yz") | indent(2, true) }}{% endfilter %}{{ (1, 2) | list | length }}' \
           '{{ messages | selectattr("role", "equalto", "user") | list | last }}{{ {"b": 1, "a": 2} | dictsort }}' \
           '{% for k, v in messages[0].items() %}{{ k }}={{ v | string | trim | title }}{% else %}none{% endfor %}' \
           '{% set ns = namespace(s="ab") %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}' \
           '{% for i in range(1000) %}{% for j in range(1000) %}{% if "z" in messages[1].content %}{% break %}{% endif %}{% endfor %}{% endfor %}' \
           '{{ raise_exception("no " ~ strftime_now("%Y")) if not add_generation_prompt }}{{ 7 // 2 }}{{ 2 ** 10 }}{{ -1.5 | abs }}' \
           '{% set ns = namespace() %}{% set ns.me = ns %}{% set b = namespace(a=ns) %}{% set ns.b = b %}x'; do
    printf '%s' "$t" >"$corpus/seed_$((i++)).jinja"
  done

  cat >"$build_dir/${target}.dict" <<'EOF2'
"{%"
"%}"
"{{"
"}}"
"{#"
"#}"
"{%-"
"-%}"
"for"
"endfor"
"if"
"elif"
"else"
"endif"
"set"
"endset"
"macro"
"endmacro"
"call"
"endcall"
"filter"
"endfilter"
"break"
"continue"
"namespace("
"range("
"loop.index"
"messages"
"tools"
"tojson"
"|"
"~"
" is "
" in "
" not "
"caller()"
"raise_exception("
"strftime_now("
"add_generation_prompt"
EOF2
}
