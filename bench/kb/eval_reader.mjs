#!/usr/bin/env node
// The reader benchmark's evaluation: a model behind `rpu serve --kb NAME=FILE`, asked through the
// official openai client with and without the "knowledge" request extension.
//
//   node bench/kb/eval_reader.mjs --rpu build/rpu --model MODEL.gguf|builtin --kb jargon=EVAL.kb
//        --qa QA.jsonl [--n 300] [--modes closed,bm25,hybrid] [--k 3] [--recall-k 5]
//        [--out RESULT.json] [--label NAME] [--extractive]
//
// For the first N questions of QA.jsonl (make_qa.mjs), per mode:
//   closed    no knowledge extension (closed book: the model's own weights)
//   bm25 ...  "knowledge": {"kb": NAME, "k": K, "mode": MODE}; with --extractive also
//             "extractive": true (the answer may use only the sources' and question's words)
// An answer is correct when
//   answerable: it is not the not-in-sources sentence, and the expected span, normalised
//               (lowercase, runs of non-alphanumerics -> one space), is contained in the
//               normalised answer, or their token F1 is >= 0.5 (citation markers [n] removed)
//   absent:     the normalised answer contains the normalised "The sources do not contain the
//               answer."
// citation accuracy: answerable questions whose rpu.citations[0] is the expected document and
//   heading (the entry's chunk), over all answerable questions
// entry_in_context: answerable questions whose entry's chunk is among the K sources in context;
//   source_1_is_entry: ... is source [1] (what always citing [1] would score on citations)
// recall@R (retrieval only, per retrieval mode): answerable questions with the entry's chunk
//   among the R sources of rpu.knowledge.sources for a request with k = R (max_tokens 1)
// Needs the openai package: tests/peers/node_modules, or RPU_PEERS_DIR.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NOT_IN_SOURCES = 'The sources do not contain the answer.';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function loadOpenAI() {
  for (const dir of [process.env.RPU_PEERS_DIR, path.join(REPO, 'tests', 'peers')].filter(Boolean)) {
    try {
      const mod = createRequire(path.join(dir, 'package.json'))('openai');
      return mod.OpenAI ?? mod.default ?? mod;
    } catch { /* next */ }
  }
  throw new Error('the openai package is not installed (tests/peers/node_modules or RPU_PEERS_DIR)');
}

function parseArgs(argv) {
  const o = { rpu: 'build/rpu', model: 'builtin', kb: '', qa: '', n: 300, modes: 'closed,bm25', k: 3, recallK: 5, out: '', label: '', extractive: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i];
    if (a === '--rpu') o.rpu = v();
    else if (a === '--model') o.model = v();
    else if (a === '--kb') o.kb = v();
    else if (a === '--qa') o.qa = v();
    else if (a === '--n') o.n = Number(v());
    else if (a === '--modes') o.modes = v();
    else if (a === '--k') o.k = Number(v());
    else if (a === '--recall-k') o.recallK = Number(v());
    else if (a === '--out') o.out = v();
    else if (a === '--label') o.label = v();
    else if (a === '--extractive') o.extractive = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.kb.includes('=') || !o.qa) throw new Error('--kb NAME=FILE and --qa QA.jsonl are required');
  return o;
}

export const normalise = (s) => s.toLowerCase().replace(/\[\d+(,\s*\d+)*\]/g, ' ').replace(/[^\p{L}\p{N}]+/gu, ' ').trim();

export function tokenF1(pred, gold) {
  const p = normalise(pred).split(' ').filter(Boolean), g = normalise(gold).split(' ').filter(Boolean);
  if (!p.length || !g.length) return 0;
  const counts = new Map();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) if ((counts.get(t) ?? 0) > 0) { same++; counts.set(t, counts.get(t) - 1); }
  if (same === 0) return 0;
  const prec = same / p.length, rec = same / g.length;
  return (2 * prec * rec) / (prec + rec);
}

export function isCorrect(q, answer) {
  const saysAbsent = normalise(answer).includes(normalise(NOT_IN_SOURCES));
  if (q.kind === 'absent') return saysAbsent;
  if (saysAbsent) return false;
  return normalise(answer).includes(normalise(q.answer)) || tokenF1(answer, q.answer) >= 0.5;
}

const isEntry = (q, s) => s && path.basename(s.source) === q.source && (s.heading === q.heading || s.heading.endsWith(` > ${q.heading}`));

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on('error', reject);
  });
}

