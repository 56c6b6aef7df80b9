// The table (Markdown, stdout) and the growth-curve chart (SVG) from bench/kb/scale.sh's JSON.
//   node bench/kb/report.mjs OUT_DIR CHART.svg
import fs from 'node:fs';
import path from 'node:path';

const [dir, svgPath] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
const files = fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).size > 0);  // runs still under way are empty
const f1 = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const ms = (l) => (l ? `${f1(l.p50_ms)} / ${f1(l.p99_ms)}` : 'n/a');
const size = (n) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : `${n}`);
const out = [];

// Ingestion through `rpu kb add`.
out.push('| corpus (target chunks) | embeddings | files | MB read | chunks | s | MB/s | chunks/s | peak RSS MB | file B/chunk | text B/chunk |');
out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const f of files.filter((f) => /^ingest-.*\.add\.txt$/.test(f)).sort((a, b) => parseInt(a.match(/\d+/)) - parseInt(b.match(/\d+/)))) {
  const name = f.replace(/\.add\.txt$/, '');
  const line = fs.readFileSync(path.join(dir, f), 'utf8');
  const m = line.match(/(\d+) added.*\((\d+) chunks, .* in ([\d.]+) s/);
  const [, kind, target] = name.match(/^ingest-(\w+)-(\d+)$/);
  const corpus = read(`corpus-${target}.json`);
  const info = read(`${name}.info.json`);
  const rss = parseInt(fs.readFileSync(path.join(dir, `${name}.rss`), 'utf8').trim().split(/\s+/).pop()) / 1024;
  const secs = parseFloat(m[3]);
  out.push(`| ${size(+target)} | ${kind === 'bm25' ? 'none (BM25 only)' : `built-in model, ${info.dims} dims`} | ${m[1]} | ${(corpus.bytes / 1e6).toFixed(1)} | ${m[2]} | ${secs} | ${(corpus.bytes / 1e6 / secs).toPrecision(3)} | ${Math.round(+m[2] / secs)} | ${rss.toFixed(0)} | ${Math.round(info.file_bytes / info.chunks)} | ${Math.round(info.text_bytes / info.chunks)} |`);
}
out.push('');
for (const f of files.filter((f) => /^fill-.*\.json$/.test(f))) {
  const j = read(f);
  out.push(`- store API fill, ${f.replace(/^fill-|\.json$/g, '')}: ${j.chunks} chunks in ${j.seconds} s = ${Math.round(j.chunks / j.seconds)} chunks/s (${(j.text_bytes / 1e6 / j.seconds).toFixed(2)} MB/s of text, ${j.dims}-dim vectors)`);
}
if (files.includes('embed.json')) {
  const e = read('embed.json');
  out.push(`- built-in model, one query embedding (${e.dims} dims): p50 ${f1(e.embed_query.p50_ms)} ms, p99 ${f1(e.embed_query.p99_ms)} ms (model load ${f1(e.load_s)} s)`);
}
out.push('');

// Queries.
const runs = files.filter((f) => /^query-.*\.json$/.test(f)).map((f) => read(f)).sort((a, b) => a.chunks - b.chunks || a.vectors.localeCompare(b.vectors));
out.push('| chunks | vectors | BM25 | BM25, all words (before) | dense exact | dense HNSW | HNSW recall@10 (k 10 / k 50) | HNSW build s | hybrid | 1st hybrid query s | load vectors s | peak RSS MB | file B/chunk | text B/chunk | HNSW file B/chunk |');
out.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of runs) {
    const hnsw = r.dense_hnsw !== undefined;  // absent: stopped after the exact scan (--no-hnsw)
  const rss = r.rss_peak_mb ?? r.rss_after_exact_mb;
  out.push(`| ${size(r.chunks)} | ${r.vectors} | ${ms(r.bm25)} | ${ms(r.bm25_sql_all_words)} | ${ms(r.dense_exact)} | ${ms(r.dense_hnsw)} | ${hnsw ? `${r.dense_hnsw_k10.recall_at_10.toFixed(3)} / ${r.dense_hnsw.recall_at_10.toFixed(3)}` : 'not built'} | ${hnsw ? f1(r.hnsw_build_s) : 'n/a'} | ${ms(r.hybrid)} | ${hnsw ? f1(r.hybrid_first_query_s) : 'n/a'} | ${f1(r.load_embeddings_s)} | ${rss.toFixed(0)}${hnsw ? '' : ' (exact)'} | ${Math.round(r.file_bytes_per_chunk)} | ${Math.round(r.text_bytes_per_chunk)} | ${hnsw ? Math.round(r.hnsw_file_bytes / r.chunks) : 'n/a'} |`);
}
out.push('');
out.push('Latencies: p50 / p99 in ms, one query at a time in one process.');
console.log(out.join('\n'));

