#!/usr/bin/env bash
# Knowledge bases at scale (issue 14): ingestion throughput through `rpu kb add`, query latency
# (BM25, dense exact scan, dense HNSW, hybrid) at 10k / 100k / 1M chunks, HNSW recall@10 and build
# time, peak RSS, disk per chunk. Writes $OUT/*.json, $OUT/table.md and the chart
# bench/kb/scale.svg (bench/kb/report.mjs).
#
#   bench/kb/scale.sh                      # everything (1M chunks: about an hour on 2 cores)
#   SIZES="10000 100000" bench/kb/scale.sh # fewer sizes
#   STEPS="dense report" bench/kb/scale.sh # only some steps: ingest embed dense report
#
# Environment: BUILD (build dir, default build), OUT (default bench/out/kb, git-ignored; bases
# and corpora are large: the 1M-chunk base is ~3.3 GB plus a ~1.1 GB HNSW file), SIZES,
# UNIFORM_SIZES (sizes also measured with uniformly random vectors, default "10000 100000"),
# DIMS (default 256, the built-in model's width), LATENT (intrinsic dimension of the
# realistic vectors, default 32), QUERIES (default 200), INGEST_SIZES (default "10000 100000"),
# EMBED_CHUNKS (corpus size for ingestion with the built-in model's embeddings, default 300),
# NO_HNSW_ABOVE (sizes above it stop after the exact scan: no graph build, no hybrid; default:
# none; building the graph for 1M x 256 took 25.6 min wall, ~23 CPU-minutes on its 2 threads, at
# load 1-4 (bench/RESULTS.md); the whole 1M row, fill included, 36.5 min wall with ~10 min of
# it stopped by another measurement).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/kb}
SIZES=${SIZES-"10000 100000 1000000"}
UNIFORM_SIZES=${UNIFORM_SIZES-"10000 100000"}  # empty: none
INGEST_SIZES=${INGEST_SIZES-"10000 100000"}
EMBED_CHUNKS=${EMBED_CHUNKS:-300}
DIMS=${DIMS:-256}
LATENT=${LATENT:-32}
QUERIES=${QUERIES:-200}
STEPS=${STEPS:-"ingest embed dense report"}
RPU=$BUILD/rpu
BENCH=$BUILD/bench/bench_kb
mkdir -p "$OUT"
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

{ date -u +%FT%TZ; uptime; nproc; free -m | sed -n 2p; git rev-parse --short HEAD; } > "$OUT/machine.txt"

# 1. Ingestion through the real path: `rpu kb add` of the generator's Markdown, BM25 only, and
#    with the built-in model's embeddings (its tokenizer makes more, shorter chunks).
ingest() {  # name corpus_dir create_args...
  local name=$1 dir=$2; shift 2
  rm -f "$OUT/$name.db" "$OUT/$name.db-wal" "$OUT/$name.db-shm"
  "$RPU" kb create "$OUT/$name.db" "$@" > /dev/null
  /usr/bin/time -f '%M' -o "$OUT/$name.rss" "$RPU" kb add "$OUT/$name.db" "$dir" > "$OUT/$name.add.txt"
  "$RPU" kb info "$OUT/$name.db" --json > "$OUT/$name.info.json"
  log "$(cat "$OUT/$name.add.txt")"
}
if has_step ingest; then
  for n in $INGEST_SIZES; do
    [ -d "$OUT/corpus-$n" ] || "$BENCH" corpus "$OUT/corpus-$n" --chunks "$n" --seed 1 > "$OUT/corpus-$n.json"
    ingest "ingest-bm25-$n" "$OUT/corpus-$n"
  done
  [ -d "$OUT/corpus-$EMBED_CHUNKS" ] || "$BENCH" corpus "$OUT/corpus-$EMBED_CHUNKS" --chunks "$EMBED_CHUNKS" --seed 2 > "$OUT/corpus-$EMBED_CHUNKS.json"
  ingest "ingest-builtin-$EMBED_CHUNKS" "$OUT/corpus-$EMBED_CHUNKS" --embed builtin
fi

# 2. The built-in model's cost per query embedding.
if has_step embed; then
  "$BENCH" embed --queries 100 > "$OUT/embed.json"
  log "embed: $(cat "$OUT/embed.json")"
fi

# 3. Bases written through the store API (text from the generator, random embeddings), then
#    queried. Realistic vectors (intrinsic dimension $LATENT) at every size; uniform ones (the
#    worst case for HNSW) at $UNIFORM_SIZES.
dense() {  # size latent
  local n=$1 latent=$2 tag=latent$2
  [ "$latent" = 0 ] && tag=uniform
  local db=$OUT/dense-$n-$tag.db
  if [ ! -s "$OUT/fill-$n-$tag.json" ]; then
    rm -f "$db" "$db-wal" "$db-shm" "$db.hnsw" "$db.hnsw.json"
    "$BENCH" fill "$db" --chunks "$n" --dims "$DIMS" --latent "$latent" --seed 1 > "$OUT/fill-$n-$tag.json"
  fi
  log "query $n $tag (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  local no_hnsw=0
  [ -n "${NO_HNSW_ABOVE:-}" ] && [ "$n" -gt "$NO_HNSW_ABOVE" ] && no_hnsw=1
  "$BENCH" query "$db" --queries "$QUERIES" --no-hnsw "$no_hnsw" > "$OUT/query-$n-$tag.json"
  log "$(cat "$OUT/query-$n-$tag.json")"
}
if has_step dense; then
  for n in $SIZES; do dense "$n" "$LATENT"; done
  for n in $UNIFORM_SIZES; do dense "$n" 0; done
fi

if has_step report; then
  node bench/kb/report.mjs "$OUT" bench/kb/scale.svg > "$OUT/table.md"
  cat "$OUT/table.md"
fi