async function startServer(o) {
  const port = await freePort();
  const args = ['serve', ...(o.model === 'builtin' ? [] : [o.model]), '--kb', o.kb, '--port', String(port)];
  const child = spawn(o.rpu, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`rpu serve exited: ${stderr}`);
    try {
      const r = await fetch(`${base}/v1/models`);
      if (r.ok) return { child, base, models: await r.json() };
    } catch { /* not yet */ }
    await new Promise((res) => setTimeout(res, 200));
  }
  child.kill();
  throw new Error(`rpu serve did not start: ${stderr}`);
}

const pct = (a, b) => (b ? (100 * a) / b : 0);

async function main() {
  const o = parseArgs(process.argv);
  const OpenAI = loadOpenAI();
  const kbName = o.kb.split('=')[0];
  const qa = fs.readFileSync(o.qa, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).slice(0, o.n);
  const { child, base, models } = await startServer(o);
  const model = models.data[0].id;
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0, timeout: 600_000 });
  const result = { label: o.label || path.basename(o.model), model: o.model, kb: o.kb, n: qa.length, extractive: o.extractive, modes: {}, examples: {} };
  try {
    for (const mode of o.modes.split(',')) {
      const started = Date.now();
      const t = { answerable: 0, answerable_ok: 0, absent: 0, absent_ok: 0, cited_ok: 0, recall_hits: 0, in_context: 0, first_is_entry: 0 };
      const examples = [];
      for (const q of qa) {
        const request = { model, messages: [{ role: 'user', content: q.question }], temperature: 0, max_tokens: 48 };
        if (mode !== 'closed') request.knowledge = { kb: kbName, k: o.k, mode, ...(o.extractive ? { extractive: true } : {}) };
        const r = await client.chat.completions.create(request);
        const answer = r.choices[0].message.content ?? '';
        const ok = isCorrect(q, answer);
        const info = r.rpu ?? {};
        const cited = (info.citations ?? [])[0];
        if (q.kind === 'absent') { t.absent++; if (ok) t.absent_ok++; }
        else {
          t.answerable++;
          if (ok) t.answerable_ok++;
          if (isEntry(q, cited)) t.cited_ok++;
          if ((info.knowledge?.sources ?? []).some((s) => isEntry(q, s))) t.in_context++;
          if (isEntry(q, (info.knowledge?.sources ?? [])[0])) t.first_is_entry++;
          if (mode !== 'closed') {
            // recall@R: the same retrieval with R sources, one token generated
            const rr = await client.chat.completions.create({ ...request, max_tokens: 1, knowledge: { kb: kbName, k: o.recallK, mode, max_tokens: 100000 } });
            if ((rr.rpu?.knowledge?.sources ?? []).some((s) => isEntry(q, s))) t.recall_hits++;
          }
        }
        if (examples.length < 12) examples.push({ question: q.question, expected: q.answer, kind: q.kind, answer, ok, cited: cited ? `${path.basename(cited.source)} > ${cited.heading}` : null });
      }
      const row = {
        answerable_accuracy: pct(t.answerable_ok, t.answerable),
        absent_accuracy: pct(t.absent_ok, t.absent),
        overall_accuracy: pct(t.answerable_ok + t.absent_ok, t.answerable + t.absent),
        citation_accuracy: mode === 'closed' ? null : pct(t.cited_ok, t.answerable),
        entry_in_context: mode === 'closed' ? null : pct(t.in_context, t.answerable),
        // what always citing [1] would score on citations
        source_1_is_entry: mode === 'closed' ? null : pct(t.first_is_entry, t.answerable),
        [`recall_at_${o.recallK}`]: mode === 'closed' ? null : pct(t.recall_hits, t.answerable),
        counts: t,
        seconds: (Date.now() - started) / 1000,
      };
      result.modes[mode] = row;
      result.examples[mode] = examples;
      console.error(`${result.label} ${mode}: answerable ${row.answerable_accuracy.toFixed(1)}% (${t.answerable_ok}/${t.answerable}), ` +
        `absent ${row.absent_accuracy.toFixed(1)}% (${t.absent_ok}/${t.absent}), citations ${row.citation_accuracy?.toFixed(1) ?? '-'}%, ` +
        `entry in context ${row.entry_in_context?.toFixed(1) ?? '-'}%, recall@${o.recallK} ${row[`recall_at_${o.recallK}`]?.toFixed(1) ?? '-'}% ` +
        `[${row.seconds.toFixed(0)} s]`);
    }
  } finally {
    child.kill();
  }
  const text = JSON.stringify(result, null, 2);
  if (o.out) fs.writeFileSync(o.out, text + '\n');
  else console.log(text);
}

main().catch((e) => { console.error(`eval_reader: ${e.stack ?? e}`); process.exit(1); });
