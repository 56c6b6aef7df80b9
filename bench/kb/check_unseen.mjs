#!/usr/bin/env node
// Is the evaluation corpus unseen? Counts evaluation answers that occur verbatim in the training
// documents (the reader benchmark, bench/kb/reader.sh).
//
//   node bench/kb/check_unseen.mjs --qa EVAL/qa.jsonl --docs DIR[,DIR...] [--ngram 8]
//
// For each answerable question of QA.jsonl: is its answer (normalised: lowercase, runs of
// non-alphanumerics -> one space) a substring of the normalised training documents (all files
// under the DIRs)? Also counts answers sharing any run of --ngram words with them (a looser
// check: shared phrases, not only whole answers). Prints a JSON summary with up to 10 examples
// of each; exits 0 either way (the count is the result).
import fs from 'node:fs';
import path from 'node:path';

const norm = (s) => s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();

function files(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.qa || !args.docs) throw new Error('--qa QA.jsonl --docs DIR[,DIR...]');
const n = Number(args.ngram ?? 8);
const text = ' ' + args.docs.split(',').flatMap(files).map((f) => norm(fs.readFileSync(f, 'utf8'))).join(' \u0001 ') + ' ';
const grams = new Set();
const words = text.split(' ');
for (let i = 0; i + n <= words.length; i++) grams.add(words.slice(i, i + n).join(' '));
const qa = fs.readFileSync(args.qa, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((q) => q.kind === 'answerable');
const verbatim = [], shared = [];
for (const q of qa) {
  const a = norm(q.answer);
  if (text.includes(` ${a} `)) verbatim.push(`${q.term}: ${q.answer}`);
  const w = a.split(' ');
  for (let i = 0; i + n <= w.length; i++) {
    if (grams.has(w.slice(i, i + n).join(' '))) { shared.push(`${q.term}: ${q.answer}`); break; }
  }
}
console.log(JSON.stringify({
  answerable: qa.length, verbatim: verbatim.length, [`sharing_${n}_words`]: shared.length,
  verbatim_examples: verbatim.slice(0, 10), shared_examples: shared.slice(0, 10),
}, null, 2));
