#!/usr/bin/env bash
# The conversion loop's "Must show" (issue 13) in one command: generate N calls, start the
# stand-in teacher and `rpu gateway` in front of it (every call to the teacher, logged and
# scrubbed, routes_file in the run's folder), replay the calls through the gateway, run
# `rpu convert run` on the log (which deploys specialists into the routes file; the gateway
# reloads it), replay new calls from the same generator (another seed: the specialists never saw
# them, as a user's agent would send tomorrow), score the deployed routes on their shadow calls
# (`rpu convert watch`, which rolls back a route below the target), and print the report.
#
#   bench/convert/run.sh [--quick] [--calls N] [--seed S] [--generalist-minutes G] [--generalist-steps S]
#                        [--train-minutes M]
#                        [--train-steps S] [--augment N] [--held-out-variants N] [--calibration-margin Z]
#                        [--min-held-out N]
#                        [--no-cascade] [--max-tokens T]
#                        [--mix type=weight,...] [--dir DIR] [--rpu build/rpu]
#                        [--teacher-url URL --teacher-model NAME] [--from-run DIR]
#                        [-- more `rpu convert run` options]
#
# --from-run DIR: start from an earlier run's log as replay 1 left it (DIR/calls-replay1.db), its
# S3 clusters and classifier and its generalist (DIR/work/clusters*.json, generalist.json, whose
# model stays in DIR) instead of replaying and training them again, so that S4-S6 are compared
# on the same calls and the same trained models (e.g. `-- --strategy greedy` in DIR, the whole
# strategy table here). DIR must be a run of this script with the same --calls, --seed and --mix.
#
# --generalist-steps S: the generalist trains S optimizer steps, whatever else runs on the machine
# (G minutes, when also given, a cap only; `--generalist-minutes 0 --generalist-steps S`: none), so
# two runs on the same calls train the same generalist. S3 and the per-cluster training files are
# functions of the calls, not of the order the log holds them in.
#
# --teacher-url: any OpenAI-compatible endpoint as the teacher instead of the stand-in (e.g. a
# model served by `rpu serve --alias NAME`; --teacher-model is the name it answers to).
#
# Full: 5000 calls (a day of a small agent deployment's traffic); up to 4 variants of each
# trainable call answered by the teacher (--augment), and of each held-out call, evaluated and
# calibrated on (--held-out-variants); a generalist trained 16,500 steps (about 41 minutes; at
# most 47) on every short-answer cluster; then up to 3 minutes / 2000 steps of fine-tuning of it on
# each of those clusters (a passing one too: S6 deploys the route that keeps more calls local); a specialist below the target is deployed when escalating its least confident
# calls brings its route to the target (--deploy-by-cascade; --no-cascade: only specialists
# that pass alone), its threshold calibrated on the kept held-out calls' mean accuracy
# (--calibration-margin Z: at its Wilson lower bound at z = Z, 0.5 in the ninth to seventeenth
# runs); each cluster holds out 10% of its calls, and at least about 50 of them
# (--min-held-out; 0 before the tenth run). About 65 minutes on two cores (the generalist had 30
# minutes before the seventeenth run, about 11,000 steps). This is the recipe of bench/RESULTS.md's
# latest conversion runs.
# --quick: 400 calls, a 2-minute generalist, 0.5 training minutes / 200 steps per cluster, for
# trying it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RPU=$ROOT/build/rpu
CALLS=5000 SEED=1 GEN_MIN=47 GEN_STEPS=16500 TRAIN_MIN=3 TRAIN_STEPS=2000 AUGMENT=4 HOV=4 CASCADE=1 MAX_TOKENS=128 DIR="" MIX="" HELD_OUT=0.1 MARGIN=0 MIN_HELD_OUT=50
TEACHER_URL="" TEACHER_MODEL="" FROM_RUN=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) CALLS=400 GEN_MIN=2 GEN_STEPS=0 TRAIN_MIN=0.5 TRAIN_STEPS=200 MAX_TOKENS=96 HELD_OUT=0.2 MIN_HELD_OUT=0; shift ;;
    --calls) CALLS=$2; shift 2 ;;
    --generalist-minutes) GEN_MIN=$2; shift 2 ;;
    --generalist-steps) GEN_STEPS=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    --seed) SEED=$2; shift 2 ;;
    --train-minutes) TRAIN_MIN=$2; shift 2 ;;
    --train-steps) TRAIN_STEPS=$2; shift 2 ;;
    --augment) AUGMENT=$2; shift 2 ;;
    --held-out-variants) HOV=$2; shift 2 ;;
    --calibration-margin) MARGIN=$2; shift 2 ;;
    --min-held-out) MIN_HELD_OUT=$2; shift 2 ;;
    --no-cascade) CASCADE=0; shift ;;
    --max-tokens) MAX_TOKENS=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --mix) MIX=$2; shift 2 ;;
    --rpu) RPU=$2; shift 2 ;;
    --teacher-url) TEACHER_URL=$2; shift 2 ;;
    --teacher-model) TEACHER_MODEL=$2; shift 2 ;;
    --from-run) FROM_RUN=$(cd "$2" && pwd); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$DIR" ] || DIR=$(mktemp -d /tmp/rpu-convert-run.XXXXXX)
