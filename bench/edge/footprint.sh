#!/usr/bin/env bash
# The footprint table of bench/RESULTS.md (issue 17): binary sizes of the full and minimal
# builds (as built, and stripped), and per model the peak resident memory of one `rpu run`
# (/usr/bin/time -v) with the file mapped and with --no-mmap, plus rpu run's own closing line
# (file-backed vs anonymous resident memory at exit, from /proc/self/status).
#   bench/edge/footprint.sh FULL_BUILD_DIR MINIMAL_BUILD_DIR [OUT_DIR]
# The models: the built-in one (no file) and a SmolLM2-135M-shaped Q4_0 made by rpu synth.
set -euo pipefail
full=${1:?usage: $0 FULL_BUILD_DIR MINIMAL_BUILD_DIR [OUT_DIR]}
minimal=${2:?usage: $0 FULL_BUILD_DIR MINIMAL_BUILD_DIR [OUT_DIR]}
out=${3:-$(mktemp -d)}
mkdir -p "$out"
smollm=$out/smollm2-135m-q4_0.gguf
[ -f "$smollm" ] || "$full/rpu" synth --like smollm2-135m --type Q4_0 "$smollm" >/dev/null

echo "| build | rpu size | stripped |"
echo "|---|---:|---:|"
for variant in full minimal; do
  bin=$([ $variant = full ] && echo "$full/rpu" || echo "$minimal/rpu")
  strip -o "$out/rpu-$variant.stripped" "$bin"
  printf '| %s | %.1f MiB | %.1f MiB |\n' "$variant" "$(echo "$(stat -c %s "$bin") / 1048576" | bc -l)" \
    "$(echo "$(stat -c %s "$out/rpu-$variant.stripped") / 1048576" | bc -l)"
done
echo
echo "| build | model | load | ctx | peak RSS | at exit: file-backed / anonymous |"
echo "|---|---|---|---:|---:|---|"
# Each case: model, flags. The KV cache is anonymous memory sized by the context (--ctx; default
# the model's, at most 4096), so the SmolLM2 shape runs with both.
cases=("builtin|" "builtin|--no-mmap" "smollm|" "smollm|--no-mmap" "smollm|-c 512" "smollm|-c 512 --no-mmap")
for variant in full minimal; do
  bin=$out/rpu-$variant.stripped
  for c in "${cases[@]}"; do
    model=${c%%|*}
    read -r -a flags <<<"${c#*|}"
    args=(run)
    [ $model = smollm ] && args+=("$smollm" --raw -p "Once upon a time" -n 32) || args+=(-p "What is 17+25?" -n 16)
    /usr/bin/time -v "$bin" "${args[@]}" ${flags[@]+"${flags[@]}"} -t 2 --temp 0 >/dev/null 2>"$out/time.txt"
    peak=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f MiB", $2 / 1024}' "$out/time.txt")
    memory=$(grep -h '^memory:' "$out/time.txt" | sed -E 's/.*now ([0-9.]+ MiB) file-backed.*, ([0-9.]+ MiB) anonymous.*/\1 \/ \2/')
    name=$([ $model = smollm ] && echo "SmolLM2-135M-shaped Q4_0 ($(du -m "$smollm" | cut -f1) MB)" || echo "built-in rpu-arith")
    load=$([[ " ${flags[*]-} " == *" --no-mmap "* ]] && echo "--no-mmap" || echo "mmap")
    ctx=$([[ " ${flags[*]-} " == *" -c 512"* ]] && echo 512 || echo default)
    echo "| $variant | $name | $load | $ctx | $peak | $memory |"
  done
done
