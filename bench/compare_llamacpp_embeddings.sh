#!/usr/bin/env bash
# rpu's bert encoder against llama.cpp's on the same GGUF files (random weights in real
# embedding models' shapes, written by `rpu synth`): the cosine between the two engines'
# embeddings of the same texts, one row per file.
#
#   LLAMA_EMBEDDING=/path/to/llama-embedding bench/compare_llamacpp_embeddings.sh [MODELS_DIR]
#
# llama.cpp is built by you, outside this repository; this script only runs its
# llama-embedding (model's own pooling, L2-normalised: --embd-normalize 2). rpu answers
# /v1/embeddings from `rpu serve`. Random-weight models give every text a large shared
# component, so the table also shows the cosine after centring each engine's vectors on their
# mean over the texts, and how close the two closest texts are (the scale a difference needs
# to stay well under). Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
rpu=${RPU:-build/rpu}
llama_embedding=${LLAMA_EMBEDDING:?set LLAMA_EMBEDDING to a llama-embedding binary built outside this repository}
models=${1:-/tmp/rpu-embedding-models}
threads=${THREADS:-2}
port=${PORT:-18779}
rows=${ROWS:-"bge-small:F32 bge-small:Q8_0 all-minilm-l6:F32 all-minilm-l6:Q8_0"}
mkdir -p "$models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/texts.txt" <<'TEXTS'
The quick brown fox jumps over the lazy dog.
What is the capital of France?
Embeddings map text to vectors; similar meanings land close together.
rpu runs small language models on your own hardware.
A short one
Mixed CASE, punctuation!? and numbers 12345 in one sentence.
TEXTS
# One input of about 500 tokens, near the end of the 512-row position table.
python3 -c "s = 'Long inputs exercise attention over many positions, and the position table up to its end. '
print((s * 40)[:1500].rsplit(' ', 1)[0])" >> "$tmp/texts.txt"

cat > "$tmp/compare.py" <<'PY'
import json, math, sys
def load(p): return [d['embedding'] for d in json.load(open(p))['data']]
def cos(a, b): return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
def centred(vs):
    m = [sum(c) / len(vs) for c in zip(*vs)]
    return [[x - y for x, y in zip(v, m)] for v in vs]
r, l = load(sys.argv[1]), load(sys.argv[2])
assert len(r) == len(l), (len(r), len(l))
raw = min(cos(a, b) for a, b in zip(r, l))
cen = min(cos(a, b) for a, b in zip(centred(r), centred(l)))
closest = max(cos(l[i], l[j]) for i in range(len(l)) for j in range(i + 1, len(l)))
print('| %s | %s | %d | %.7f | %.1e | %.5f | %.5f |' % (sys.argv[3], sys.argv[4], len(r), raw, 1 - raw, cen, closest))
PY

python3 -c "import json; print(json.dumps({'model': 'm', 'input': [l.rstrip('\n') for l in open('$tmp/texts.txt')]}))" \
  > "$tmp/request.json"
echo "| shape | type | texts | min cosine | 1 - cosine | min centred cosine | closest two texts |"
echo "|---|---|---:|---:|---:|---:|---:|"
for row in $rows; do
  preset=${row%%:*}
  type=${row##*:}
  file="$models/$preset-$type.gguf"
  [ -f "$file" ] || "$rpu" synth --like "$preset" --type "$type" "$file" >&2
  "$rpu" serve "$file" --alias m --port "$port" --threads "$threads" 2> "$tmp/serve.log" &
  server=$!
  for _ in $(seq 100); do grep -q "serving" "$tmp/serve.log" && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/v1/embeddings" -H 'content-type: application/json' -d @"$tmp/request.json" \
    > "$tmp/rpu.json"
  kill "$server"
  wait "$server" 2> /dev/null || true
  "$llama_embedding" -m "$file" -t "$threads" -f "$tmp/texts.txt" --embd-output-format json --embd-normalize 2 \
    > "$tmp/llama.out" 2> "$tmp/llama.err"
  python3 -c "s = open('$tmp/llama.out').read(); open('$tmp/llama.json', 'w').write(s[s.index('{'):])"
  python3 "$tmp/compare.py" "$tmp/rpu.json" "$tmp/llama.json" "$preset" "$type"
done
