#!/usr/bin/env bash
# The reader benchmark (issue 14, "the RPU claim, measured"): a small model trained from scratch
# with `rpu train` to answer from supplied sources with citations, evaluated on a knowledge base
# built from a corpus it never saw. End to end:
#   1. corpora from Debian: WordNet glosses (training), the Jargon File (evaluation)
#   2. documents + question/answer triples (bench/kb/make_qa.mjs)
#   3. knowledge bases (BM25, 64-word chunks; the evaluation one also with the built-in model's
#      embeddings, for dense/hybrid retrieval)
#   4. training data from exactly the served prompts (`rpu ask --questions --print-messages`,
#      bench/kb/make_train.mjs): a mix of k = 1, 2 and 3 sources (a quarter, a quarter, a half:
#      short easy examples, where the entry is source [1], beside the served k = 3), answers
#      written "TERM: definition [n]" (make_train.mjs --answer term); questions whose entry is in
#      context only by chunks without the answer are left out (--partial drop)
#   5. `rpu train --fit-vocab 2048` (llama, width 256, 6 layers: the built-in model's shape, with
#      a 2,048-piece vocabulary fitted to the training conversations; 5.2M parameters)
#   6. evaluation through `rpu serve --kb` and the openai client (bench/kb/eval_reader.mjs),
#      the built-in arithmetic model as a baseline reader
# Usage: bench/kb/reader.sh [--quick] [--out DIR] [--minutes M] [--train-questions N] [--n N]
#                           [--train-corpora wordnet[,gcide][,debref]] [--steps N] [--seed N]
#   --quick: a few-minute smoke run (small data, 2 training minutes, 30 questions)
#   --steps N: train exactly N optimizer steps (N x 4 x 512 tokens), the cosine over the steps,
#     with no time limit (--minutes is ignored), as many epochs as that takes: a run to compare
#     with another whatever the machine's speed (the default, a time box, anneals by wall time)
#   --seed N: the training seed, `rpu train --seed` (default 1, the seed of runs 1-5). It seeds
#     the initial weights and each epoch's shuffle of the conversations; the held-out split (a
#     hash of each line) and the fitted vocabulary do not depend on it (bench/RESULTS.md, "Run 6")
#   --train-corpora: the training corpora (default wordnet). gcide (Debian dict-gcide, Webster's
#     1913 dictionary) adds paragraph-shaped sources: the entries of at least 150 characters,
#     several senses each (bench/RESULTS.md, "Run 3"). The training questions are split evenly
#     between the corpora, each retrieved from its own base with the same k = 1/2/3 mix; the
#     vocabulary is fitted to the mix. Each corpus gets an in-distribution evaluation.
#     debref (Debian debian-reference-en, the Debian Reference manual) adds paragraph-shaped
#     technical prose: its sections (heading -> paragraphs), 446 questions in all ("Run 5"). A
#     corpus with fewer questions than its even share gives all it has (its shards cover the
#     first half of its questions) and the rest of the share is split among the others: with
#     wordnet,gcide,debref and --train-questions 20220, WordNet and GCIDE get run 3's 10,000 each.
#   STEPS="data train eval" (the default): only some of them, e.g. STEPS=eval after a run
# The first run in bench/RESULTS.md (5.15M parameters, 4.1M of them a copied 32k LLaMA
# vocabulary, 30 minutes, answers without the term) is the commands listed there.
# Outputs go to DIR (default bench/out/reader, ignored by git): data, bases, model, results.
set -euo pipefail
cd "$(dirname "$0")/../.."
RPU=${RPU:-build/rpu}
OUT=bench/out/reader
MINUTES=50
TRAIN_Q=20000  # training questions, of WordNet's 60,000 (48,000 answerable + 12,000 absent)
VOCAB_PIECES=2048
N=300          # evaluation questions
QUICK=0
CORPORA=wordnet
TRAIN_STEPS=0  # --steps; 0: the time box decides
TRAIN_SEED=1   # --seed
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --minutes) MINUTES=$2; shift ;;
    --train-questions) TRAIN_Q=$2; shift ;;
    --n) N=$2; shift ;;
    --train-corpora) CORPORA=$2; shift ;;
    --steps) TRAIN_STEPS=$2; shift ;;
    --seed) TRAIN_SEED=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then MINUTES=2; TRAIN_Q=600; N=30; VOCAB_PIECES=1024; fi
export RPU_PEERS_DIR=${RPU_PEERS_DIR:-$PWD/tests/peers}
STEPS=${STEPS:-"data train eval"}
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
mkdir -p "$OUT"
MODEL="$OUT/run/model.gguf"

if has_step data; then

