# Fuzz target `tool_calls`: tool calls read out of a model's generated text in each format
# (fuzz/tool_calls_fuzzer.cpp). Sourced by fuzz/run_fuzz.sh.
# tool_calls.cpp links the chat template (template_accepts_system_role): the jinja target's sources
# and libraries, plus tool_calls.cpp; its seeds function is replaced below.
# shellcheck source=/dev/null
source "$repo/fuzz/targets/jinja.sh"
sources=(src/chat/tool_calls.cpp "${sources[@]}")

seeds() {  # first byte: the format (0 Hermes, 1 Llama 3 JSON, 2 Mistral, 3 generic)
  local i=0 f body
  for body in \
    $'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}\n</tool_call>\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>' \
    $'<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}' \
    $'{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "g", "parameters": {"x": null}}' \
    $'[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcDEF123"}, {"name": "f", "arguments": {}}]' \
    $'{"name": "lookup", "arguments": {"q": "\\u00e9t\\u00e9 \\"quoted\\""}}' \
    $'<tool_call>\n{"name": "broken", "arguments": "not an object"}\n</tool_call> and <tool_call>{"name": ' \
    'The answer is 42.'; do
    for f in 0 1 2 3; do printf "\\x0$f%s" "$body" >"$corpus/seed_$((i++))"; done
  done
}
