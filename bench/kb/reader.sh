#!/usr/bin/env bash
# The reader benchmark (issue 14, "the RPU claim, measured"): a small model trained from scratch
# with `rpu train` to answer from supplied sources with citations, evaluated on a knowledge base
# built from a corpus it never saw. End to end:
#   1. corpora from Debian: WordNet glosses (training), the Jargon File (evaluation)
#   2. documents + question/answer triples (bench/kb/make_qa.mjs)
#   3. knowledge bases (BM25, 64-word chunks; the evaluation one also with the built-in model's
#      embeddings, for dense/hybrid retrieval)
#   4. training data from exactly the served prompts (`rpu ask --questions --print-messages`,
#      bench/kb/make_train.mjs)
#   5. `rpu train` (llama, width 128, 4 layers, LLaMA SentencePiece 32k vocabulary)
#   6. evaluation through `rpu serve --kb` and the openai client (bench/kb/eval_reader.mjs),
#      the built-in arithmetic model as a baseline reader
# Usage: bench/kb/reader.sh [--quick] [--out DIR] [--minutes M] [--train-questions N] [--n N]
#   --quick: a few-minute smoke run (small data, 2 training minutes, 30 questions)
# Outputs go to DIR (default bench/out/reader, ignored by git): data, bases, model, results.
set -euo pipefail
cd "$(dirname "$0")/../.."
RPU=${RPU:-build/rpu}
OUT=bench/out/reader
MINUTES=30
TRAIN_Q=9200   # training questions (the run in bench/RESULTS.md: 9,167)
N=300          # evaluation questions
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --minutes) MINUTES=$2; shift ;;
    --train-questions) TRAIN_Q=$2; shift ;;
    --n) N=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then MINUTES=2; TRAIN_Q=600; N=30; fi
export RPU_PEERS_DIR=${RPU_PEERS_DIR:-$PWD/tests/peers}
VOCAB=${VOCAB:-../shared/fixtures/vocab/ggml-vocab-llama-spm.gguf}
[ -f "$VOCAB" ] || VOCAB=/work/shared/fixtures/vocab/ggml-vocab-llama-spm.gguf
mkdir -p "$OUT"

# 1. Corpora (Debian packages; not in scripts/install-deps.sh: only this benchmark needs them).
if ! dpkg -s jargon-text wordnet-base >/dev/null 2>&1; then
  apt-get install -y jargon-text wordnet-base
fi

# 2. Documents and questions. WordNet: 40,000 glosses, 20% held out for absent questions; the
#    Jargon File: 300 questions (240 answerable, 60 about held-out entries).
node bench/kb/make_qa.mjs --corpus wordnet --out "$OUT/wordnet" --entries 40000 --questions 30000 --seed 1
node bench/kb/make_qa.mjs --corpus jargon --out "$OUT/jargon" --questions "$N" --seed 2

# 3. Knowledge bases.
rm -f "$OUT"/wordnet.kb "$OUT"/jargon.kb "$OUT"/jargon-dense.kb
"$RPU" kb create "$OUT/wordnet.kb" --chunk-tokens 64 --overlap 8
"$RPU" kb add "$OUT/wordnet.kb" "$OUT/wordnet/docs"
"$RPU" kb create "$OUT/jargon.kb" --chunk-tokens 64 --overlap 8
"$RPU" kb add "$OUT/jargon.kb" "$OUT/jargon/docs"
# ~64 words in the built-in model's tokens (about 2.5 a word)
"$RPU" kb create "$OUT/jargon-dense.kb" --embed builtin --chunk-tokens 160 --overlap 20
"$RPU" kb add "$OUT/jargon-dense.kb" "$OUT/jargon/docs"

# 4. Training data: the served prompts (k = 3, BM25) for TRAIN_Q questions, in two processes.
split -n l/2 -d "$OUT/wordnet/qa.jsonl" "$OUT/wordnet/qa.half"
for p in 00 01; do
  head -n $((TRAIN_Q / 2)) "$OUT/wordnet/qa.half$p" > "$OUT/wordnet/qa.part$p"
  "$RPU" ask --kb "$OUT/wordnet.kb" --questions "$OUT/wordnet/qa.part$p" --print-messages -k 3 --mode bm25 \
    > "$OUT/wordnet/msg.part$p" &
done
wait
node bench/kb/make_train.mjs --qa "$OUT/wordnet/qa.part00,$OUT/wordnet/qa.part01" \
  --messages "$OUT/wordnet/msg.part00,$OUT/wordnet/msg.part01" --out "$OUT/train.jsonl"

# 5. Train from scratch (about 5M parameters, 4.1M of them the tied 32k embeddings).
"$RPU" train --tokenizer-from "$VOCAB" --chat-template specialist/chat_template.jinja \
  --data "$OUT/train.jsonl" -o "$OUT/run" --name rpu-reader \
  --embd 128 --layers 4 --heads 4 --kv-heads 4 --ff 512 --ctx 1024 \
  --seq-len 512 --batch 2 --epochs 2 --steps 1100 --minutes "$MINUTES" --lr 3e-3 --warmup 30 \
  --eval-every 100 --validation 0.005 --seed 1 --threads 2
MODEL="$OUT/run/model.gguf"

# 6. Evaluation on the Jargon File (never seen in training).
node bench/kb/eval_reader.mjs --rpu "$RPU" --model "$MODEL" --kb "jargon=$OUT/jargon.kb" \
  --qa "$OUT/jargon/qa.jsonl" --n "$N" --modes closed,bm25 --label reader --out "$OUT/reader-bm25.json"
node bench/kb/eval_reader.mjs --rpu "$RPU" --model "$MODEL" --kb "jargon=$OUT/jargon-dense.kb" \
  --qa "$OUT/jargon/qa.jsonl" --n "$N" --modes bm25,dense,hybrid --label reader-densebase --out "$OUT/reader-dense.json"
node bench/kb/eval_reader.mjs --rpu "$RPU" --model builtin --kb "jargon=$OUT/jargon.kb" \
  --qa "$OUT/jargon/qa.jsonl" --n "$N" --modes closed,bm25 --label builtin-arith --out "$OUT/builtin-bm25.json"
echo "results: $OUT/reader-bm25.json $OUT/reader-dense.json $OUT/builtin-bm25.json"