// Chart: p50 (solid) and p99 (dashed) latency against chunks, both axes logarithmic.
const series = [
  ['BM25', 'bm25', '#1f77b4'],
  ['dense exact', 'dense_exact', '#d62728'],
  ['dense HNSW', 'dense_hnsw', '#2ca02c'],
  ['hybrid', 'hybrid', '#9467bd'],
];
const pts = runs.filter((r) => r.vectors !== 'uniform');
if (svgPath && pts.length) {
  const W = 640, H = 400, L = 64, R = 150, T = 30, B = 50;
  const xs = pts.map((r) => r.chunks);
  const ys = pts.flatMap((r) => series.flatMap(([, k]) => (r[k] ? [r[k].p50_ms, r[k].p99_ms] : [])));
  const x0 = Math.floor(Math.log10(Math.min(...xs))), x1 = Math.ceil(Math.log10(Math.max(...xs)));
  const y0 = Math.floor(Math.log10(Math.min(...ys))), y1 = Math.ceil(Math.log10(Math.max(...ys)));
  const X = (n) => L + ((Math.log10(n) - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const Y = (v) => H - B - ((Math.log10(v) - y0) / Math.max(1, y1 - y0)) * (H - T - B);
  const s = [];
  s.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  s.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  s.push(`<text x="${L}" y="18" font-size="14">Knowledge-base query latency vs size (p50 solid, p99 dashed)</text>`);
  for (let e = x0; e <= x1; e++) {
    s.push(`<line x1="${X(10 ** e)}" y1="${T}" x2="${X(10 ** e)}" y2="${H - B}" stroke="#ddd"/>`);
    s.push(`<text x="${X(10 ** e)}" y="${H - B + 16}" text-anchor="middle">${size(10 ** e)}</text>`);
  }
  for (let e = y0; e <= y1; e++) {
    s.push(`<line x1="${L}" y1="${Y(10 ** e)}" x2="${W - R}" y2="${Y(10 ** e)}" stroke="#ddd"/>`);
    s.push(`<text x="${L - 6}" y="${Y(10 ** e) + 4}" text-anchor="end">${10 ** e >= 1000 ? `${10 ** e / 1000} s` : 10 ** e >= 1 ? `${10 ** e} ms` : `${(10 ** e).toFixed(-e)} ms`}</text>`);
  }
  s.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">chunks (log scale); latency log scale</text>`);
  s.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  series.forEach(([name, key, color], i) => {
    for (const [q, dash] of [['p50_ms', ''], ['p99_ms', ' stroke-dasharray="5,4"']]) {
      const have = pts.filter((r) => r[key]);
      const p = have.map((r) => `${X(r.chunks).toFixed(1)},${Y(r[key][q]).toFixed(1)}`).join(' ');
      s.push(`<polyline points="${p}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      if (!dash) for (const r of have) s.push(`<circle cx="${X(r.chunks).toFixed(1)}" cy="${Y(r[key][q]).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    s.push(`<line x1="${W - R + 12}" y1="${T + 10 + i * 20}" x2="${W - R + 36}" y2="${T + 10 + i * 20}" stroke="${color}" stroke-width="2"/>`);
    s.push(`<text x="${W - R + 42}" y="${T + 14 + i * 20}">${name}</text>`);
  });
  const d = pts[0].dims, v = pts[0].vectors;
  s.push(`<text x="${W - R + 12}" y="${T + 110}" font-size="10">${d} dims, ${v} vectors,</text>`);
  s.push(`<text x="${W - R + 12}" y="${T + 124}" font-size="10">k = 5 (50 candidates)</text>`);
  const missing = pts.filter((r) => !r.dense_hnsw).map((r) => size(r.chunks));
  if (missing.length) s.push(`<text x="${W - R + 12}" y="${T + 138}" font-size="10">no HNSW/hybrid at ${missing.join(', ')}</text>`);
  s.push(`<text x="${W - R + 12}" y="${T + 152}" font-size="10">2 vCPUs, load 8-12</text>`);
  s.push('</svg>');
  fs.writeFileSync(svgPath, s.join('\n') + '\n');
}
