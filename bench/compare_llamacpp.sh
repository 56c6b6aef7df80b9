#!/usr/bin/env bash
# Side-by-side prompt-processing and generation speed of rpu and llama.cpp on the same GGUF
# files (random weights in real models' shapes, written by `rpu synth`), same thread count.
#
#   LLAMA_BENCH=/path/to/llama-bench bench/compare_llamacpp.sh [MODELS_DIR] [REPETITIONS]
#
# llama.cpp is built by you, outside this repository; this script only runs its llama-bench.
# Each row runs llama.cpp then rpu back to back, so both see the same machine state; run it
# on an otherwise idle machine (2 vCPUs contend for memory bandwidth). Prints a Markdown table
# headed by the date, the machine and both programs' versions.
#
# README=1 also writes that table into README.md between the lines
# "<!-- speed-table:begin -->" and "<!-- speed-table:end -->", so the README's table is always
# one run of this script.
set -euo pipefail
cd "$(dirname "$0")/.."
rpu=${RPU:-build/rpu}
llama_bench=${LLAMA_BENCH:?set LLAMA_BENCH to a llama-bench binary built outside this repository}
models=${1:-/tmp/rpu-bench-models}
reps=${2:-5}
threads=${THREADS:-2}
prompt=${PROMPT_TOKENS:-512}
gen=${GEN_TOKENS:-128}
rows=${ROWS:-"smollm2-135m:Q8_0 smollm2-135m:Q4_0 qwen2.5-0.5b:Q8_0 qwen2.5-0.5b:Q4_K_M llama3.2-1b:Q8_0 llama3.2-1b:Q4_0"}
mkdir -p "$models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out="$tmp/table.md"
exec 3>&1 1> >(tee "$out")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $cpu, $(nproc) CPUs (load average $(cut -d' ' -f1-3 /proc/loadavg)),"
echo "$threads threads, rpu $(git describe --always --dirty 2>/dev/null || echo '?') with kernels ${RPU_KERNELS:-of the CPU (default)},"
echo "$reps repetitions; mean ± standard deviation in tokens per second (llama.cpp's build: below the table)."
echo
echo "| shape | type | llama.cpp pp$prompt | rpu pp$prompt | ratio | llama.cpp tg$gen | rpu tg$gen | ratio | rpu tg % of roofline |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for row in $rows; do
  preset=${row%%:*}
  type=${row##*:}
  file="$models/$preset-$type.gguf"
  [ -f "$file" ] || "$rpu" synth --like "$preset" --type "$type" "$file" >&2
  "$llama_bench" -m "$file" -t "$threads" -p "$prompt" -n "$gen" -r "$reps" -o json >"$tmp/llama.json" 2>"$tmp/llama.err" ||
    { cat "$tmp/llama.err" >&2; exit 1; }
  "$rpu" bench "$file" -t "$threads" -p "$prompt" -n "$gen" -r "$reps" -o json >"$tmp/rpu.json"
  python3 - "$tmp/llama.json" "$tmp/rpu.json" "$preset" "$type" <<'PY'
import json, sys
llama = json.load(open(sys.argv[1]))
rpu = json.load(open(sys.argv[2]))
def pick(tests, key):
    for t in tests:
        if (t["n_prompt"] > 0) == (key == "pp"):
            return t["avg_ts"], t["stddev_ts"]
l_pp, l_pp_sd = pick(llama, "pp"); l_tg, l_tg_sd = pick(llama, "tg")
r_pp, r_pp_sd = pick(rpu["tests"], "pp"); r_tg, r_tg_sd = pick(rpu["tests"], "tg")
share = rpu["roofline"]["generation_share"] * 100
print(f"| {sys.argv[3]} | {sys.argv[4]} | {l_pp:.1f} ± {l_pp_sd:.1f} | {r_pp:.1f} ± {r_pp_sd:.1f} | {r_pp / l_pp:.2f}x "
      f"| {l_tg:.1f} ± {l_tg_sd:.1f} | {r_tg:.1f} ± {r_tg_sd:.1f} | {r_tg / l_tg:.2f}x | {share:.0f}% |")
PY
done

python3 - "$tmp/llama.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))[0]
print(f"\nllama.cpp build {t['build_number']} (commit {t['build_commit']}), backends {t['backends']}.")
PY
exec 1>&3 3>&-
wait
if [ "${README:-0}" = 1 ]; then
  python3 - README.md "$out" <<'PY'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read().strip()
text = open(readme).read()
begin, end = "<!-- speed-table:begin -->", "<!-- speed-table:end -->"
if begin not in text or end not in text:
    sys.exit(f"{readme} has no {begin} ... {end} block")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(readme, "w").write(f"{head}{begin}\n{table}\n{end}{tail}")
print(f"updated the speed table in {readme}", file=sys.stderr)
PY
fi
