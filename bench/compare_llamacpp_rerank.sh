#!/usr/bin/env bash
# rpu's cross-encoder reranker against llama.cpp's on the same GGUF files (random weights in a
# real reranker's shape, written by `rpu synth`): the relevance scores of the same
# (query, document) pairs from `rpu rerank` and `llama-embedding --pooling rank` (llama.cpp's
# "query<TAB>document" lines: [CLS] query [SEP] document [SEP], scores not normalised).
#
#   LLAMA_EMBEDDING=/path/to/llama-embedding bench/compare_llamacpp_rerank.sh [MODELS_DIR]
#
# llama.cpp is built by you, outside this repository; this script only runs its
# llama-embedding. Prints a Markdown table: the largest score difference, the spread of the
# scores (the scale a difference must stay well under), and whether both rank the documents
# in the same order.
set -euo pipefail
cd "$(dirname "$0")/.."
rpu=${RPU:-build/rpu}
llama_embedding=${LLAMA_EMBEDDING:?set LLAMA_EMBEDDING to a llama-embedding binary built outside this repository}
models=${1:-/tmp/rpu-rerank-models}
threads=${THREADS:-2}
rows=${ROWS:-"ms-marco-minilm-l6:F32 ms-marco-minilm-l6:Q8_0 rerank-tiny:F32"}
mkdir -p "$models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

query="how do small language models answer from documents"
cat > "$tmp/docs.txt" <<'DOCS'
A small model reads retrieved passages in its context and answers with citations.
The weather in Lisbon is mild in winter.
Retrieval-augmented generation puts the best chunks of a knowledge base into the prompt.
Quantization stores weights in fewer bits.
Cross-encoders read the query and a document together and score their relevance.
A short one
DOCS
# One document of about 350 tokens, near the 512-row position table (llama.cpp aborts on a
# longer pair; rpu cuts the document's end).
python3 -c "print(('Long documents exercise attention over many positions of the table. ' * 30)[:1000])" >> "$tmp/docs.txt"

echo "| model | type | pairs | max abs difference | score spread (max - min) | same order |"
echo "|---|---|---:|---:|---:|---|"
for row in $rows; do
  preset=${row%%:*}
  type=${row##*:}
  file="$models/$preset-$type.gguf"
  [ -f "$file" ] || "$rpu" synth --like "$preset" --type "$type" "$file" >&2
  "$rpu" rerank "$file" -q "$query" -f "$tmp/docs.txt" --json -t "$threads" > "$tmp/rpu.json"
  prompt=$(sed "s/^/$query\t/" "$tmp/docs.txt")
  "$llama_embedding" -m "$file" --pooling rank --embd-normalize -1 -t "$threads" -c 4096 -b 4096 -ub 4096 \
    --embd-output-format json -p "$prompt" > "$tmp/llama.json" 2>"$tmp/llama.err" || { cat "$tmp/llama.err" >&2; exit 1; }
  python3 - "$tmp/rpu.json" "$tmp/llama.json" "$preset" "$type" <<'PY'
import json, sys
rpu = {r["index"]: r["relevance_score"] for r in json.load(open(sys.argv[1]))["results"]}
llama = [d["embedding"][0] for d in json.load(open(sys.argv[2]))["data"]]
assert len(rpu) == len(llama), (len(rpu), len(llama))
r = [rpu[i] for i in range(len(llama))]
diff = max(abs(a - b) for a, b in zip(r, llama))
order = sorted(range(len(r)), key=lambda i: -r[i]) == sorted(range(len(llama)), key=lambda i: -llama[i])
print("| %s | %s | %d | %.2e | %.4f | %s |" % (sys.argv[3], sys.argv[4], len(r), diff, max(llama) - min(llama), "yes" if order else "no"))
PY
done
