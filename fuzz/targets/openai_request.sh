# Fuzz target `openai_request`: parsing and validating OpenAI request bodies
# (fuzz/openai_request_fuzzer.cpp). Sourced by fuzz/run_fuzz.sh.
sources=(src/server/openai_request.cpp src/server/json_body.cpp src/decode/copy_matcher.cpp)
libs=(-lfmt)

seeds() {  # first byte picks the parser: 0 chat, 1 completions, 2 embeddings, 4 tokenize, 5 detokenize
  local i=0 body
  for body in \
    '{"model":"m","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"hi"}],"max_tokens":8,"temperature":0.7,"top_p":0.9,"n":2,"stop":["\n",""],"seed":3,"logprobs":true,"top_logprobs":2}' \
    '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]}]}' \
    '{"model":"m","messages":[{"role":"user","content":"w"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"required"}' \
    '{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"1"}]}' \
    '{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object"}}},"logit_bias":{"12":-100},"chat_template_kwargs":{"enable_thinking":false}}' \
    '{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1e999,"stream":true,"stream_options":{"include_usage":true}}' \
    '{"model":"m","messages":[{"role":"user","content":"order JN-1"}],"copy_fields":{"order_id":["A-#"],"note":[]}}'; do
    { u8 0; printf '%s' "$body"; } >"$corpus/seed_chat_$((i++))"
  done
  for body in '{"model":"m","prompt":"Once upon a time","max_tokens":16,"echo":true,"logprobs":2}' \
              '{"model":"m","prompt":[[1,2,3],"text"],"n":3,"best_of":3,"logit_bias":{"5":1}}' \
              '{"model":"m","prompt":[1,2,99999999999]}'; do
    { u8 1; printf '%s' "$body"; } >"$corpus/seed_completion_$((i++))"
  done
  for body in '{"model":"m","input":"hello","encoding_format":"base64","dimensions":64}' \
              '{"model":"m","input":[[1,2],"a",""]}'; do
    { u8 2; printf '%s' "$body"; } >"$corpus/seed_embedding_$((i++))"
  done
  for body in '{"content":"Hello <|im_start|> world","add_special":true,"parse_special":false,"with_pieces":true}' \
              '{"model":"m","content":""}'; do
    { u8 4; printf '%s' "$body"; } >"$corpus/seed_tokenize_$((i++))"
  done
  for body in '{"tokens":[1,2,3]}' '{"model":"m","tokens":[2.0,-1]}'; do
    { u8 5; printf '%s' "$body"; } >"$corpus/seed_detokenize_$((i++))"
  done
  cat >"$build_dir/${target}.dict" <<'DICT'
"\"model\""
"\"messages\""
"\"role\""
"\"content\""
"\"tools\""
"\"tool_choice\""
"\"response_format\""
"\"logit_bias\""
"\"prompt\""
"\"input\""
"\"tokens\""
"\"with_pieces\""
"\"stop\""
"\"max_tokens\""
"1e999"
"null"
DICT
}
