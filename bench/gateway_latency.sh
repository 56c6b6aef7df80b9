#!/usr/bin/env bash
# The latency rpu gateway adds in front of a model server (bench/RESULTS.md, "Gateway"): starts
# `rpu serve` on the built-in model and one or more `rpu gateway`s whose default route targets
# it over HTTP, then runs bench/gateway_latency (build/bench/gateway_latency) against the
# server directly and through each gateway, rounds alternating, at a fixed open-loop rate.
#
#   bench/gateway_latency.sh
#
# Environment (defaults in brackets):
#   RPU [build/rpu]   BENCH [build/bench/gateway_latency]
#   RATE [100] calls/s   SEGMENT [5] seconds per target per round   ROUNDS [5]   MAX_TOKENS [1]
#   PARALLEL [8]: rpu serve --parallel   SERVE_ARGS, GATEWAY_ARGS: extra flags of each
#   GATEWAYS ["log"]: the gateways to measure, each a config variant:
#     log      usage log on, scrubbed (the default configuration)
#     noscrub  usage log on, not scrubbed
#     nolog    no usage log
#     any of them + "-quiet": also --log-format off (no request line on stderr)
#   PORT [18320]: rpu serve's port; the gateways take the next ones
#   OUT_DIR: keep the configs, the server logs and the usage logs
set -euo pipefail
cd "$(dirname "$0")/.."

rpu=${RPU:-build/rpu}
bench=${BENCH:-build/bench/gateway_latency}
rate=${RATE:-100}
segment=${SEGMENT:-5}
rounds=${ROUNDS:-5}
max_tokens=${MAX_TOKENS:-1}
parallel=${PARALLEL:-8}
gateways=${GATEWAYS:-log}
port=${PORT:-18320}
[ -x "$rpu" ] || { echo "no rpu binary at $rpu (build first, or set RPU)" >&2; exit 2; }
[ -x "$bench" ] || { echo "no $bench (cmake --build build --target gateway_latency)" >&2; exit 2; }

out_dir=${OUT_DIR:-$(mktemp -d)}
mkdir -p "$out_dir"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${OUT_DIR:-}" ] || rm -rf "$out_dir"
}
trap cleanup EXIT

# start NAME PORT COMMAND...: runs it in the background, waits for /health.
start() {
  local name=$1 p=$2
  shift 2
  if curl -s -o /dev/null "http://127.0.0.1:$p/health"; then echo "port $p is already in use (set PORT)" >&2; exit 1; fi
  "$@" >"$out_dir/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "http://127.0.0.1:$p/health" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "$name exited:" >&2; tail -n 20 "$out_dir/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name not healthy after 20 s" >&2
  exit 1
}

# shellcheck disable=SC2086  # SERVE_ARGS is a list of flags
start serve "$port" "$rpu" serve --host 127.0.0.1 --port "$port" --parallel "$parallel" ${SERVE_ARGS:-}
targets=(--target "direct=http://127.0.0.1:$port")
declare -A gateway_port
p=$port
for g in $gateways; do
  p=$((p + 1))
  gateway_port[$g]=$p
  flags=()
  [[ $g == *-quiet ]] && flags=(--log-format off)
  case ${g%-quiet} in
    log) log="log: {path: $out_dir/calls-$g.db, scrub: true}" ;;
    noscrub) log="log: {path: $out_dir/calls-$g.db, scrub: false}" ;;
    nolog) log="" ;;
    *) echo "unknown gateway variant '$g' (log, noscrub, nolog, each optionally with -quiet)" >&2; exit 2 ;;
  esac
  cat >"$out_dir/gateway-$g.yaml" <<EOF
listen: {host: 127.0.0.1, port: $p}
$log
upstreams:
  up: {url: "http://127.0.0.1:$port/v1"}
routes:
  - {name: main, target: up}
default_route: main
EOF
  # shellcheck disable=SC2086
  start "gateway-$g" "$p" "$rpu" gateway --config "$out_dir/gateway-$g.yaml" "${flags[@]}" ${GATEWAY_ARGS:-}
  targets+=(--target "gateway-$g=http://127.0.0.1:$p")
done

echo "# rpu gateway latency: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# rpu serve --parallel $parallel ${SERVE_ARGS:-}; gateways: $gateways ${GATEWAY_ARGS:-}"
echo
"$bench" "${targets[@]}" --rate "$rate" --segment "$segment" --rounds "$rounds" --max-tokens "$max_tokens" --model rpu-arith
echo
for g in $gateways; do
  [ -f "$out_dir/calls-$g.db" ] || continue
  metrics=$(curl -s "http://127.0.0.1:${gateway_port[$g]}/metrics")
  echo "gateway-$g usage log: $(echo "$metrics" | grep '^rpu_usage_log_rows_total' | sed 's/rpu_usage_log_rows_total//' | tr '\n' ' ')"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