# 1. Corpora (Debian packages; not in scripts/install-deps.sh: only this benchmark needs them).
#    Never dict-foldoc (FOLDOC holds Jargon File entries): the evaluation corpus stays unseen.
IFS=, read -r -a CORPUS_LIST <<< "$CORPORA"
PKGS="jargon-text"
for c in "${CORPUS_LIST[@]}"; do
  case "$c" in
    wordnet) PKGS="$PKGS wordnet-base" ;;
    gcide) PKGS="$PKGS dict-gcide" ;;
    debref) PKGS="$PKGS debian-reference-en" ;;
    *) echo "reader.sh: unknown training corpus $c (wordnet, gcide, debref)" >&2; exit 2 ;;
  esac
done
# shellcheck disable=SC2086
if ! dpkg -s $PKGS >/dev/null 2>&1; then
  apt-get install -y $PKGS
fi

# 2. Documents and questions. WordNet: 75,000 glosses sampled, 60,000 questions, 20% of them
#    (12,000) about held-out glosses (absent questions). GCIDE: the entries of at least 150
#    characters (26,708), 24,000 questions (4,800 absent). The Jargon File: 300 questions (240
#    answerable, 60 about held-out entries).
for c in "${CORPUS_LIST[@]}"; do
  case "$c" in
    wordnet) node bench/kb/make_qa.mjs --corpus wordnet --out "$OUT/wordnet" --entries 75000 --questions 60000 --seed 1 ;;
    gcide) node bench/kb/make_qa.mjs --corpus gcide --out "$OUT/gcide" --min-chars 150 --questions 24000 --seed 3 ;;
    debref) node bench/kb/make_qa.mjs --corpus debref --out "$OUT/debref" --seed 4 ;;
  esac
done
node bench/kb/make_qa.mjs --corpus jargon --out "$OUT/jargon" --questions "$N" --seed 2
# The check that the Jargon File is unseen: its answers verbatim in the training documents.
docs=()
for c in "${CORPUS_LIST[@]}"; do docs+=("$OUT/$c/docs"); done
node bench/kb/check_unseen.mjs --qa "$OUT/jargon/qa.jsonl" --docs "$(IFS=,; echo "${docs[*]}")" > "$OUT/unseen-check.json"
echo "unseen check: $(grep -m2 -E '"(verbatim|sharing_8_words)"' "$OUT/unseen-check.json" | tr -d '\n') ($OUT/unseen-check.json)"

# 3. Knowledge bases.
for c in "${CORPUS_LIST[@]}"; do
  rm -f "$OUT/$c.kb"
  "$RPU" kb create "$OUT/$c.kb" --chunk-tokens 64 --overlap 8
  "$RPU" kb add "$OUT/$c.kb" "$OUT/$c/docs"
done
rm -f "$OUT"/jargon.kb "$OUT"/jargon-dense.kb
"$RPU" kb create "$OUT/jargon.kb" --chunk-tokens 64 --overlap 8
"$RPU" kb add "$OUT/jargon.kb" "$OUT/jargon/docs"
# ~64 words in the built-in model's tokens (about 2.5 a word)
"$RPU" kb create "$OUT/jargon-dense.kb" --embed builtin --chunk-tokens 160 --overlap 20
"$RPU" kb add "$OUT/jargon-dense.kb" "$OUT/jargon/docs"

