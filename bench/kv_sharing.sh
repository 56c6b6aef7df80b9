#!/usr/bin/env bash
# KV cache memory for N requests with one long system prompt, with and without page sharing
# (issue 16): rpu serve with N slots, one request first (the system prompt enters the cache),
# then N requests at once, each the system prompt plus its own user turn; /metrics then gives
# rpu_kv_cache_bytes (distinct pages: the shared prefix once) and rpu_kv_cache_unshared_bytes
# (the pages every slot maps: what the same rows take when each slot holds its own copy).
#
# WARM_UP=0 leaves out the first request: all N arrive together with nothing cached (the
# scheduler then evaluates the shared prefix once, for the first admitted, and the others wait
# for its pages).
#
#   bench/kv_sharing.sh RPU MODEL.gguf [N=16] [SYSTEM_WORDS=330] [CACHE_TYPE=f32] [WARM_UP=1]
set -euo pipefail
rpu=$1 model=$2 n=${3:-16} words=${4:-330} cache=${5:-f32} warm_up=${6:-1}
port=$((20000 + RANDOM % 20000))
out=$(mktemp -d)
"$rpu" serve "$model" --port "$port" --parallel "$n" --ctx 2048 --cache-type "$cache" --threads 2 \
  --queue 64 >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
system=$(for i in $(seq 1 "$words"); do printf 'word%d ' $((i % 97)); done)
ask() {  # ask TURN: the system prompt, then a turn of its own; 8 tokens of answer
  jq -n --arg p "$system User $1 asks: what next?" '{model: "m", prompt: $p, max_tokens: 8, temperature: 0}' |
    curl -sf "http://127.0.0.1:$port/v1/completions" -H 'content-type: application/json' -d @- >"$out/answer.$1"
}
if [ "$warm_up" = 1 ]; then ask 0; fi
for i in $(seq 1 "$n"); do ask "$i" & done
wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
prompt_tokens=$(jq '.usage.prompt_tokens' "$out/answer.1")
metrics=$(curl -sf "http://127.0.0.1:$port/metrics")
cached=$(awk '$1 == "rpu_cached_prompt_tokens_total" {print $2}' <<<"$metrics")
in_use=$(awk '$1 == "rpu_kv_cache_bytes" {print $2}' <<<"$metrics")
unshared=$(awk '$1 == "rpu_kv_cache_unshared_bytes" {print $2}' <<<"$metrics")
printf 'requests %d (+%d first), prompt %s tokens each, prompt tokens reused from the cache: %s\n' "$n" "$warm_up" "$prompt_tokens" "$cached"
printf 'KV cache (%s): %.1f MiB with sharing, %.1f MiB without (%.2fx)\n' "$cache" \
  "$(bc -l <<<"$in_use / 1048576")" "$(bc -l <<<"$unshared / 1048576")" "$(bc -l <<<"$unshared / $in_use")"
