#!/usr/bin/env bash
# rpu perplexity against llama.cpp's llama-perplexity on the same GGUF files and text: the
# stories260K fixture (a real trained model) and random-weight files in real models' shapes
# (`rpu synth`), each as written (F32 fixture / F16 synth) and as Q8_0, Q4_0 and Q4_K_M
# quantizations of it (`rpu quantize`). Per type: both tools' PPL and their difference, and
# both tools' KL divergence and top-token agreement against their own base run of the
# unquantized file (--kl-divergence-base / --kl-divergence).
#
#   LLAMA_PERPLEXITY=/path/to/llama-perplexity bench/perplexity/compare_llamacpp.sh [MODELS_DIR]
#
# llama.cpp is built by you, outside this repository; this script only runs its binary.
# Environment: RPU (default build/rpu), THREADS (2), TEXT (tests/data/perplexity/stories.txt),
# PRESETS ("stories260K smollm2-135m qwen2.5-0.5b qwen3-0.6b"), TYPES ("Q8_0 Q4_0 Q4_K_M"),
# CTX / CHUNKS for the synth files (256 / 4: random-weight models are slow to score and
# their PPL is near the vocabulary size anyway), FIXTURE_CTX (512, all chunks), TOLERANCE
# (0.5, percent). Prints a Markdown table; exits 1 when a PPL differs by more than TOLERANCE.
set -euo pipefail
cd "$(dirname "$0")/../.."
rpu=${RPU:-build/rpu}
llama=${LLAMA_PERPLEXITY:?set LLAMA_PERPLEXITY to a llama-perplexity binary built outside this repository}
models=${1:-/tmp/rpu-ppl-models}
threads=${THREADS:-2}
text=${TEXT:-tests/data/perplexity/stories.txt}
presets=${PRESETS:-"stories260K smollm2-135m qwen2.5-0.5b qwen3-0.6b"}
types=${TYPES:-"Q8_0 Q4_0 Q4_K_M"}
ctx=${CTX:-256}
chunks=${CHUNKS:-4}
fixture_ctx=${FIXTURE_CTX:-512}
tolerance=${TOLERANCE:-0.5}
fixture=${FIXTURE:-../shared/fixtures/stories260K/stories260K.gguf}
mkdir -p "$models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# llama ARGS...: llama-perplexity into $tmp/llama.out. Its log is written by a background
# thread, and on a loaded machine the last lines are sometimes missing at exit: run again then.
llama() {
  for attempt in 1 2 3; do
    "$llama" "$@" >"$tmp/llama.out" 2>&1 || { cat "$tmp/llama.out" >&2; exit 1; }
    grep -q -e "Final estimate: PPL" -e "Same top p:" "$tmp/llama.out" && return 0
    echo "llama-perplexity output incomplete (attempt $attempt), running again" >&2
  done
}

# row PRESET TYPE RPU_OUT LLAMA_OUT: one table line from the two tools' outputs.
row() {
  python3 - "$@" "$tolerance" <<'PY' || failed=1
import re, sys
preset, qtype, rpu_out, llama_out, tol = sys.argv[1:6]
def read(path):
    t = open(path, encoding="utf-8", errors="replace").read()
    m = re.search(r"Final estimate: PPL = ([0-9.]+)", t) or re.search(r"Mean PPL\(Q\)\s*:\s*([0-9.]+)", t)
    kld = re.search(r"Mean\s+KLD:\s*([0-9.]+)", t)
    top = re.search(r"Same top p:\s*([0-9.]+)", t)
    if not m:
        sys.exit(f"no PPL in {path}:\n{t[-2000:]}")
    return float(m.group(1)), kld and float(kld.group(1)), top and float(top.group(1))
r, l = read(rpu_out), read(llama_out)
diff = 100.0 * (r[0] - l[0]) / l[0]
ok = abs(diff) <= float(tol)
kl = lambda v: "—" if v is None else f"{v:.6f}"
top = lambda v: "—" if v is None else f"{v:.2f}%"
print(f"| {preset} | {qtype} | {l[0]:.4f} | {r[0]:.4f} | {diff:+.3f}% {'ok' if ok else 'FAIL'} "
      f"| {kl(l[1])} | {kl(r[1])} | {top(l[2])} | {top(r[2])} |")
sys.exit(0 if ok else 1)
PY
}

echo "| model | type | llama.cpp PPL | rpu PPL | rpu vs llama.cpp | llama.cpp KLD | rpu KLD | llama.cpp same top | rpu same top |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for preset in $presets; do
  if [ "$preset" = stories260K ]; then
    base=$fixture base_type=F32 c=$fixture_ctx limit=()
  else
    base=$models/$preset-F16.gguf base_type=F16 c=$ctx limit=(--chunks "$chunks")
    [ -f "$base" ] || "$rpu" synth --like "$preset" --type F16 -t "$threads" "$base" >&2
  fi
  "$rpu" perplexity "$base" -f "$text" -c "$c" "${limit[@]}" -t "$threads" --kl-divergence-base "$tmp/rpu.base" \
    >"$tmp/rpu.out" 2>&1 || { cat "$tmp/rpu.out" >&2; exit 1; }
  llama -m "$base" -f "$text" -c "$c" "${limit[@]}" -t "$threads" --kl-divergence-base "$tmp/llama.base"
  row "$preset" "$base_type" "$tmp/rpu.out" "$tmp/llama.out"
  for type in $types; do
    file=$models/$preset-$type.gguf
    [ -f "$file" ] || "$rpu" quantize "$base" "$file" "$type" -t "$threads" >&2
    "$rpu" perplexity "$file" -f "$text" -t "$threads" --kl-divergence-base "$tmp/rpu.base" --kl-divergence \
      >"$tmp/rpu.out" 2>&1 || { cat "$tmp/rpu.out" >&2; exit 1; }
    llama -m "$file" -f "$text" -c "$c" -t "$threads" --kl-divergence-base "$tmp/llama.base" --kl-divergence
    row "$preset" "$type" "$tmp/rpu.out" "$tmp/llama.out"
  done
done
exit $failed