# 4. Training data: the served prompts (BM25) for TRAIN_Q questions, split evenly between the
#    corpora; per corpus in four shards, spread over the first half of its questions (shard i
#    starts at question i * STRIDE + 1, STRIDE = an eighth of its questions: 7,500 for WordNet):
#    the first with k = 1, the second with k = 2, the last two with k = 3 (the served k); one
#    process per shard (retrieval runs at ~20 questions/s on 2 shared cores). Questions in the
#    second half were never trained on (the in-distribution check).
#    A corpus whose stride is below its even share (debref) gives STRIDE questions a shard; the
#    rest of the share goes to the others, evenly.
declare -A QC
SHARE=$((TRAIN_Q / 4 / ${#CORPUS_LIST[@]}))
LEFT=$((TRAIN_Q / 4)) BIG=0
for c in "${CORPUS_LIST[@]}"; do
  STRIDE=$(($(wc -l < "$OUT/$c/qa.jsonl") / 8))
  if [ "$STRIDE" -lt "$SHARE" ]; then
    QC[$c]=$STRIDE; LEFT=$((LEFT - STRIDE))
    echo "reader.sh: $c has $STRIDE questions a shard (all of the first half of its questions)"
  else BIG=$((BIG + 1)); fi
done
for c in "${CORPUS_LIST[@]}"; do [ -n "${QC[$c]:-}" ] || QC[$c]=$((LEFT / BIG)); done
SHARDS="k1 k2 k3a k3b"
PIDS=()
qa=() msg=()
for c in "${CORPUS_LIST[@]}"; do
  STRIDE=$(($(wc -l < "$OUT/$c/qa.jsonl") / 8))
  Q=${QC[$c]}
  [ "$Q" -le "$STRIDE" ] || { echo "reader.sh: --train-questions too many for $c ($Q a shard, at most $STRIDE)" >&2; exit 2; }
  # (line ranges by sed, not tail | head: under pipefail, tail's SIGPIPE would end the script)
  i=0
  for s in $SHARDS; do
    sed -n "$((i * STRIDE + 1)),$((i * STRIDE + Q))p" "$OUT/$c/qa.jsonl" > "$OUT/$c/qa.$s"
    i=$((i + 1))
  done
  sed -n "$((4 * STRIDE + 1)),\$p" "$OUT/$c/qa.jsonl" > "$OUT/$c/qa.unseen"
  for s in $SHARDS; do
    k=${s:1:1}
    "$RPU" ask --kb "$OUT/$c.kb" --questions "$OUT/$c/qa.$s" --print-messages -k "$k" --mode bm25 \
      > "$OUT/$c/msg.$s" &
    PIDS+=($!)
    qa+=("$OUT/$c/qa.$s"); msg+=("$OUT/$c/msg.$s")
  done
done
for pid in "${PIDS[@]}"; do wait "$pid"; done  # (a bare `wait` would hide a failed one)
node bench/kb/make_train.mjs --qa "$(IFS=,; echo "${qa[*]}")" --messages "$(IFS=,; echo "${msg[*]}")" \
  --answer term --partial drop --out "$OUT/train.jsonl"

fi

# 5. Train from scratch: the built-in model's shape (width 256, 6 layers, 8 heads over 4 KV
#    heads, FFN 768) reading a vocabulary of VOCAB_PIECES fitted to the training conversations
#    (5.2M parameters at 2,048 pieces, 0.5M of them the tied embeddings), time-boxed.
if has_step train; then
rm -rf "$OUT/run"
if [ "$TRAIN_STEPS" -gt 0 ]; then
  BUDGET=(--epochs 1000 --steps "$TRAIN_STEPS" --minutes 0)
else
  BUDGET=(--epochs 4 --steps 100000 --minutes "$MINUTES")
fi
nice -n 10 "$RPU" train --fit-vocab "$VOCAB_PIECES" --chat-template specialist/chat_template.jinja \
  --data "$OUT/train.jsonl" -o "$OUT/run" --name rpu-reader \
  --embd 256 --layers 6 --heads 8 --kv-heads 4 --ff 768 --ctx 1024 \
  --seq-len 512 --batch 4 "${BUDGET[@]}" --lr 2e-3 --warmup 100 \
  --eval-every 200 --validation 0.005 --seed "$TRAIN_SEED" --threads 2
fi

# 6. Evaluation on the Jargon File (never seen in training).
if has_step eval; then
node bench/kb/eval_reader.mjs --rpu "$RPU" --model "$MODEL" --kb "jargon=$OUT/jargon.kb" \
  --qa "$OUT/jargon/qa.jsonl" --n "$N" --modes closed,bm25 --label reader --out "$OUT/reader-bm25.json"
node bench/kb/eval_reader.mjs --rpu "$RPU" --model "$MODEL" --kb "jargon=$OUT/jargon-dense.kb" \
  --qa "$OUT/jargon/qa.jsonl" --n "$N" --modes bm25,dense,hybrid --label reader-densebase --out "$OUT/reader-dense.json"
node bench/kb/eval_reader.mjs --rpu "$RPU" --model builtin --kb "jargon=$OUT/jargon.kb" \
  --qa "$OUT/jargon/qa.jsonl" --n "$N" --modes closed,bm25 --label builtin-arith --out "$OUT/builtin-bm25.json"
# In distribution: each training corpus's questions never trained on, over the base it was
# trained with.
results=("$OUT/reader-bm25.json" "$OUT/reader-dense.json" "$OUT/builtin-bm25.json")
IFS=, read -r -a CORPUS_LIST <<< "$CORPORA"
for c in "${CORPUS_LIST[@]}"; do
  node bench/kb/eval_reader.mjs --rpu "$RPU" --model "$MODEL" --kb "$c=$OUT/$c.kb" \
    --qa "$OUT/$c/qa.unseen" --n "$N" --modes bm25 --label "reader-$c" --out "$OUT/reader-$c.json"
  results+=("$OUT/reader-$c.json")
done
echo "results: ${results[*]}"
fi
