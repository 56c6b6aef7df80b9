#!/bin/bash
# Training speed, f32 vs bf16 products (issue 16): the built-in model's recipe (models/README.md,
# v1: 6 layers, width 256, 8 rows x 256 tokens per step) for a few steps with BIN, measured as
# the CPU seconds (user + sys, both threads) the process spends on optimizer steps 6..29, read
# from /proc between loss.csv rows 6 and 30, so a machine shared with other jobs does not skew
# it the way wall time does. Usage: bench/train_speed.sh BIN OUT [--precision f32|bf16]
# Data: node /tmp/gen_data_v1.mjs --out /tmp/arith --train 60000 --test 500 --seed 1 (models/README.md).
set -e
bin=$1; out=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
data=${RPU_ARITH_DATA:-/tmp/arith/train.jsonl}
rm -rf "$out"
"$bin" train --tokenizer-from "$root/../shared/fixtures/stories260K/stories260K.gguf" \
  --chat-template "$root/specialist/chat_template.jinja" --data "$data" -o "$out" \
  --name rpu-arith --embd 256 --layers 6 --heads 8 --kv-heads 4 --ff 768 --ctx 512 \
  --seq-len 256 --batch 8 --epochs 2 --steps 30 --lr 2e-3 --warmup 50 \
  --eval-every 100 --validation 0.02 --seed 1 --threads 2 "$@" > "$out.log" 2>&1 &
pid=$!
cpu() { awk '{print ($14 + $15) / 100}' /proc/$1/stat; }
a=""; b=""
while kill -0 $pid 2>/dev/null; do
  n=$( (wc -l < "$out/loss.csv") 2>/dev/null || echo 0)
  if [ -z "$a" ] && [ "$n" -ge 6 ]; then a=$(cpu $pid); fi
  if [ -z "$b" ] && [ "$n" -ge 30 ]; then b=$(cpu $pid); fi
  sleep 0.2
done
wait $pid
echo "cpu seconds for steps 6-29: $(echo "$b - $a" | bc); tokens per cpu-second: $(echo "24 * 2048 / ($b - $a)" | bc)"