mkdir -p "$DIR"
B=$ROOT/bench/convert
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
START=$(date +%s)
stamp() { echo "[$(( $(date +%s) - START ))s] $*" >&2; }

node "$B/workload.mjs" --seed "$SEED" --calls "$CALLS" --out "$DIR/calls.jsonl" --labels "$DIR/labels.jsonl" ${MIX:+--mix "$MIX"}
node "$B/workload.mjs" --seed "$((SEED + 1000))" --calls "$CALLS" --out "$DIR/calls-new.jsonl" --labels "$DIR/labels-new.jsonl" ${MIX:+--mix "$MIX"}
if [ -z "$TEACHER_URL" ]; then
  TEACHER_PORT=$(free_port)
  node "$B/teacher.mjs" --port "$TEACHER_PORT" --seed "$SEED" > "$DIR/teacher.log" 2>&1 &
  PIDS+=($!)
  TEACHER_URL=http://127.0.0.1:$TEACHER_PORT/v1
fi
if [ -n "$FROM_RUN" ]; then
  [ -f "$FROM_RUN/calls-replay1.db" ] || { echo "--from-run: no $FROM_RUN/calls-replay1.db" >&2; exit 2; }
  cp "$FROM_RUN/calls-replay1.db" "$DIR/calls.db"
  mkdir -p "$DIR/work"
  cp "$FROM_RUN"/work/clusters*.json "$DIR/work/"
  [ ! -f "$FROM_RUN/work/generalist.json" ] || cp "$FROM_RUN/work/generalist.json" "$DIR/work/"
  cp "$FROM_RUN/before.jsonl" "$FROM_RUN/before.json" "$DIR/"
fi
GW_PORT=$(free_port)
cat > "$DIR/gateway.yaml" <<YAML
listen: {host: 127.0.0.1, port: $GW_PORT}
log: {path: $DIR/calls.db, scrub: true}
upstreams:
  teacher:
    url: $TEACHER_URL
${TEACHER_MODEL:+    model: $TEACHER_MODEL}
    timeouts: {connect: 5, first_token: 60, total: 600}
routes:
  - name: general
    target: teacher
default_route: general
routes_file: $DIR/routes.yaml
YAML
"$RPU" gateway --config "$DIR/gateway.yaml" > "$DIR/gateway.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GW_PORT/health" > /dev/null && break; sleep 0.2; done

replay() {  # $1: name, $2: calls file stem, $3: concurrency
  node "$B/replay.mjs" --base-url "http://127.0.0.1:$GW_PORT/v1" --calls "$DIR/$2.jsonl" --labels "$DIR/labels${2#calls}.jsonl" \
    --upstreams teacher --concurrency "$3" --out "$DIR/$1.jsonl" --json "$DIR/$1.json"
}
if [ -z "$FROM_RUN" ]; then
  stamp "replay 1: $CALLS calls through the gateway, all to the teacher"
  replay before calls 16  # all to the teacher: its latency does not depend on load
  sleep 2  # the usage log's writer thread drains its queue
  sqlite3 "$DIR/calls.db" ".backup '$DIR/calls-replay1.db'"  # the log as S3-S6 read it (for --from-run)
else
  stamp "replay 1 and its log taken from $FROM_RUN"
fi
RECIPE=(--generalist-minutes "$GEN_MIN" --generalist-steps "$GEN_STEPS" --train-minutes "$TRAIN_MIN" --train-steps "$TRAIN_STEPS" --held-out "$HELD_OUT"
  --max-tokens "$MAX_TOKENS" --augment "$AUGMENT" --held-out-variants "$HOV" --augment-parallel 48
  --calibration-margin "$MARGIN" --min-held-out "$MIN_HELD_OUT")
[ "$CASCADE" = 0 ] || RECIPE+=(--deploy-by-cascade)
stamp "rpu convert run (augment $AUGMENT, generalist $GEN_MIN min / $GEN_STEPS steps (0: the minutes decide), then up to $TRAIN_MIN min / $TRAIN_STEPS steps per cluster)"
"$RPU" convert run "$DIR/calls.db" --teacher teacher --routes-file "$DIR/routes.yaml" --gateway-config "$DIR/gateway.yaml" \
  --work-dir "$DIR/work" "${RECIPE[@]}" -t 2 "${EXTRA[@]}" 2>&1 | tee "$DIR/convert.log"
sleep 3  # the gateway reloads the routes file within a second; loading the models takes a moment
stamp "replay 2: $CALLS new calls (seed $((SEED + 1000))), specialists deployed"
replay after calls-new 4  # as many in flight as the specialists have slots, and a few more
sleep 2
stamp "rpu convert watch: each deployed route's shadow pairs from replay 2 (rolled back below the target)"
"$RPU" convert watch "$DIR/calls.db" --routes-file "$DIR/routes.yaml" --gateway-config "$DIR/gateway.yaml" \
  --min-pairs 10 2>&1 | tee "$DIR/watch.log"
"$RPU" convert report --work-dir "$DIR/work" --replay "$DIR/after.jsonl" -o "$DIR/report.md" > /dev/null
stamp "done; files in $DIR"
cat "$DIR/report.md"
