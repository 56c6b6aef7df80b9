#!/usr/bin/env bash
# Replays a reference run's learning rates by steps (issue 14, reader run 7), where a cosine that
# ends at its own --steps cannot: each segment "B T PEAK W" of SEGMENTS trains with
# `--steps T --lr PEAK --warmup W` (the first from scratch, the others --resume) and is stopped at
# step B < T by its checkpoint (--checkpoint-every B writes one exactly at step B; the process is
# killed as soon as the checkpoint says B, and loss.csv is cut back to step B). A segment with
# B = T ends by itself. The segments come from bench/kb/fit_lr_segments.mjs.
# The train command is reader.sh's (step 5) with only --steps/--lr/--warmup/--seed and the
# checkpointing differing: change both together. The step a checkpoint holds is its first int32
# (src/train/trainer.cpp writes the step, then the tokens seen, then the tensors).
# Usage: bench/kb/replay_lr.sh SEGMENTS DATA OUT_DIR SEED   (RPU=path/to/rpu)
# SEGMENTS is read one line at a time, when each segment starts (it can be extended while the
# first runs); a line "end" or the end of the file stops.
set -euo pipefail
SEGS=$1 DATA=$2 RUN=$3 SEED=$4
RPU=${RPU:-build/rpu}
i=0
while :; do
  i=$((i + 1))
  line=$(sed -n "${i}p" "$SEGS")
  [ -n "$line" ] && [ "$line" != end ] || break
  read -r B T PEAK W <<< "$line"
  RESUME=()
  [ "$i" -gt 1 ] && RESUME=(--resume)
  [ "$i" -eq 1 ] && rm -rf "$RUN"
  echo "replay_lr: segment $i: to step $B of a cosine to $T, peak $PEAK, warmup $W ($(date -u +%T))"
  nice -n 10 "$RPU" train --fit-vocab 2048 --chat-template specialist/chat_template.jinja \
    --data "$DATA" -o "$RUN" --name rpu-reader \
    --embd 256 --layers 6 --heads 8 --kv-heads 4 --ff 768 --ctx 1024 \
    --seq-len 512 --batch 4 --epochs 1000 --steps "$T" --minutes 0 --lr "$PEAK" --warmup "$W" \
    --eval-every 200 --validation 0.005 --seed "$SEED" --threads 2 --checkpoint-every "$B" \
    "${RESUME[@]}" &
  pid=$!
  if [ "$B" -lt "$T" ]; then
    while :; do
      if [ -f "$RUN/checkpoint.bin" ] && [ "$(od -An -t d4 -N4 "$RUN/checkpoint.bin" | tr -d ' ')" = "$B" ]; then
        kill "$pid"; wait "$pid" || true
        break
      fi
      kill -0 "$pid" 2>/dev/null || { echo "replay_lr: segment $i ended before step $B" >&2; exit 1; }
      sleep 0.05
    done
    # the step after B may have been logged before the kill
    awk -F, -v b="$B" 'NR == 1 || $1 <= b' "$RUN/loss.csv" > "$RUN/loss.csv.tmp" && mv "$RUN/loss.csv.tmp" "$RUN/loss.csv"
  else
    wait "$pid"
  fi
  echo "replay_lr: segment $i done at step $(od -An -t d4 -N4 "$RUN/checkpoint.bin" | tr -d ' ') ($(date -u +%T))"
done
