#!/usr/bin/env bash
# rpu serve's POST /v1/rerank against llama-server's (started with --rerank) on the same GGUF
# files (random weights in a real reranker's shape, written by `rpu synth`): the same query and
# documents sent to both servers over HTTP, the relevance scores compared by document index.
# The server-side twin of bench/compare_llamacpp_rerank.sh (which compares `rpu rerank` with
# llama-embedding): this one checks the whole HTTP path, the scheduler's pair batches included.
#
#   LLAMA_SERVER=/path/to/llama-server bench/compare_llamacpp_rerank_server.sh [MODELS_DIR]
#
# llama.cpp is built by you, outside this repository; this script only runs its llama-server.
# Prints a Markdown table: the largest score difference against llama-server's /v1/rerank, and
# against llama-server's /embeddings on the pair rpu builds ([CLS] query [SEP] document [SEP],
# written with its [SEP] and special tokens parsed: llama-server's /v1/rerank leaves out the
# closing [SEP] of a WordPiece vocabulary, whose add_eos is false), whether the documents come
# out in the same order, the spread of the scores (the scale a difference must stay well under),
# and both servers' usage.prompt_tokens for /v1/rerank.
set -euo pipefail
cd "$(dirname "$0")/.."
rpu=${RPU:-build/rpu}
llama_server=${LLAMA_SERVER:?set LLAMA_SERVER to a llama-server binary built outside this repository}
models=${1:-/tmp/rpu-rerank-models}
threads=${THREADS:-2}
rows=${ROWS:-"ms-marco-minilm-l6:F32 ms-marco-minilm-l6:Q8_0 rerank-tiny:F32"}
mkdir -p "$models"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits until GET $1/health answers 200 (a model loading answers 503), at most 120 s.
wait_healthy() {
  for _ in $(seq 1 240); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)' "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "no answer from $1/health" >&2
  return 1
}

# The request both servers get: the documents of compare_llamacpp_rerank.sh, one of about 350
# tokens near the 512-row position table.
python3 - > "$tmp/request.json" <<'PY'
import json
documents = [
    "A small model reads retrieved passages in its context and answers with citations.",
    "The weather in Lisbon is mild in winter.",
    "Retrieval-augmented generation puts the best chunks of a knowledge base into the prompt.",
    "Quantization stores weights in fewer bits.",
    "Cross-encoders read the query and a document together and score their relevance.",
    "A short one",
    ("Long documents exercise attention over many positions of the table. " * 30)[:1000],
]
print(json.dumps({"query": "how do small language models answer from documents", "documents": documents,
                  "top_n": len(documents)}))
PY

echo "| model | type | pairs | vs llama-server /v1/rerank: max abs difference (same order) | vs llama-server on the same pair tokens (same order) | score spread (max - min) | prompt tokens rpu / llama-server /v1/rerank |"
echo "|---|---|---:|---:|---:|---:|---|"
for row in $rows; do
  preset=${row%%:*}
  type=${row##*:}
  file="$models/$preset-$type.gguf"
  [ -f "$file" ] || "$rpu" synth --like "$preset" --type "$type" "$file" >&2
  rpu_port=$(free_port)
  llama_port=$(free_port)
  "$rpu" serve "$file" --port "$rpu_port" --threads "$threads" 2> "$tmp/rpu.log" &
  pids+=($!)
  "$llama_server" -m "$file" --rerank --port "$llama_port" -t "$threads" -c 4096 -b 4096 -ub 4096 -np 1 \
    2> "$tmp/llama.log" > /dev/null &
  pids+=($!)
  wait_healthy "http://127.0.0.1:$rpu_port" || { cat "$tmp/rpu.log" >&2; exit 1; }
  wait_healthy "http://127.0.0.1:$llama_port" || { cat "$tmp/llama.log" >&2; exit 1; }
  python3 - "$tmp/request.json" "$rpu_port" "$llama_port" "$preset" "$type" <<'PY'
import json, sys, urllib.request
request = json.load(open(sys.argv[1]))
def rerank(port):
    body = json.dumps(dict(request, model="m")).encode()
    req = urllib.request.Request("http://127.0.0.1:%s/v1/rerank" % port, body, {"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(req, timeout=120))
    scores = {r["index"]: r["relevance_score"] for r in answer["results"]}
    return [scores[i] for i in range(len(request["documents"]))], answer["usage"]["prompt_tokens"]
# llama-server's own /embeddings on the pair written out with its [SEP] (special tokens parsed,
# [CLS] and the closing [SEP] added): [CLS] query [SEP] document [SEP], the pair rpu builds,
# scored raw (embd_normalize -1) by the same server.
def pair_scores(port):
    scores = []
    for document in request["documents"]:
        body = json.dumps({"content": request["query"] + " [SEP] " + document, "embd_normalize": -1}).encode()
        req = urllib.request.Request("http://127.0.0.1:%s/embeddings" % port, body, {"Content-Type": "application/json"})
        value = json.load(urllib.request.urlopen(req, timeout=120))
        while isinstance(value, (list, dict)):
            value = value["embedding"] if isinstance(value, dict) else value[0]
        scores.append(value)
    return scores
r, r_tokens = rerank(sys.argv[2])
l, l_tokens = rerank(sys.argv[3])
p = pair_scores(sys.argv[3])
def compare(a, b):
    same = sorted(range(len(a)), key=lambda i: -a[i]) == sorted(range(len(b)), key=lambda i: -b[i])
    return max(abs(x - y) for x, y in zip(a, b)), "yes" if same else "no"
diff, order = compare(r, l)
pdiff, porder = compare(r, p)
print("| %s | %s | %d | %.2e (%s) | %.2e (%s) | %.4f | %d / %d |" % (sys.argv[4], sys.argv[5], len(r), diff, order, pdiff,
                                                                   porder, max(p) - min(p), r_tokens, l_tokens))
PY
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done
