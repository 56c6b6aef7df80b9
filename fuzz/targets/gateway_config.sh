# Fuzz target `gateway_config`: the gateway's YAML configuration reader (fuzz/gateway_config_fuzzer.cpp),
# with the regex and verifier checks it runs on routes, and the routes file merged into a main
# config. Sourced by fuzz/run_fuzz.sh.
sources=(src/gateway/config.cpp src/gateway/usage_location.cpp src/gateway/task_classifier.cpp src/gateway/task_signature.cpp src/gateway/router.cpp src/reasoning/pattern.cpp src/reasoning/verifiers.cpp src/reasoning/arithmetic_verifier.cpp src/reasoning/command_verifier.cpp
         src/decode/arithmetic.cpp src/decode/numbers.cpp src/core/json_text.cpp
         src/decode/json_schema.cpp src/decode/gbnf_text.cpp src/decode/grammar_parse.cpp src/decode/grammar_matcher.cpp
         src/decode/copy_matcher.cpp src/tokenizer/unicode.cpp src/retrieval/knowledge_spec.cpp)
libs=(-lfmt -lutf8proc -lpcre2-8 -lyaml-cpp)

seeds() {  # one configuration per file
  local i=0 config
  for config in \
    "$(cat "$repo/examples/gateway.yaml")" \
    $'models:\n  m: {local: builtin}\nroutes: [{name: a, target: m, aliases: [x, y]}]\ndefault_route: a\n' \
    $'upstreams:\n  u: {url: "http://127.0.0.1:1/v1", retry: {attempts: 2}, breaker: {failures: 1}}\nroutes:\n  - name: r\n    target: u\n    match: {system: "(?i)math", user: "\\\\d+", tools: true, task: t}\n' \
    $'models:\n  m: {local: builtin}\nroutes:\n  - name: r\n    target: m\n    reasoning: {strategy: self_consistency, n: 4}\n    cascade: {upstream: m, min_confidence: 0.5, refusal: "no", verifier: {type: json_schema, schema: {type: object}}}\n    shadow: {share: 0.1, target: m}\n' \
    $'a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nmodels:\n  m: {local: builtin}\nroutes: [{name: r, target: m, reasoning: {k: [*b, *b, *b]}}]\n' \
    $'keys: [{id: k, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, requests_per_minute: 60}]\n' \
    $'models:\n  m: {local: builtin}\nknowledge_bases: {docs: docs.kb}\nroutes: [{name: r, target: m, knowledge: {kb: docs, k: 3, mode: bm25}}]\n' \
    $'models:\n  m: {local: builtin}\nroutes: [{name: r, target: m, force_tool_call: true, copy_fields: {order_id: [A-#], note: []}}]\n' \
    $'models:\n  s1: {local: /models/s1.gguf}\nroutes:\n  - {name: c1, target: s1, match: {task: t1}, cascade: {upstream: u, min_confidence: 0.7}}\ndefault_route: main\n' \
    $'models:\n  s2: {local: builtin}\nroutes: [{name: c2, target: s2, aliases: [gpt-4o]}]\n'; do
    printf '%s' "$config" >"$corpus/seed_$((i++))"
  done
  local word
  : >"$build_dir/gateway_config.dict"
  for word in 'models:' 'upstreams:' 'routes:' 'target:' 'cascade:' 'verifier:' 'match:' '&a' '*a' '{' '[' '- ' ': ' 'local: builtin' 'url: http://x/v1' 'knowledge:' 'knowledge_bases:'; do
    printf '"%s"\n' "$(printf '%s' "$word" | sed 's/\\/\\\\/g; s/"/\\"/g')" >>"$build_dir/gateway_config.dict"
  done
}
