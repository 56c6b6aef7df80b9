#!/usr/bin/env bash
# Server throughput, rpu serve against llama.cpp's llama-server, on the same GGUF file with the
# same thread count, 16 sequences decoded together and the same context per sequence. Runs
# bench/bench_server.mjs against one server at a time (the other is not even started, so
# neither steals cores), waiting for /health first and stopping the server after.
#
#   bench/compare_server.sh MODEL.gguf [THREADS]
#
# Environment (defaults in brackets):
#   LLAMA_SERVER [/work/peers/llama.cpp/build/bin/llama-server]   RPU [build/rpu]
#   SERVERS ["rpu llama.cpp"]: which to run (e.g. SERVERS=llama.cpp before `rpu serve` exists)
#   CONCURRENCY [1,4,8,16]  REQUESTS_PER_STREAM [4]  MAX_TOKENS [128]  PROMPT_WORDS [64]
#   CTX [512]: context per sequence   PARALLEL [16]   RPU_PORT [18090]  LLAMA_PORT [18091]
#   RPU_ARGS, LLAMA_ARGS: extra server flags   OUT_DIR: keep the JSON reports and server logs
#
# Fairness: llama-server gets -np PARALLEL slots of CTX tokens each (-c PARALLEL*CTX with a
# per-slot, non-unified KV cache, like rpu's per-sequence context), -t and -tb both THREADS,
# continuous batching on (its default, stated anyway) and its default batch sizes. Its host-RAM
# prompt cache is turned off (--cache-ram 0): the benchmark never repeats a prompt, so saving
# idle slots to RAM would only cost llama.cpp time. No web UI. Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: bench/compare_server.sh MODEL.gguf [THREADS]"
model=${1:?$usage}
threads=${2:-2}
[ -f "$model" ] || { echo "no such model: $model" >&2; exit 2; }
rpu=${RPU:-build/rpu}
llama_server=${LLAMA_SERVER:-/work/peers/llama.cpp/build/bin/llama-server}
servers=${SERVERS:-"rpu llama.cpp"}
concurrency=${CONCURRENCY:-1,4,8,16}
requests=${REQUESTS_PER_STREAM:-4}
max_tokens=${MAX_TOKENS:-128}
prompt_words=${PROMPT_WORDS:-64}
ctx=${CTX:-512}
parallel=${PARALLEL:-16}
rpu_port=${RPU_PORT:-18090}
llama_port=${LLAMA_PORT:-18091}
health_timeout=${HEALTH_TIMEOUT:-300}
name=$(basename "$model" .gguf)

# A prompt word is one to three tokens; the request must fit in one sequence's context.
if (( 3 * prompt_words + max_tokens + 8 > ctx )); then
  echo "CTX=$ctx may be too small for PROMPT_WORDS=$prompt_words + MAX_TOKENS=$max_tokens" >&2
  exit 2
fi

out_dir=${OUT_DIR:-$(mktemp -d)}
mkdir -p "$out_dir"
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  [ -n "${OUT_DIR:-}" ] || rm -rf "$out_dir"
}
trap cleanup EXIT

# run_server LABEL PORT COMMAND...: start, wait for /health, benchmark, stop.
run_server() {
  local label=$1 port=$2
  shift 2
  local file=${label//./_}
  # Never benchmark someone else's server that happens to hold the port.
  if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then
    echo "port $port is already in use (set RPU_PORT / LLAMA_PORT)" >&2
    exit 1
  fi
  echo "starting $label: $*" >&2
  "$@" >"$out_dir/$file.log" 2>&1 &
  server_pid=$!
  local waited=0
  until curl -sf -o /dev/null "http://127.0.0.1:$port/health"; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "$label exited before becoming healthy; its log:" >&2
      tail -n 30 "$out_dir/$file.log" >&2
      exit 1
    fi
    if (( waited >= health_timeout * 2 )); then echo "$label not healthy after ${health_timeout}s" >&2; exit 1; fi
    sleep 0.5
    waited=$((waited + 1))
  done
  local status=0
  node bench/bench_server.mjs --url "http://127.0.0.1:$port" --model "$name" --label "$label" \
    --concurrency "$concurrency" --requests-per-stream "$requests" --max-tokens "$max_tokens" \
    --prompt-words "$prompt_words" --out "$out_dir/$file.json" || status=$?
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  if (( status != 0 )); then
    echo "$label benchmark failed (exit $status); last lines of its log:" >&2
    tail -n 30 "$out_dir/$file.log" >&2
    exit "$status"
  fi
  echo
}

echo "# Server throughput: $name, $threads threads, $parallel parallel sequences x $ctx context"
echo
for server in $servers; do
  case $server in
    rpu)
      "$rpu" serve --help >/dev/null 2>&1 || { echo "$rpu has no serve subcommand (SERVERS=llama.cpp to skip it)" >&2; exit 1; }
      # shellcheck disable=SC2086  # RPU_ARGS is a list of flags
      run_server rpu "$rpu_port" "$rpu" serve "$model" --host 127.0.0.1 --port "$rpu_port" \
        --parallel "$parallel" --ctx "$ctx" --threads "$threads" ${RPU_ARGS:-}
      ;;
    llama.cpp)
      # shellcheck disable=SC2086
      run_server llama.cpp "$llama_port" "$llama_server" -m "$model" --host 127.0.0.1 --port "$llama_port" \
        -np "$parallel" -c $((parallel * ctx)) --no-kv-unified -t "$threads" -tb "$threads" \
        --cont-batching --cache-ram 0 --no-webui ${LLAMA_ARGS:-}
      ;;
    *) echo "unknown server '$server' in SERVERS (rpu, llama.cpp)" >&2; exit 2 ;;
  esac
done

# Ratio per concurrency (when both ran) and each server's 8-stream / 1-stream scaling.
# shellcheck disable=SC2086  # one argument per server
node - "$out_dir" $servers <<'JS'
const fs = require('node:fs');
const [dir, ...servers] = process.argv.slice(2);
const reports = Object.fromEntries(servers.map((s) => [s, JSON.parse(fs.readFileSync(`${dir}/${s.replace(/\./g, '_')}.json`))]));
const level = (s, c) => reports[s].levels.find((l) => l.concurrency === c);
if (reports.rpu && reports['llama.cpp']) {
  console.log('| streams | rpu tok/s | llama.cpp tok/s | rpu / llama.cpp | rpu p50 s | llama.cpp p50 s |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const r of reports.rpu.levels) {
    const l = level('llama.cpp', r.concurrency);
    if (!l) continue;
    console.log(`| ${r.concurrency} | ${r.tokens_per_second.toFixed(1)} | ${l.tokens_per_second.toFixed(1)} ` +
      `| ${(r.tokens_per_second / l.tokens_per_second).toFixed(2)}x | ${r.latency_seconds.p50.toFixed(3)} ` +
      `| ${l.latency_seconds.p50.toFixed(3)} |`);
  }
  console.log();
}
for (const s of servers) {
  const one = level(s, 1), eight = level(s, 8);
  const scaling = one && eight ? `${(eight.tokens_per_second / one.tokens_per_second).toFixed(2)}x` : 'n/a (needs 1 and 8 in CONCURRENCY)';
  console.log(`${s} scaling, 8 streams / 1 stream: ${scaling}`);
}
JS
