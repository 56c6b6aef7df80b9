# Fuzz target `remote_stream`: the SSE decoder that turns an upstream's chat / completion chunks
# into pipeline events (fuzz/remote_stream_fuzzer.cpp). Sourced by fuzz/run_fuzz.sh.
sources=(src/pipeline/remote_stream.cpp src/core/json_text.cpp src/decode/copy_matcher.cpp)
libs=(-lfmt)

seeds() {  # first byte: choices and echo; second: the split size
  local i=0 body
  for body in \
    $'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\ndata: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}\n\ndata: [DONE]\n\n' \
    $'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{\\"a\\""}}]}}]}\n\ndata: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}\n\n' \
    $'data: {"choices":[{"index":0,"text":"abc","logprobs":{"tokens":["","a","b","c"],"token_logprobs":[null,-1,-2,-0.5],"top_logprobs":[null,{"a":-1}],"text_offset":[0,0,1,2]},"finish_reason":null}]}\n\ndata: {"choices":[{"index":0,"text":"","logprobs":{"tokens":[""],"token_logprobs":[-0.1],"text_offset":[0]},"finish_reason":"stop"}]}\n\n' \
    $'data: {"choices":[{"index":1,"delta":{"reasoning_content":"2 + 3 = 5"},"logprobs":{"content":[{"token":"2","logprob":-0.1,"top_logprobs":[{"token":"2","logprob":-0.1}]}]}}]}\r\n\r\ndata: {"error":{"message":"overloaded"}}\n\n' \
    $'data: {"choices":[{"index":1e10,"delta":{"tool_calls":[{"index":7}]}}],"usage":{"completion_tokens":-2147483648}}\n\n'; do
    printf '\x05\x07%s' "$body" >"$corpus/seed_$((i++))"
    printf '\x0d\xff%s' "$body" >"$corpus/seed_$((i++))"
  done
}
